use admin_api::{Collection, Device};

use super::query::encode;
use super::{get, ApiError, API_BASE};

/// The first page of devices in the default order, with the total count.
pub async fn first_page(top: u32) -> Result<Collection<Device>, ApiError> {
    get(&format!("{API_BASE}/devices?$top={top}&$count=true")).await
}

/// One page of the devices that match `options` (the view's `$orderby`, `$filter`, `$search`),
/// from `skiptoken` on, with the total count.
pub async fn page(
    options: &[(String, String)],
    top: u32,
    skiptoken: Option<&str>,
) -> Result<Collection<Device>, ApiError> {
    get(&format!(
        "{API_BASE}/devices?{}",
        query(options, top, skiptoken)
    ))
    .await
}

fn query(options: &[(String, String)], top: u32, skiptoken: Option<&str>) -> String {
    let mut pairs = options.to_vec();
    pairs.push(("$top".into(), top.to_string()));
    pairs.push(("$count".into(), "true".into()));
    if let Some(token) = skiptoken {
        pairs.push(("$skiptoken".into(), token.to_owned()));
    }
    encode(&pairs)
}

/// The export URL: every device that matches, as CSV, with these columns.
pub fn export_url(options: &[(String, String)], columns: &[&str]) -> String {
    let mut pairs = options.to_vec();
    pairs.push(("$select".into(), columns.join(",")));
    format!("{API_BASE}/devices/export?{}", encode(&pairs))
}

pub async fn device(id: &str) -> Result<Device, ApiError> {
    let id: String = js_sys::encode_uri_component(id).into();
    get(&format!("{API_BASE}/devices/{id}")).await
}
