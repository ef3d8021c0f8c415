//! Bulk actions, from their start to their end: started by a user (each site woken), followed by
//! the sweeper (their counts announced when they move, `completed` once none is open), canceled by
//! who started them.

use admin_api::bulk::BulkAction;
use admin_api::Event;

use crate::error::AppResult;
use crate::state::AppState;
use crate::store::audit::Actor;
use crate::store::bulk::BulkRequest;

/// Starts the job and wakes the sites of its devices.
pub async fn start(state: &AppState, request: &BulkRequest<'_>) -> AppResult<BulkAction> {
    let (job, connectors) = state.store.start_bulk_action(request, state.now()).await?;
    tracing::info!(job = %job.id, kind = %job.action, devices = job.matched_count, actor = %request.requested_by.name, "bulk action started");
    state.live.committed(Event::BulkAction(job.clone()));
    for connector in connectors {
        state.live.signal_site(&connector).await;
    }
    Ok(job)
}

/// Cancels what the sites have not taken yet.
pub async fn cancel(state: &AppState, id: &str, by: &Actor) -> AppResult<BulkAction> {
    let (job, canceled) = state.store.cancel_bulk_action(id, by, state.now()).await?;
    tracing::info!(job = %id, canceled = canceled.len(), "bulk action canceled");
    for action in canceled {
        state.live.committed(Event::DeviceAction(action));
    }
    state.live.committed(Event::BulkAction(job.clone()));
    Ok(job)
}

/// Announces the running jobs that moved, and ends those with nothing open.
pub async fn follow(state: &AppState) -> AppResult<()> {
    for job in state.store.bulk_progress(state.now()).await? {
        state.live.committed(Event::BulkAction(job));
    }
    Ok(())
}
