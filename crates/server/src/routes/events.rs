//! `GET /api/v1/events`: Server-Sent Events for action, connector and upload changes.

use std::convert::Infallible;

use admin_api::{Event, Permission};
use axum::extract::State;
use axum::response::sse::{self, KeepAlive, Sse};
use axum::routing::get;
use axum::Router;
use futures_util::{Stream, StreamExt};
use tokio_stream::wrappers::BroadcastStream;

use crate::auth::{self, require, Authorized};
use crate::error::AppResult;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/events", get(events))
}

#[utoipa::path(
    get,
    path = "/api/v1/events",
    tag = "events",
    summary = "Live updates (Server-Sent Events)",
    description = "Events `deviceAction` (a DeviceAction), `connector` (a ConnectorEvent) and `devices` (a DevicesEvent).",
    responses((status = 200, description = "An event stream", content_type = "text/event-stream", body = String))
)]
pub(crate) async fn events(
    user: Authorized<require::SignedIn>,
    State(state): State<AppState>,
) -> AppResult<Sse<impl Stream<Item = Result<sse::Event, Infallible>>>> {
    // Held by the stream: given back when the client goes.
    let turn = state.streams.begin(&user.session).map_err(|refused| {
        refused.error(
            "This session has too many event streams open. Close some of its tabs or windows.",
            "The server has as many event streams open as it allows. Try again shortly.",
        )
    })?;
    let shutdown = state.shutdown.clone().cancelled_owned();
    let principal = user.principal;
    let ended = session_end(state.clone(), user.session);
    let stream = BroadcastStream::new(state.subscribe())
        // A client too slow to keep up misses events; it refetches on its next change.
        .filter_map(move |event| {
            let _held = &turn;
            let shown = event
                .ok()
                .filter(|event| principal.may(permission_for(event)))
                .map(|event| Ok(to_sse(&event)));
            async move { shown }
        })
        .take_until(async move {
            tokio::select! {
                () = shutdown => {},
                () = ended => {},
            }
        });
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

/// What a user must hold to see an event: the same as to read its resource.
fn permission_for(event: &Event) -> Permission {
    match event {
        Event::DeviceAction(_) | Event::Devices(_) => Permission::ManagedDevicesRead,
        Event::Connector(_) => Permission::OrganizationRead,
    }
}

/// Completes when the stream's session has ended (signed out or expired); the browser then
/// reconnects, is refused, and the SPA asks the user to sign in.
async fn session_end(state: AppState, session: Vec<u8>) {
    let mut checks = tokio::time::interval(SESSION_CHECK_INTERVAL);
    checks.tick().await;
    loop {
        checks.tick().await;
        match auth::session_is_live(&state, &session).await {
            Ok(true) => {}
            Ok(false) => return,
            Err(error) => tracing::warn!(%error, "could not check an event stream's session"),
        }
    }
}

const SESSION_CHECK_INTERVAL: std::time::Duration = std::time::Duration::from_secs(15);

fn to_sse(event: &Event) -> sse::Event {
    let data = match event {
        Event::DeviceAction(action) => serde_json::to_string(action),
        Event::Connector(connector) => serde_json::to_string(connector),
        Event::Devices(devices) => serde_json::to_string(devices),
    }
    .expect("events serialize");
    sse::Event::default().event(event.name()).data(data)
}
