//! A site request, from a user's question to the site's answer: recorded (the site is woken as
//! for an action), taken by the connector, answered or failed, timed out by the sweeper, deleted
//! a while after it ended. Each step's event is written with the step.

use admin_api::protocol::SiteRequestOutcome;
use admin_api::{Event, SiteRequest};

use crate::error::AppResult;
use crate::state::{to_time, AppState};
use crate::store::audit::Actor;
use crate::store::site_requests::{SiteAsk, SiteRequestBounds};

/// How long an answered reading (client details, inventory, scripts) is shown again instead of
/// asking the site anew.
pub const READING_KEPT: std::time::Duration = std::time::Duration::from_secs(5 * 60);
/// How long an ended request is kept, so that a page opened again shows it.
pub const ENDED_KEPT: std::time::Duration = std::time::Duration::from_secs(15 * 60);

/// Records the request for the device's site and wakes the site, or returns the reading that
/// stands for it.
pub async fn ask(state: &AppState, ask: &SiteAsk<'_>) -> AppResult<SiteRequest> {
    let bounds = SiteRequestBounds {
        per_user: state.config.site_requests_per_user,
        per_connector: state.config.site_requests_per_connector,
        reading_kept: to_time(READING_KEPT),
    };
    let (request, created) = state.store.ask_site(ask, bounds, state.now()).await?;
    if created {
        tracing::info!(request = %request.id, device = %ask.device_id, kind = %request.kind, actor = %ask.requested_by.name, "site request");
        state.live.committed(Event::SiteRequest(request.clone()));
        if let Some(connector_id) = state.store.device_connector(ask.device_id).await? {
            state.live.signal_site(&connector_id).await;
        }
    }
    Ok(request)
}

/// The connector took the request on (`queued` → `running`).
pub async fn accept(state: &AppState, connector_id: &str, id: &str) -> AppResult<()> {
    if let Some(request) = state
        .store
        .accept_site_request(connector_id, id, state.now())
        .await?
    {
        state.live.committed(Event::SiteRequest(request));
    }
    Ok(())
}

/// The site answered, or said why not.
pub async fn answer(
    state: &AppState,
    connector_id: &str,
    id: &str,
    outcome: &SiteRequestOutcome,
    request_id: &str,
) -> AppResult<()> {
    let by = crate::request_id::acting_in(Actor::connector(connector_id), request_id);
    if let Some(request) = state
        .store
        .answer_site_request(connector_id, id, outcome, &by, state.now())
        .await?
    {
        tracing::info!(request = %id, state = %request.state, "site request ended");
        state.live.committed(Event::SiteRequest(request));
    }
    Ok(())
}

/// Ends the requests that waited longer than the configured timeout.
pub async fn time_out(state: &AppState) -> AppResult<()> {
    let now = state.now();
    let timed_out = state
        .store
        .time_out_site_requests(now - to_time(state.config.site_request_timeout), now)
        .await?;
    for request in timed_out {
        state.live.committed(Event::SiteRequest(request));
    }
    Ok(())
}

/// Deletes the requests that ended long enough ago, with their answers.
pub async fn delete_ended(state: &AppState) -> AppResult<()> {
    state
        .store
        .delete_ended_site_requests(state.now() - to_time(ENDED_KEPT))
        .await?;
    Ok(())
}
