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
