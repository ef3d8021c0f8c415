//! A request id for every request: taken from `client-request-id` when the client sent a sane one,
//! otherwise made up; echoed in the `request-id` header, carried by the log span, and put into
//! every error body (through a task-local, so errors need no extra plumbing).

use std::sync::Arc;
use std::time::Instant;

use admin_api::{CLIENT_REQUEST_ID_HEADER, REQUEST_ID_HEADER};
use axum::extract::{Request, State};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

use crate::refusals::{RefusalLog, RefusedBy};

tokio::task_local! {
    static REQUEST_ID: String;
}

/// The id of the request being served, or an empty string outside of one.
pub fn current() -> String {
    REQUEST_ID.try_with(Clone::clone).unwrap_or_default()
}

fn client_supplied(request: &Request) -> Option<String> {
    let value = request
        .headers()
        .get(CLIENT_REQUEST_ID_HEADER)?
        .to_str()
        .ok()?;
    let sane = !value.is_empty()
        && value.len() <= 128
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b));
    sane.then(|| value.to_owned())
}

/// Ids every request, and logs it once served. Refusals (every 4xx answer) that repeat are
/// logged once per window and then summed up ([`RefusalLog`]), so a flood of them stays a few lines.
pub async fn middleware(
    State(refusals): State<Arc<RefusalLog>>,
    request: Request,
    next: Next,
) -> Response {
    let id = client_supplied(&request).unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let span = tracing::info_span!(
        "request",
        request_id = %id,
        method = %request.method(),
        path = %request.uri().path(),
    );
    let kind = format!("{} {}", request.method(), request.uri().path());
    let crate::connections::ClientAddress(from) =
        crate::connections::ClientAddress::of(request.extensions());
    let started = Instant::now();
    let mut response = REQUEST_ID
        .scope(id.clone(), next.run(request))
        .instrument(span.clone())
        .await;
    let header = HeaderValue::from_str(&id).expect("request ids are visible ASCII");
    response.headers_mut().insert(REQUEST_ID_HEADER, header);
    let status = response.status();
    let refused_by = response.extensions().get::<RefusedBy>().map(|by| by.0);
    if status.is_client_error() {
        let kind = match refused_by {
            Some(by) => format!("{} {kind} ({by})", status.as_u16()),
            None => format!("{} {kind}", status.as_u16()),
        };
        if !refusals.note(&kind, &from) {
            return response;
        }
    }
    span.in_scope(|| match refused_by {
        // A limit reached is worth a warning: the first of its window, the rest summed up.
        Some(by) => tracing::warn!(
            status = status.as_u16(),
            elapsed_ms = started.elapsed().as_secs_f64() * 1000.0,
            %from,
            refused_by = by,
            "refused: {by}"
        ),
        None => tracing::info!(
            status = status.as_u16(),
            elapsed_ms = started.elapsed().as_secs_f64() * 1000.0,
            "served"
        ),
    });
    response
}
