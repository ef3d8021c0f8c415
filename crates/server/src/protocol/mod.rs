//! The connector protocol under `/api/connector/v1` (docs/connector-protocol.md): what a
//! hierarchy's service connection point calls. Authenticated by the connector's own credential.

mod validate;

use std::time::Duration;

use admin_api::protocol::{
    ActionPoll, ActionResult, CompleteFullSync, DeviceBatch, DeviceDelta, HeartbeatResponse,
    OnboardRequest, OnboardResponse, SiteInfo, SiteRequestOutcome, SyncResult, MAX_WAIT_SECONDS,
};
use axum::extract::{FromRequestParts, Path, RawQuery, State};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::routing::{get, post, put};
use axum::{Json, Router};

use crate::connections::ClientAddress;
use crate::domain::{actions, connectors, devices, site_requests};
use crate::error::{AppError, AppJson, AppResult};
use crate::secrets;
use crate::state::AppState;
use crate::store::audit::Actor;
use crate::store::connectors::ConnectorIdentity;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/onboard", post(onboard))
        .route("/site", put(report_site))
        .route("/heartbeat", post(heartbeat))
        .route("/syncs/{sync_id}/batches/{index}", put(stage_batch))
        .route("/syncs/{sync_id}/complete", post(complete_sync))
        .route("/syncs/{sync_id}/delta", post(apply_delta))
        .route("/actions", get(poll_actions))
        .route("/actions/{id}/accept", post(accept_action))
        .route("/actions/{id}/result", post(report_result))
        .route("/requests/{id}/accept", post(accept_request))
        .route("/requests/{id}/answer", post(answer_request))
        .route("/offboard/ack", post(acknowledge_offboard))
        .fallback(crate::error::unknown_route)
}

fn bearer(parts: &Parts) -> AppResult<&str> {
    parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| {
            AppError::Unauthenticated(
                "Send the credential as 'Authorization: Bearer <credential>'.".into(),
            )
        })
}

/// The caller of a connector protocol request, proven to be a connector by its credential (not
/// the site crate's `SiteConnector`, which makes such calls).
pub struct ConnectorCaller(pub ConnectorIdentity);

impl FromRequestParts<AppState> for ConnectorCaller {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> AppResult<Self> {
        let credential = bearer(parts)?;
        let refused = || {
            AppError::Unauthenticated(
                "The connector credential is not valid or was revoked.".into(),
            )
        };
        let (id, secret) = secrets::split_credential(credential).ok_or_else(refused)?;
        match state.store.connector_identity(id).await? {
            Some(identity)
                if identity
                    .credential_hash
                    .as_deref()
                    .is_some_and(|hash| secrets::matches(secret, hash)) =>
            {
                state.limits.check_connector(&identity.id)?;
                Ok(Self(identity))
            }
            _ => Err(refused()),
        }
    }
}

/// The onboarding token of `POST /onboard`, checked before its body is read: attempts are
/// throttled per address, and a token that is not live is refused without reading the body or
/// touching the writer.
struct LiveOnboardingToken(String);

impl FromRequestParts<AppState> for LiveOnboardingToken {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> AppResult<Self> {
        let ClientAddress(address) = ClientAddress::from_request_parts(parts, state)
            .await
            .unwrap_or_else(|never| match never {});
        state.limits.check_onboard(&state.store, &address).await?;
        let token = bearer(parts)?;
        if !state
            .store
            .onboarding_token_is_live(&secrets::hash(token), state.now())
            .await?
        {
            return Err(crate::store::onboarding::token_not_valid().into());
        }
        Ok(Self(token.to_owned()))
    }
}

async fn onboard(
    State(state): State<AppState>,
    LiveOnboardingToken(token): LiveOnboardingToken,
    AppJson(request): AppJson<OnboardRequest>,
) -> AppResult<(StatusCode, Json<OnboardResponse>)> {
    validate::hierarchy_id(&request.hierarchy_id)?;
    let response = connectors::onboard(
        &state,
        &token,
        request.hierarchy_id,
        &crate::request_id::current(),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(response)))
}

