//! The server's own clock work: actions that waited too long time out, and offboardings that no
//! site confirmed complete after their grace period; less often, ended sessions and idle rate
//! limit entries are forgotten.

use admin_api::Event;

use crate::state::{to_time, AppState};
use crate::store::audit::Actor;

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
            _ = housekeeping.tick() => forget_ended(&state).await,
            () = state.shutdown.cancelled() => return,
        };
        if let Err(error) = result {
            tracing::error!(%error, "sweep failed");
        }
    }
}

/// Deletes the devices offboardings leave (see [`crate::store::Store::purge_removed`]) as soon as
/// there are some, one slice after another, until none are left or the server stops.
pub async fn purge_removed(state: AppState) {
    // A slice that failed (the writer too busy, say) is tried again a minute later; meanwhile
    // the devices stay hidden.
    let mut retries = tokio::time::interval(HOUSEKEEPING_INTERVAL);
    retries.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = state.store.removal_pending() => {}
            _ = retries.tick() => {}
            () = state.shutdown.cancelled() => return,
        }
        let started = std::time::Instant::now();
        let mut slices = 0u64;
        while !state.shutdown.is_cancelled() {
            match state.store.purge_removed().await {
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

async fn forget_ended(state: &AppState) -> anyhow::Result<()> {
    let now = state.now();
    let idle = to_time(state.config.session_idle_timeout);
    state.store.delete_expired_sessions(now, now - idle).await?;
    state.limits.forget_idle();
    Ok(())
}

async fn sweep(state: &AppState) -> anyhow::Result<()> {
    let now = state.now();
    let timed_out = state
        .store
        .time_out_actions(now - to_time(state.config.action_timeout), now)
        .await?;
    for action in timed_out {
        state.publish(Event::DeviceAction(action));
    }
    let due = state
        .store
        .offboardings_due(now - to_time(state.config.offboard_grace))
        .await?;
    for connector_id in due {
        complete_offboard(state, &connector_id, &Actor::system()).await?;
    }
    Ok(())
}

/// Removes an offboarded connector with its devices, cancels its open actions, and says so.
pub async fn complete_offboard(
    state: &AppState,
    connector_id: &str,
    actor: &Actor,
) -> anyhow::Result<()> {
    let Some(done) = state
        .store
        .complete_offboard(connector_id, actor, state.now())
        .await?
    else {
        return Ok(());
    };
    tracing::info!(
        connector = connector_id,
        canceled = done.canceled.len(),
        devices = done.removed_devices,
        "offboarding complete"
    );
    for action in done.canceled {
        state.publish(Event::DeviceAction(action));
    }
    state.publish(Event::Devices(admin_api::DevicesEvent {
        connector_id: connector_id.to_owned(),
        changed: done.removed_devices,
    }));
    state.publish(Event::Connector(admin_api::ConnectorEvent {
        id: connector_id.to_owned(),
        connector: None,
    }));
    state.signal_site(connector_id);
    Ok(())
}
