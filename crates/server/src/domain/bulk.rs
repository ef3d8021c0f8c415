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

/// Cancels the job, then what its sites have not taken yet, a slice at a time (the writer is
/// free for others between slices); the job as it ends is announced.
pub async fn cancel(state: &AppState, id: &str, by: &Actor) -> AppResult<BulkAction> {
    state.store.cancel_bulk_action(id, by, state.now()).await?;
    let mut canceled = 0;
    loop {
        let slice = state.store.cancel_bulk_slice(id, by, state.now()).await?;
        let last = (slice.len() as i64) < crate::store::actions::ENDED_PER_TRANSACTION;
        canceled += slice.len();
        for action in slice {
            state.live.committed(Event::DeviceAction(action));
        }
        if last {
            break;
        }
    }
    tracing::info!(job = %id, canceled, "bulk action canceled");
    let job = state.store.announce_bulk_action(id, state.now()).await?;
    state.live.committed(Event::BulkAction(job.clone()));
    Ok(job)
}

/// Finishes, by the server, the cancellations a restart cut short (a slice a job each time; the
/// housekeeping looks once a minute: it reads every canceled job's actions).
pub async fn finish_cancellations(state: &AppState) -> AppResult<()> {
    for id in state.store.unfinished_cancellations().await? {
        let slice = state
            .store
            .cancel_bulk_slice(&id, &Actor::system(), state.now())
            .await?;
        for action in slice {
            state.live.committed(Event::DeviceAction(action));
        }
    }
    Ok(())
}

/// Announces the running jobs that moved, and ends those with nothing open.
pub async fn follow(state: &AppState) -> AppResult<()> {
    for job in state.store.bulk_progress(state.now()).await? {
        state.live.committed(Event::BulkAction(job));
    }
    Ok(())
}