async fn report_site(
    State(state): State<AppState>,
    ConnectorCaller(site): ConnectorCaller,
    AppJson(mut info): AppJson<SiteInfo>,
) -> AppResult<Json<HeartbeatResponse>> {
    validate::site(&mut info)?;
    connectors::report_site(&state, &site.id, &info).await?;
    Ok(Json(HeartbeatResponse {
        offboard_requested: site.offboard_requested_at.is_some(),
    }))
}

async fn heartbeat(
    State(state): State<AppState>,
    ConnectorCaller(site): ConnectorCaller,
) -> AppResult<Json<HeartbeatResponse>> {
    state.store.heartbeat(&site.id, state.now()).await?;
    Ok(Json(HeartbeatResponse {
        offboard_requested: site.offboard_requested_at.is_some(),
    }))
}

fn check_sync_id(sync_id: &str) -> AppResult<()> {
    let fine = !sync_id.is_empty()
        && sync_id.len() <= 100
        && sync_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if fine {
        Ok(())
    } else {
        Err(AppError::bad_request(
            "syncId",
            "A sync id is 1 to 100 letters, digits, '-' or '_'.",
        ))
    }
}

async fn stage_batch(
    State(state): State<AppState>,
    ConnectorCaller(site): ConnectorCaller,
    Path((sync_id, index)): Path<(String, u32)>,
    AppJson(mut batch): AppJson<DeviceBatch>,
) -> AppResult<StatusCode> {
    check_sync_id(&sync_id)?;
    validate::devices("devices", &mut batch.devices)?;
    if index >= admin_api::protocol::MAX_BATCHES {
        return Err(AppError::bad_request(
            "index",
            format!(
                "A batch index is 0 to {}.",
                admin_api::protocol::MAX_BATCHES - 1
            ),
        ));
    }
    devices::stage_batch(&state, &site.id, &sync_id, index, &batch.devices).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn complete_sync(
    State(state): State<AppState>,
    ConnectorCaller(site): ConnectorCaller,
    Path(sync_id): Path<String>,
    AppJson(complete): AppJson<CompleteFullSync>,
) -> AppResult<Json<SyncResult>> {
    check_sync_id(&sync_id)?;
    let result =
        devices::complete_full_sync(&state, &site.id, &sync_id, complete.batch_count).await?;
    Ok(Json(result))
}

async fn apply_delta(
    State(state): State<AppState>,
    ConnectorCaller(site): ConnectorCaller,
    Path(sync_id): Path<String>,
    AppJson(mut delta): AppJson<DeviceDelta>,
) -> AppResult<Json<SyncResult>> {
    check_sync_id(&sync_id)?;
    validate::devices("upserts", &mut delta.upserts)?;
    for (index, id) in delta.removals.iter().enumerate() {
        validate::device_id(&format!("removals[{index}]"), id)?;
    }
    let result = devices::apply_delta(&state, &site.id, &sync_id, &delta).await?;
    Ok(Json(result))
}

/// Long-poll: answers at once when actions or site requests wait or offboarding was asked,
/// otherwise when one of those happens or `waitSeconds` pass. Actions stay `pending` (requests
/// `queued`) until the site accepts them, so an answer lost on the way is sent again on the next
/// poll.
async fn poll_actions(
    State(state): State<AppState>,
    ConnectorCaller(site): ConnectorCaller,
    RawQuery(query): RawQuery,
) -> AppResult<Json<ActionPoll>> {
    let wait = parse_wait(query.as_deref())?;
    let mut signals = state.live.site_signals();
    let deadline = tokio::time::Instant::now() + wait;
    state.store.heartbeat(&site.id, state.now()).await?;
    loop {
        let actions = state.store.pending_actions(&site.id).await?;
        let requests = state.store.pending_site_requests(&site.id).await?;
        let offboard_requested = state
            .store
            .connector_identity(&site.id)
            .await?
            .is_some_and(|identity| identity.offboard_requested_at.is_some());
        if !actions.is_empty()
            || !requests.is_empty()
            || offboard_requested
            || tokio::time::Instant::now() >= deadline
        {
            return Ok(Json(ActionPoll {
                actions,
                offboard_requested,
                requests,
            }));
        }
        tokio::select! {
            () = wait_for_signal(&mut signals, &site.id) => {},
            () = tokio::time::sleep_until(deadline) => {},
            () = state.shutdown.cancelled() => {
                return Ok(Json(ActionPoll { actions: Vec::new(), offboard_requested: false, requests: Vec::new() }));
            }
        }
    }
}

async fn wait_for_signal(
    signals: &mut tokio::sync::broadcast::Receiver<String>,
    connector_id: &str,
) {
    loop {
        match signals.recv().await {
            Ok(id) if id == connector_id => return,
            Ok(_) => {}
            // Missed some: look again rather than risk missing ours.
            Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => return,
            Err(tokio::sync::broadcast::error::RecvError::Closed) => std::future::pending().await,
        }
    }
}

fn parse_wait(query: Option<&str>) -> AppResult<Duration> {
    let mut wait = 0;
    for (name, value) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        if name != "waitSeconds" {
            return Err(AppError::bad_request(
                name.as_ref(),
                format!("The query option '{name}' is not supported here. Supported options: waitSeconds."),
            ));
        }
        wait = value
            .parse::<u32>()
            .ok()
            .filter(|w| *w <= MAX_WAIT_SECONDS)
            .ok_or_else(|| {
                AppError::bad_request(
                    "waitSeconds",
                    format!("'waitSeconds' must be a whole number from 0 to {MAX_WAIT_SECONDS}."),
                )
            })?;
    }
    Ok(Duration::from_secs(u64::from(wait)))
}

