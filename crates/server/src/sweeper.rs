//! The server's own clock work: actions and site requests that waited too long time out, and offboardings that no
//! site confirmed complete after their grace period; what offboardings and replaced uploads
//! leave behind is deleted in slices; less often, ended sessions are deleted, idle rate limit
//! entries forgotten, and audit events past the retention removed (in slices, each recorded).
//!
//! Words: a connector is *offboarded* (asked, then completed); it is then *removed* (hidden from
//! every read); its rows are *deleted* afterwards; what is only in memory is *forgotten*.

//! With several instances on PostgreSQL, one of them does this work at a time (see
//! [`crate::store::shared::Duty`]); when it dies, another takes it over at its next tick.

use crate::domain::{actions, bulk, connectors, site_requests};
use crate::state::{to_time, AppState};
use crate::store::shared::{Duty, Task};

pub async fn run(state: AppState) {
    let mut duty = Duty::new(Task::Sweeper);
    let mut ticks = tokio::time::interval(state.config.sweep_interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // Nothing depends on ended sessions being gone at once (they are refused as they are read),
    // so their rows are deleted once a minute rather than with every sweep.
    let mut housekeeping = tokio::time::interval(HOUSEKEEPING_INTERVAL);
    housekeeping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let result = tokio::select! {
            _ = ticks.tick() => match state.store.is_mine(&mut duty).await {
                true => sweep(&state).await,
                false => Ok(()),
            },
            _ = housekeeping.tick() => {
                // Rate limit entries are this instance's own.
                state.limits.forget_idle();
                match state.store.is_mine(&mut duty).await {
                    true => housekeep(&state).await,
                    false => Ok(()),
                }
            }
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
    // the devices stay hidden. On PostgreSQL another instance may have offboarded the hierarchy:
    // the leader looks at every sweep.
    let every = match state.store.is_shared() {
        false => HOUSEKEEPING_INTERVAL,
        true => state.config.sweep_interval,
    };
    let mut retries = tokio::time::interval(every);
    retries.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut duty = Duty::new(Task::Deleter);
    loop {
        tokio::select! {
            () = state.store.leftovers_pending() => {}
            _ = retries.tick() => {}
            () = state.shutdown.cancelled() => return,
        }
        if !state.store.is_mine(&mut duty).await {
            continue;
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
/// How long live events stay in PostgreSQL's outbox for streams that resume.
const EVENTS_KEPT: time::Duration = time::Duration::hours(1);

async fn housekeep(state: &AppState) -> anyhow::Result<()> {
    let now = state.now();
    let idle = to_time(state.config.session_idle_timeout);
    state.store.delete_expired_sessions(now, now - idle).await?;
    state.store.forget_recovered_attempts(now).await?;
    state.store.forget_old_events(now - EVENTS_KEPT).await?;
    site_requests::delete_ended(state).await?;
    bulk::finish_cancellations(state).await?;
    remove_old_audit_events(state).await?;
    Ok(())
}

/// Audit events removed per transaction: a year of a busy tenant's log goes in slices that keep
/// the writer free for everything else.
pub const AUDIT_SLICE: u32 = 5_000;

/// Removes the audit events older than `--audit-retention`, one slice after another (each slice
/// with its own record of the removal), until none is left or the server stops; how many.
pub async fn remove_old_audit_events(state: &AppState) -> anyhow::Result<u64> {
    remove_old_audit_events_in_slices(state, AUDIT_SLICE).await
}

/// [`remove_old_audit_events`], `slice` events per transaction.
pub async fn remove_old_audit_events_in_slices(
    state: &AppState,
    slice: u32,
) -> anyhow::Result<u64> {
    let retention = state.config.audit_retention;
    let named = humantime::format_duration(retention).to_string();
    let mut removed = 0;
    while !state.shutdown.is_cancelled() {
        let now = state.now();
        let removed_now = state
            .store
            .remove_audit_events(now - to_time(retention), slice, &named, now)
            .await?;
        removed += removed_now;
        if removed_now < u64::from(slice) {
            break;
        }
    }
    if removed > 0 {
        tracing::info!(removed, retention = %named, "audit events past the retention removed");
    }
    Ok(removed)
}

async fn sweep(state: &AppState) -> anyhow::Result<()> {
    actions::time_out(state).await?;
    site_requests::time_out(state).await?;
    bulk::follow(state).await?;
    connectors::complete_overdue_offboardings(state).await?;
    Ok(())
}
