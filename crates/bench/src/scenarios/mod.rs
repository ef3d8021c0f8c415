//! The measurements, each against a running server.

pub mod actions;
pub mod browser;
pub mod export;
pub mod ingest;
pub mod list;
pub mod throughput;

use crate::generate::TenantMarker;
use crate::preset::Preset;

/// What the read benchmarks share: the server, a signed-in client, the tenant.
pub struct Context {
    pub url: String,
    pub client: reqwest::Client,
    pub preset: Preset,
    pub tenant: TenantMarker,
}

impl Context {
    pub fn devices_url(&self, query: &str) -> String {
        format!("{}/api/v1/devices?{query}", self.url)
    }
}

/// A query string value, percent-encoded.
pub fn encode(value: &str) -> String {
    form_urlencoded::byte_serialize(value.as_bytes()).collect()
}