async fn accept_action(
    State(state): State<AppState>,
    ConnectorCaller(site): ConnectorCaller,
    Path(id): Path<String>,
) -> AppResult<StatusCode> {
    actions::accept(&state, &site.id, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn report_result(
    State(state): State<AppState>,
    ConnectorCaller(site): ConnectorCaller,
    Path(id): Path<String>,
    AppJson(result): AppJson<ActionResult>,
) -> AppResult<StatusCode> {
    validate::action_result(&result)?;
    actions::report_result(
        &state,
        &site.id,
        &id,
        &result,
        &crate::request_id::current(),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn accept_request(
    State(state): State<AppState>,
    ConnectorCaller(site): ConnectorCaller,
    Path(id): Path<String>,
) -> AppResult<StatusCode> {
    site_requests::accept(&state, &site.id, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn answer_request(
    State(state): State<AppState>,
    ConnectorCaller(site): ConnectorCaller,
    Path(id): Path<String>,
    AppJson(mut outcome): AppJson<SiteRequestOutcome>,
) -> AppResult<StatusCode> {
    validate::site_request_outcome(&mut outcome)?;
    site_requests::answer(
        &state,
        &site.id,
        &id,
        &outcome,
        &crate::request_id::current(),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The site confirms it was told to offboard. A site at 2103 or later has stopped uploading and
/// the removal completes now; an older one's confirmation does not count (its removal waits for
/// the grace period, as the service does for those versions).
async fn acknowledge_offboard(
    State(state): State<AppState>,
    ConnectorCaller(site): ConnectorCaller,
) -> AppResult<StatusCode> {
    if site.offboard_requested_at.is_none() {
        return Err(AppError::Conflict(
            "No offboarding was requested for this connector.".into(),
        ));
    }
    if admin_api::connectors::acknowledges_offboarding(site.site_version.as_deref()) {
        connectors::complete_offboard(
            &state,
            &site.id,
            &crate::request_id::acting(Actor::connector(&site.id)),
        )
        .await?;
    }
    Ok(StatusCode::ACCEPTED)
}
