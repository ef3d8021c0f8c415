use admin_api::{Collection, Connector};

use super::{get, ApiError, API_BASE};

pub async fn list() -> Result<Collection<Connector>, ApiError> {
    get(&format!("{API_BASE}/connectors")).await
}

pub async fn connector(id: &str) -> Result<Connector, ApiError> {
    let id: String = js_sys::encode_uri_component(id).into();
    get(&format!("{API_BASE}/connectors/{id}")).await
}
