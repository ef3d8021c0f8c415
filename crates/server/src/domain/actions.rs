//! A ConfigMgr client action, from its request to its end: requested by a user (the site is
//! woken), accepted by the site, ended by its result, by a timeout or by offboarding (see
//! [`super::connectors::complete_offboard`]). Each step's event is written with the step (see
//! [`crate::store::write_event`]).

use admin_api::protocol::ActionResult;
use admin_api::{DeviceAction, Event};

use crate::error::AppResult;
use crate::state::{to_time, AppState};
use crate::store::actions::ActionRequest;
use crate::store::audit::Actor;

/// Queues the action for the device's site, or returns the one standing for the same key or the
/// same device and action (then nothing new is written or announced).
pub async fn request(state: &AppState, request: &ActionRequest<'_>) -> AppResult<DeviceAction> {
    let (action, created) = state.store.trigger_action(request, state.now()).await?;
    if created {
        tracing::info!(action = %action.id, device = %request.device_id, kind = %action.action, actor = %request.requested_by.name, "action requested");
        state.live.committed(Event::DeviceAction(action.clone()));
        if let Some(connector_id) = state.store.device_connector(request.device_id).await? {
            state.live.signal_site(&connector_id).await;
        }
    }
    Ok(action)
}

/// The site took the action on (`pending` → `active`); repeating it changes nothing.
pub async fn accept(state: &AppState, connector_id: &str, id: &str) -> AppResult<()> {
    if let Some(action) = state
        .store
        .accept_action(connector_id, id, state.now())
        .await?
    {
        state.live.committed(Event::DeviceAction(action));
    }
    Ok(())
}

/// The site reports how the action ended.
pub async fn report_result(
    state: &AppState,
    connector_id: &str,
    id: &str,
    result: &ActionResult,
    request_id: &str,
) -> AppResult<()> {
    let by = crate::request_id::acting_in(Actor::connector(connector_id), request_id);
    if let Some(action) = state
        .store
        .report_action_result(connector_id, id, result, &by, state.now())
        .await?
    {
        tracing::info!(action = %id, state = %action.action_state, code = result.result_code, "action result");
        state.live.committed(Event::DeviceAction(action));
    }
    Ok(())
}

/// Ends the actions that waited longer than the configured timeout.
pub async fn time_out(state: &AppState) -> AppResult<()> {
    loop {
        let now = state.now();
        let timed_out = state
            .store
            .time_out_actions(now - to_time(state.config.action_timeout), now)
            .await?;
        let last = (timed_out.len() as i64) < crate::store::actions::ENDED_PER_TRANSACTION;
        for action in timed_out {
            state.live.committed(Event::DeviceAction(action));
        }
        if last || state.shutdown.is_cancelled() {
            return Ok(());
        }
    }
}
