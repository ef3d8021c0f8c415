use admin_api::{Collection, NewSiteRequest, SiteRequest};

use super::{get, post, ApiError, API_BASE};

/// Asks the device's site (or gets the reading that stands for it).
pub async fn ask(device_id: &str, request: &NewSiteRequest) -> Result<SiteRequest, ApiError> {
    let id: String = js_sys::encode_uri_component(device_id).into();
    post(
        &format!("{API_BASE}/devices/{id}/siteRequests"),
        request,
        &[],
    )
    .await
}

/// A request with the site's answer, once it has one.
pub async fn one(id: &str) -> Result<SiteRequest, ApiError> {
    let id: String = js_sys::encode_uri_component(id).into();
    get(&format!("{API_BASE}/siteRequests/{id}")).await
}

/// The signed-in user's recent CMPivot queries, the latest first.
pub async fn recent_queries() -> Result<Collection<String>, ApiError> {
    get(&format!("{API_BASE}/me/cmPivotQueries")).await
}
