//! `GET /api/v1/events`: Server-Sent Events for action, connector and upload changes.

use std::convert::Infallible;

use admin_api::Event;
use axum::extract::State;
use axum::response::sse::{self, KeepAlive, Sse};
use axum::routing::get;
use axum::Router;
use futures_util::{Stream, StreamExt};
use tokio_stream::wrappers::BroadcastStream;

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
    State(state): State<AppState>,
) -> Sse<impl Stream<Item = Result<sse::Event, Infallible>>> {
    let shutdown = state.shutdown.clone().cancelled_owned();
    let stream = BroadcastStream::new(state.subscribe())
        // A client too slow to keep up misses events; it refetches on its next change.
        .filter_map(|event| async move { event.ok().map(|event| Ok(to_sse(&event))) })
        .take_until(shutdown);
    Sse::new(stream).keep_alive(KeepAlive::default())
}

fn to_sse(event: &Event) -> sse::Event {
    let data = match event {
        Event::DeviceAction(action) => serde_json::to_string(action),
        Event::Connector(connector) => serde_json::to_string(connector),
        Event::Devices(devices) => serde_json::to_string(devices),
    }
    .expect("events serialize");
    sse::Event::default().event(event.name()).data(data)
}
