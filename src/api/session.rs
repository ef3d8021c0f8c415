use admin_api::{Me, SignIn};

use super::{get, post, ApiError, API_BASE};

/// Who is signed in; a 401 when nobody is.
pub async fn me() -> Result<Me, ApiError> {
    get(&format!("{API_BASE}/me")).await
}

pub async fn sign_in(user_name: &str, password: &str) -> Result<Me, ApiError> {
    post(
        &format!("{API_BASE}/session"),
        &SignIn {
            user_name: user_name.to_owned(),
            password: password.to_owned(),
        },
        &[],
    )
    .await
}

pub async fn sign_out() -> Result<(), ApiError> {
    super::send_no_content(
        gloo_net::http::Method::DELETE,
        &format!("{API_BASE}/session"),
    )
    .await
}
