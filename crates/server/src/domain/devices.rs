//! A site's device uploads: a full sync staged batch by batch and completed at once, or a
//! delta; each applied upload is announced with how many devices changed.

use admin_api::protocol::{DeviceDelta, SiteDevice, SyncResult};
use admin_api::{DevicesEvent, Event};

use crate::error::AppResult;
use crate::state::AppState;

/// Keeps one batch of a full sync until the sync completes; sending a batch again replaces it.
pub async fn stage_batch(
    state: &AppState,
    connector_id: &str,
    sync_id: &str,
    index: u32,
    devices: &[SiteDevice],
) -> AppResult<()> {
    Ok(state
        .store
        .stage_full_sync_batch(connector_id, sync_id, index, devices, state.now())
        .await?)
}

/// Makes the staged batches the site's whole device list.
pub async fn complete_full_sync(
    state: &AppState,
    connector_id: &str,
    sync_id: &str,
    batch_count: u32,
) -> AppResult<SyncResult> {
    let result = state
        .store
        .complete_full_sync(connector_id, sync_id, batch_count, state.now())
        .await?;
    announce(state, connector_id, &result).await;
    Ok(result)
}

/// Applies the devices that changed and those removed since the last upload.
pub async fn apply_delta(
    state: &AppState,
    connector_id: &str,
    sync_id: &str,
    delta: &DeviceDelta,
) -> AppResult<SyncResult> {
    let result = state
        .store
        .apply_delta(connector_id, sync_id, delta, state.now())
        .await?;
    announce(state, connector_id, &result).await;
    Ok(result)
}

async fn announce(state: &AppState, connector_id: &str, result: &SyncResult) {
    tracing::info!(connector = connector_id, sync = %result.sync_id, changed = result.changed, "sync applied");
    // Written with the sync on PostgreSQL, as is the connector's (see store's record_sync).
    state.live.committed(Event::Devices(DevicesEvent {
        connector_id: connector_id.to_owned(),
        changed: result.changed,
    }));
    super::connectors::announce(state, connector_id).await;
}
