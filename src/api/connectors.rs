use admin_api::{Collection, Connector};

use super::{get, ApiError, API_BASE};

pub async fn list() -> Result<Collection<Connector>, ApiError> {
    get(&format!("{API_BASE}/connectors")).await
}
