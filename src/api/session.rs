use admin_api::identity::{SignInOptions, SignedOut};
use admin_api::{Me, SignIn};

use super::{get, post, ApiError, API_BASE};

/// Who is signed in; a 401 when nobody is.
pub async fn me() -> Result<Me, ApiError> {
    get(&format!("{API_BASE}/me")).await
}

/// How this admin center is signed in to (no session needed).
pub async fn options() -> Result<SignInOptions, ApiError> {
    get(&format!("{API_BASE}/session/options")).await
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

/// Ends the session; `Some` with where to go to sign out at the organization's provider too,
/// when the user signed in there.
pub async fn sign_out() -> Result<Option<SignedOut>, ApiError> {
    super::send_maybe_content(
        gloo_net::http::Method::DELETE,
        &format!("{API_BASE}/session"),
    )
    .await
}
