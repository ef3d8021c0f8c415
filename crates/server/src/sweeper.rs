//! The server's own clock work: actions that waited too long time out, and offboardings that no
//! site confirmed complete after their grace period; what offboardings and replaced uploads
//! leave behind is deleted in slices; less often, ended sessions are deleted and idle rate limit
//! entries forgotten.
//!
//! Words: a connector is *offboarded* (asked, then completed); it is then *removed* (hidden from
//! every read); its rows are *deleted* afterwards; what is only in memory is *forgotten*.

use crate::domain::{actions, connectors};
use crate::state::{to_time, AppState};

pub async fn run(state: AppState) {
    let mut ticks = tokio::time::interval(state.config.sweep_interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // Nothing depends on ended sessions being gone at once (they are refused as they are read),
    // so their rows are deleted once a minute rather than with every sweep.
    let mut housekeeping = tokio::time::interval(HOUSEKEEPING_INTERVAL);
    housekeeping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let result = tokio::select! {
            _ = ticks.tick() => sweep(&state).await,
            _ = housekeeping.tick() => housekeep(&state).await,
            () = state.shutdown.cancelled() => return,
        };
        if let Err(error) = result {
            tracing::error!(%error, "sweep failed");
        }
    }
}

/// Deletes what offboardings and replaced uploads leave behind (see
/// [`crate::store::Store::delete_leftovers`]) as soon as there is some, one slice after another,
/// until none is left or the server stops.
pub async fn delete_leftovers(state: AppState) {
    // A slice that failed (the writer too busy, say) is tried again a minute later; meanwhile
    // the devices stay hidden.
    let mut retries = tokio::time::interval(HOUSEKEEPING_INTERVAL);
    retries.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = state.store.leftovers_pending() => {}
            _ = retries.tick() => {}
            () = state.shutdown.cancelled() => return,
        }
        let started = std::time::Instant::now();
        let mut slices = 0u64;
        while !state.shutdown.is_cancelled() {
            match state.store.delete_leftovers().await {
                Ok(true) => slices += 1,
                Ok(false) => {
                    if slices > 0 {
                        tracing::info!(
                            slices,
                            seconds = started.elapsed().as_secs_f64(),
                            "offboarded hierarchies' devices deleted"
                        );
                    }
                    break;
                }
                Err(error) => {
                    tracing::error!(%error, "deleting an offboarded hierarchy's devices failed");
                    break;
                }
            }
        }
    }
}

const HOUSEKEEPING_INTERVAL: std::time::Duration = std::time::Duration::from_secs(60);

async fn housekeep(state: &AppState) -> anyhow::Result<()> {
    let now = state.now();
    let idle = to_time(state.config.session_idle_timeout);
    state.store.delete_expired_sessions(now, now - idle).await?;
    state.limits.forget_idle();
    Ok(())
}

async fn sweep(state: &AppState) -> anyhow::Result<()> {
    actions::time_out(state).await?;
    connectors::complete_overdue_offboardings(state).await?;
    Ok(())
}
