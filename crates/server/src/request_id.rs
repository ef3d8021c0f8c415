//! A request id for every request: taken from `client-request-id` when the client sent a sane one,
//! otherwise made up; echoed in the `request-id` header, carried by the log span, and put into
//! every error body (through a task-local, so errors need no extra plumbing). The same task-local
//! holds where the request came from (its client's address, see [`Sources`], and its user agent),
//! which the audit log records.

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
    static REQUEST: Served;
}

/// What the audit log keeps of the request being served.
#[derive(Debug, Clone)]
struct Served {
    id: String,
    source: Origin,
}

pub use crate::store::audit::Origin;

/// The most of a `User-Agent` kept (browsers send about 150 characters).
pub const USER_AGENT_KEPT: usize = 512;

/// The id of the request being served, or an empty string outside of one.
pub fn current() -> String {
    REQUEST
        .try_with(|served| served.id.clone())
        .unwrap_or_default()
}

/// Where the request being served came from (nothing outside of one).
pub fn origin() -> Origin {
    REQUEST
        .try_with(|served| served.source.clone())
        .unwrap_or_default()
}

/// `actor`, acting through the request being served, from where it came.
pub fn acting(actor: crate::store::audit::Actor) -> crate::store::audit::Actor {
    let id = current();
    let origin = origin_of(&id);
    actor.during(&id).from(origin)
}

/// `actor`, acting through the request `id`, from where it came when it is the one being served.
pub fn acting_in(actor: crate::store::audit::Actor, id: &str) -> crate::store::audit::Actor {
    actor.during(id).from(origin_of(id))
}

/// Where the request being served came from, when there is one and its id is `id`.
pub fn origin_of(id: &str) -> Option<Origin> {
    REQUEST
        .try_with(|served| (served.id == id).then(|| served.source.clone()))
        .ok()
        .flatten()
}

/// Which peers are reverse proxies whose `X-Forwarded-For` names the client (`--trusted-proxy`),
/// and the refusal log.
#[derive(Clone)]
pub struct Sources {
    pub refusals: Arc<RefusalLog>,
    pub trusted_proxies: Arc<[ipnet::IpNet]>,
}

/// The client's address: the connection's peer, unless the peer is a trusted proxy; then the
/// nearest address in `X-Forwarded-For` that is not a trusted proxy (proxies append the address
/// they were reached from, so what is left of that a client may have written itself). A header that
/// does not parse is not believed: the peer's address is kept.
pub fn client_address(
    peer: Option<std::net::IpAddr>,
    headers: &axum::http::HeaderMap,
    trusted: &[ipnet::IpNet],
) -> Option<std::net::IpAddr> {
    let peer = peer?;
    let is_trusted = |address: &std::net::IpAddr| trusted.iter().any(|net| net.contains(address));
    if !is_trusted(&peer) {
        return Some(peer);
    }
    let mut hops = Vec::new();
    for value in headers.get_all("x-forwarded-for") {
        let Ok(text) = value.to_str() else {
            return Some(peer);
        };
        for hop in text.split(',') {
            match hop.trim().parse::<std::net::IpAddr>() {
                Ok(address) => hops.push(address),
                Err(_) => return Some(peer),
            }
        }
    }
    // Nearest first: the first one no trusted proxy vouches for is the client; when all of them are
    // proxies, the farthest.
    let mut client = peer;
    for hop in hops.into_iter().rev() {
        client = hop;
        if !is_trusted(&hop) {
            break;
        }
    }
    Some(client)
}

/// The `User-Agent`, as text without control characters, at most [`USER_AGENT_KEPT`] characters.
fn user_agent(headers: &axum::http::HeaderMap) -> Option<String> {
    let value = headers.get(axum::http::header::USER_AGENT)?;
    let text = String::from_utf8_lossy(value.as_bytes());
    let kept: String = text
        .chars()
        .filter(|c| !c.is_control())
        .take(USER_AGENT_KEPT)
        .collect();
    let kept = kept.trim();
    (!kept.is_empty()).then(|| kept.to_owned())
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
    State(sources): State<Sources>,
    mut request: Request,
    next: Next,
) -> Response {
    let refusals = sources.refusals;
    let id = client_supplied(&request).unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let peer = request
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|info| info.0.ip());
    let address = client_address(peer, request.headers(), &sources.trusted_proxies);
    if let Some(address) = address {
        request
            .extensions_mut()
            .insert(crate::connections::ResolvedAddress(address));
    }
    let served = Served {
        id: id.clone(),
        source: Origin {
            address: address.map(|a| a.to_string()),
            user_agent: user_agent(request.headers()),
        },
    };
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
    let mut response = REQUEST
        .scope(served, next.run(request))
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
