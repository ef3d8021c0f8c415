//! A request id for every request: taken from `client-request-id` when the client sent a sane one,
//! otherwise made up; echoed in the `request-id` header, carried by the log span, and put into
//! every error body (through a task-local, so errors need no extra plumbing).

use std::time::Instant;

use admin_api::{CLIENT_REQUEST_ID_HEADER, REQUEST_ID_HEADER};
use axum::extract::Request;
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

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

pub async fn middleware(request: Request, next: Next) -> Response {
    let id = client_supplied(&request).unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let span = tracing::info_span!(
        "request",
        request_id = %id,
        method = %request.method(),
        path = %request.uri().path(),
    );
    let started = Instant::now();
    let mut response = REQUEST_ID
        .scope(id.clone(), next.run(request))
        .instrument(span.clone())
        .await;
    let header = HeaderValue::from_str(&id).expect("request ids are visible ASCII");
    response.headers_mut().insert(REQUEST_ID_HEADER, header);
    span.in_scope(|| {
        tracing::info!(
            status = response.status().as_u16(),
            elapsed_ms = started.elapsed().as_secs_f64() * 1000.0,
            "served"
        )
    });
    response
}
