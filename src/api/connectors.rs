use admin_api::{Collection, Connector};

use super::{get, ApiError, API_BASE};

pub async fn list() -> Result<Collection<Connector>, ApiError> {
    get(&format!("{API_BASE}/connectors")).await
}

pub async fn connector(id: &str) -> Result<Connector, ApiError> {
    let id: String = js_sys::encode_uri_component(id).into();
    get(&format!("{API_BASE}/connectors/{id}")).await
}

/// Starts offboarding; the connector comes back with status `offboarding`.
pub async fn offboard(id: &str) -> Result<Connector, ApiError> {
    let id: String = js_sys::encode_uri_component(id).into();
    super::send_empty(
        gloo_net::http::Method::DELETE,
        &format!("{API_BASE}/connectors/{id}"),
    )
    .await
}

pub async fn create_onboarding_token() -> Result<admin_api::OnboardingToken, ApiError> {
    super::send_empty(
        gloo_net::http::Method::POST,
        &format!("{API_BASE}/connectors/onboardingTokens"),
    )
    .await
}
