use admin_api::{Collection, Device};

use super::{get, ApiError, API_BASE};

/// The first page of devices in the default order, with the total count.
pub async fn first_page(top: u32) -> Result<Collection<Device>, ApiError> {
    get(&format!("{API_BASE}/devices?$top={top}&$count=true")).await
}

/// A further page, by the `@odata.nextLink` the previous page gave.
pub async fn page_at(next_link: &str) -> Result<Collection<Device>, ApiError> {
    get(next_link).await
}

pub async fn device(id: &str) -> Result<Device, ApiError> {
    let id: String = js_sys::encode_uri_component(id).into();
    get(&format!("{API_BASE}/devices/{id}")).await
}
