//! The measurements, each against a running server.

pub mod actions;
pub mod browser;
pub mod bulk;
pub mod export;
pub mod ingest;
pub mod list;
pub mod site_requests;
pub mod throughput;

use crate::generate::TenantMarker;
use crate::preset::Preset;

/// What the read benchmarks share: the server, a signed-in client, the tenant.
pub struct Context {
    pub url: String,
    pub client: reqwest::Client,
    pub preset: Preset,
    pub tenant: TenantMarker,
    pub server_pid: u32,
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

/// A new one-time onboarding token from the admin API.
pub async fn onboarding_token(url: &str, client: &reqwest::Client) -> anyhow::Result<String> {
    let token: admin_api::OnboardingToken = client
        .post(format!("{url}/api/v1/connectors/onboardingTokens"))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    Ok(token.token)
}

/// The connector a site attached as (its credential is `<connector id>.<secret>`).
pub fn connector_id(site: &simulated_hierarchy::SimulatedSite) -> anyhow::Result<String> {
    use anyhow::Context as _;
    site.client()
        .credential()
        .and_then(|c| c.split_once('.'))
        .map(|(id, _)| id.to_owned())
        .context("the site's connector id")
}

/// The data of one kind of event (`deviceAction`, `siteRequest`) from the event stream, decoded as
/// they arrive (others, and data that does not decode, are passed over).
pub async fn events_named<T: serde::de::DeserializeOwned + Send + 'static>(
    url: &str,
    client: &reqwest::Client,
    name: &'static str,
) -> anyhow::Result<tokio::sync::mpsc::UnboundedReceiver<T>> {
    use eventsource_stream::Eventsource;
    use futures_util::StreamExt;
    let response = client
        .get(format!("{url}/api/v1/events"))
        .send()
        .await?
        .error_for_status()?;
    let mut events = response.bytes_stream().eventsource();
    let (sender, receiver) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some(Ok(event)) = events.next().await {
            if event.event == name {
                if let Ok(data) = serde_json::from_str::<T>(&event.data) {
                    if sender.send(data).is_err() {
                        return;
                    }
                }
            }
        }
    });
    Ok(receiver)
}
