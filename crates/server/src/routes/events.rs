//! `GET /api/v1/events`: Server-Sent Events for action, connector and upload changes.

use std::convert::Infallible;

use admin_api::Permission;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{self, KeepAlive, Sse};
use axum::routing::get;
use axum::Router;
use futures_util::{Stream, StreamExt};
use tokio_stream::wrappers::BroadcastStream;

use crate::auth::{self, require, Authorized};
use crate::error::AppResult;
use crate::live::LiveEvent;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/events", get(events))
}

#[utoipa::path(
    get,
    path = "/api/v1/events",
    tag = "events",
    summary = "Live updates (Server-Sent Events)",
    description = "Events `deviceAction` (a DeviceAction), `connector` (a ConnectorEvent), `devices` (a DevicesEvent) and `siteRequest` (a SiteRequest without its query, script, answer or the requester as the site named them: read those with GET /api/v1/siteRequests/{id}, which needs the kind's permission) and `bulkAction` (a BulkAction: its counts in all and per connector, as it starts, moves, ends or is canceled). On PostgreSQL each event has an `id`, and a client that reconnects with `Last-Event-ID` first gets the events it missed (up to 5,000).",
    responses((status = 200, description = "An event stream", content_type = "text/event-stream", body = String))
)]
pub(crate) async fn events(
    user: Authorized<require::SignedIn>,
    State(state): State<AppState>,
    headers: HeaderMap,
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
    // Subscribed before the missed events are read, so that none falls between the two.
    let live = BroadcastStream::new(state.live.subscribe());
    let resume = resume_after(&headers);
    let missed = match resume {
        Some(after) => state.live.missed_since(after).await?.unwrap_or_default(),
        None => Vec::new(),
    };
    // The last event sent: a live one at or before it was replayed already.
    let mut last = resume;
    let replayed = futures_util::stream::iter(missed.into_iter().map(std::sync::Arc::new));
    let stream = replayed
        // A client too slow to keep up misses events; it refetches on its next change.
        .chain(live.filter_map(|event| async move { event.ok() }))
        .filter_map(move |event| {
            let _held = &turn;
            // Live events already replayed are not sent twice.
            let fresh = match (event.id, last) {
                (Some(id), Some(seen)) => id > seen,
                _ => true,
            };
            if fresh {
                last = event.id.or(last);
            }
            let shown =
                (fresh && principal.may(permission_for(&event.name))).then(|| Ok(to_sse(&event)));
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

/// What a user must hold to see an event (by its name): the same as to read its resource.
fn permission_for(name: &str) -> Permission {
    match name {
        "connector" => Permission::OrganizationRead,
        // deviceAction, devices
        _ => Permission::ManagedDevicesRead,
    }
}

/// The number of the last event a reconnecting client saw (`Last-Event-ID`), if it sent one.
fn resume_after(headers: &HeaderMap) -> Option<i64> {
    headers
        .get("last-event-id")?
        .to_str()
        .ok()?
        .parse::<i64>()
        .ok()
        .filter(|id| *id >= 0)
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

fn to_sse(event: &LiveEvent) -> sse::Event {
    let sent = sse::Event::default().event(&event.name).data(&event.data);
    match event.id {
        Some(id) => sent.id(id.to_string()),
        None => sent,
    }
}
