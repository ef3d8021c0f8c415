//! The benchmark tenant, built through the store exactly as uploads build it: each hierarchy is
//! onboarded, reports its site and completes a full sync in batches. The same preset and seed
//! make the same devices.

use std::path::Path;
use std::time::Instant;

use admin_server::secrets;
use admin_server::store::audit::Actor;
use admin_server::store::connectors::NewConnector;
use admin_server::store::{timestamp, Store};
use anyhow::Context;
use serde::{Deserialize, Serialize};
use simulated_hierarchy::{HierarchyConfig, SimulatedHierarchy};
use time::macros::datetime;
use time::OffsetDateTime;

use crate::preset::Preset;

/// What a data folder holds, so that a run can reuse a tenant it generated before.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TenantMarker {
    pub preset: String,
    pub seed: u64,
    pub devices: u64,
    pub hierarchies: Vec<GeneratedHierarchy>,
    pub seconds: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct GeneratedHierarchy {
    pub connector_id: String,
    pub name: String,
    pub site_code: String,
    pub devices: u64,
}

const MARKER: &str = "tenant.json";
/// Batches as a site sends them (the protocol's batch size used by the site connector's runs).
const BATCH: usize = 5_000;
const VERSIONS: &[u32] = &[2207, 2303, 2309, 2403, 2409, 2103, 2111, 2203, 2211, 2503];

pub fn hierarchy_config(preset: &Preset, seed: u64, index: usize) -> HierarchyConfig {
    let code = format!("P{:02}", index + 1);
    let mut config = HierarchyConfig::new(
        &format!("Contoso Region {:02}", index + 1),
        &code,
        VERSIONS[index % VERSIONS.len()],
        preset.devices_per_hierarchy,
        seed.wrapping_mul(1_000).wrapping_add(index as u64),
    );
    config.as_of = Some(datetime!(2026-11-01 00:00 UTC));
    config
}

/// The tenant in `data`, if one for this preset and seed is there.
pub fn existing(data: &Path, preset: &Preset, seed: u64) -> Option<TenantMarker> {
    let marker: TenantMarker =
        serde_json::from_slice(&std::fs::read(data.join(MARKER)).ok()?).ok()?;
    (marker.preset == preset.name && marker.seed == seed).then_some(marker)
}

pub fn database_url(data: &Path) -> String {
    format!("sqlite:{}", data.join("bench.sqlite").display())
}

/// Builds the tenant into a new database in `data` (an old one there is removed first).
pub async fn generate(data: &Path, preset: &Preset, seed: u64) -> anyhow::Result<TenantMarker> {
    std::fs::create_dir_all(data)?;
    for name in [
        MARKER,
        "bench.sqlite",
        "bench.sqlite-wal",
        "bench.sqlite-shm",
    ] {
        let _ = std::fs::remove_file(data.join(name));
    }
    let store = Store::connect(&database_url(data)).await?;
    let started = Instant::now();
    let mut hierarchies = Vec::new();
    for index in 0..preset.hierarchies {
        let hierarchy = SimulatedHierarchy::new(hierarchy_config(preset, seed, index));
        let generated = load(&store, &hierarchy)
            .await
            .with_context(|| format!("loading {}", hierarchy.config.name))?;
        eprintln!(
            "  {} ({}): {} devices, {:.1} s so far",
            generated.name,
            generated.site_code,
            generated.devices,
            started.elapsed().as_secs_f64()
        );
        hierarchies.push(generated);
    }
    let marker = TenantMarker {
        preset: preset.name.to_owned(),
        seed,
        devices: hierarchies.iter().map(|h| h.devices).sum(),
        hierarchies,
        seconds: started.elapsed().as_secs_f64(),
    };
    // Statistics for the query planner, as a long-running server gathers them itself.
    store.optimize().await?;
    store.close().await;
    std::fs::write(data.join(MARKER), serde_json::to_vec_pretty(&marker)?)?;
    Ok(marker)
}

/// Onboards one hierarchy and uploads all its devices as one full sync.
async fn load(store: &Store, hierarchy: &SimulatedHierarchy) -> anyhow::Result<GeneratedHierarchy> {
    let now = OffsetDateTime::now_utc();
    let token = secrets::generate("cmot_");
    store
        .insert_onboarding_token(
            &secrets::hash(&token),
            &Actor::system(),
            now,
            now + time::Duration::hours(1),
        )
        .await?;
    let connector_id = uuid::Uuid::new_v4().to_string();
    store
        .onboard(
            &secrets::hash(&token),
            &NewConnector {
                id: connector_id.clone(),
                hierarchy_id: hierarchy.config.hierarchy_id.clone(),
                credential_hash: secrets::hash(&secrets::generate("cmcs_")),
                onboarded_at: timestamp(now),
            },
            &Actor::connector(&connector_id),
            now,
        )
        .await?;
    store
        .report_site(&connector_id, &hierarchy.site_info(), now)
        .await?;
    let devices = hierarchy.devices_in_scope();
    let sync_id = uuid::Uuid::new_v4().to_string();
    let batches: Vec<_> = devices.chunks(BATCH).collect();
    for (index, batch) in batches.iter().enumerate() {
        store
            .stage_full_sync_batch(&connector_id, &sync_id, index as u32, batch, now)
            .await?;
    }
    let result = store
        .complete_full_sync(&connector_id, &sync_id, batches.len() as u32, now)
        .await?;
    Ok(GeneratedHierarchy {
        connector_id,
        name: hierarchy.config.name.clone(),
        site_code: hierarchy.config.site_code.clone(),
        devices: result.device_count,
    })
}
