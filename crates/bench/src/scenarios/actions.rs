//! An action's round trip: requested over the admin API, taken by a site connector whose
//! clients answer at once, and its `done` seen on the event stream as the SPA sees it.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use admin_api::{
    ActionState, ConfigurationManagerAction, ConfigurationManagerActionType, DeviceAction,
    TriggerConfigurationManagerAction,
};
use anyhow::{bail, Context as _};
use connector_protocol::site::{SiteConnector, SiteOptions};
use simulated_hierarchy::{HierarchyConfig, SimulatedHierarchy};
use tokio_util::sync::CancellationToken;

use super::Context;
use crate::measure::Samples;
use crate::report::Section;

const BUDGET_MS: f64 = 100.0;

/// Onboards a site whose clients answer without delay, next to the tenant.
pub async fn attach_quick_site(
    url: &str,
    client: &reqwest::Client,
    devices: usize,
) -> anyhow::Result<SiteConnector<SimulatedHierarchy>> {
    attach_lab(url, client, ("Benchmark Lab", "LAB", 7), devices).await
}

/// Onboards a site (name, site code, seed: another seed makes other devices) whose clients
/// answer without delay.
pub async fn attach_lab(
    url: &str,
    client: &reqwest::Client,
    (name, code, seed): (&str, &str, u64),
    devices: usize,
) -> anyhow::Result<SiteConnector<SimulatedHierarchy>> {
    let token = super::onboarding_token(url, client).await?;
    let mut config = HierarchyConfig::new(name, code, 2403, devices, seed);
    config.latency = (Duration::ZERO, Duration::ZERO);
    config.offline_share = 0.0;
    let site = SiteConnector::attach(
        url,
        &token,
        SimulatedHierarchy::new(config),
        SiteOptions {
            poll_wait_seconds: 25,
            ..SiteOptions::default()
        },
    )
    .await?;
    site.full_sync().await?;
    Ok(site)
}

pub async fn run(ctx: &Context) -> anyhow::Result<Section> {
    let mut section = Section::new(
        "Device actions: request → site connector (client latency 0) → `done` on the event stream",
    );
    let site = attach_quick_site(&ctx.url, &ctx.client, 50).await?;
    let devices: Vec<String> = site
        .source()
        .lock()
        .await
        .devices_in_scope()
        .into_iter()
        .map(|d| d.id)
        .collect();
    let lab = super::connector_id(&site)?;
    let stop = CancellationToken::new();
    let serving = tokio::spawn(site.serve(stop.clone()));
    let mut events =
        super::events_named::<DeviceAction>(&ctx.url, &ctx.client, "deviceAction").await?;
    let kinds = ConfigurationManagerActionType::ALL;
    let mut samples = Vec::with_capacity(ctx.preset.actions);
    // Events of actions other than the one awaited (none expected; kept, not lost).
    let mut early: HashMap<String, ActionState> = HashMap::new();
    for number in 0..ctx.preset.actions {
        let device = &devices[number % devices.len()];
        let started = Instant::now();
        let action: DeviceAction = ctx
            .client
            .post(format!(
                "{}/api/v1/devices/{device}/triggerConfigurationManagerAction",
                ctx.url
            ))
            .header("Idempotency-Key", uuid::Uuid::new_v4().to_string())
            .json(&TriggerConfigurationManagerAction {
                configuration_manager_action: ConfigurationManagerAction {
                    action: kinds[number % kinds.len()],
                },
            })
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let mut state = early.remove(&action.id);
        while state.is_none_or(ActionState::is_open) {
            let event = tokio::time::timeout(Duration::from_secs(30), events.recv())
                .await
                .context("no event for the action within 30 s")?
                .context("the event stream ended")?;
            if event.id == action.id {
                state = Some(event.action_state);
            } else {
                early.insert(event.id, event.action_state);
            }
        }
        if state != Some(ActionState::Done) {
            bail!("action {} ended {state:?}, not done", action.id);
        }
        samples.push(started.elapsed());
    }
    // The lab leaves with its devices, so that a reused tenant stays the preset's size.
    ctx.client
        .delete(format!("{}/api/v1/connectors/{lab}", ctx.url))
        .send()
        .await?
        .error_for_status()?;
    let outcome = tokio::time::timeout(Duration::from_secs(60), serving)
        .await
        .context("the lab site did not offboard within 60 s")??;
    if outcome != connector_protocol::site::Outcome::Offboarded {
        bail!("the lab site stopped without offboarding: {outcome:?}");
    }
    drop(stop);
    section.latency(
        format!("Round trip ({} actions, one at a time)", ctx.preset.actions),
        Samples::new(samples),
        Some(BUDGET_MS),
    );
    Ok(section)
}
