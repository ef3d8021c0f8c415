//! Site requests: the device pages' live readings from the device's site (client details,
//! resource explorer, the site's scripts) and what they run on it (CMPivot, a script).

use admin_api::site_requests::{MAX_CMPIVOT_QUERY, MAX_SCRIPT_ID};
use admin_api::{Collection, NewSiteRequest, Permission, SiteRequest, SiteRequestKind};
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};

use crate::auth::{require, require_permission, Authorized};
use crate::domain::site_requests;
use crate::error::{AppError, AppJson, AppResult};
use crate::state::AppState;
use crate::store::site_requests::SiteAsk;
use crate::store::users::Account;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/devices/{id}/siteRequests", post(ask))
        .route("/siteRequests/{id}", get(one))
        .route("/me/cmPivotQueries", get(recent_queries))
}

/// What a kind of request needs besides reading devices: running CMPivot or a script.
fn permission_for(kind: SiteRequestKind) -> Option<Permission> {
    match kind {
        SiteRequestKind::CmPivot => Some(Permission::RemoteTasksRunCmPivot),
        SiteRequestKind::RunScript => Some(Permission::RemoteTasksRunScript),
        SiteRequestKind::ClientDetails | SiteRequestKind::Inventory | SiteRequestKind::Scripts => {
            None
        }
    }
}

fn may_see(principal: &Account, kind: SiteRequestKind) -> AppResult<()> {
    permission_for(kind).map_or(Ok(()), |permission| {
        require_permission(principal, permission)
    })
}

#[utoipa::path(
    post,
    path = "/api/v1/devices/{id}/siteRequests",
    tag = "siteRequests",
    summary = "Ask the device's site: client details, inventory, its scripts, a CMPivot query, a script run",
    description = "Records the request for the device's site connector, which is woken as for an action. \
        Readings (clientDetails, inventory, scripts) answered within the last 5 minutes, or still in progress, \
        are returned instead of asking again unless `refresh` is true; CMPivot queries and script runs always run anew. \
        Reading needs managedDevices.read; cmPivot needs remoteTasks.runCMPivot, runScript remoteTasks.runScript. \
        Follow the request on the event stream (`siteRequest`) and read its answer with GET /api/v1/siteRequests/{id}.",
    params(("id" = String, Path, description = "Device id")),
    request_body = NewSiteRequest,
    responses(
        (status = 200, description = "A reading answered a moment ago, with its answer", body = SiteRequest),
        (status = 202, description = "The request, queued or already in progress", body = SiteRequest,
            headers(("Location" = String, description = "/api/v1/siteRequests/{requestId}"))),
        (status = 400, description = "A bad body: a missing or overlong query, a script id where none belongs", body = admin_api::ErrorBody),
        (status = 404, description = "No such device", body = admin_api::ErrorBody),
        (status = 409, description = "The site cannot take it now, in words: its connector is offline (since when), \
            its version is older than the page needs, the device has no client, the hierarchy is offboarding", body = admin_api::ErrorBody),
        (status = 429, description = "Too many requests in progress for this user or this site", body = admin_api::ErrorBody),
    )
)]
pub(crate) async fn ask(
    user: Authorized<require::ManagedDevicesRead>,
    State(state): State<AppState>,
    Path(device_id): Path<String>,
    AppJson(body): AppJson<NewSiteRequest>,
) -> AppResult<Response> {
    may_see(&user.principal, body.kind)?;
    check(&body)?;
    let request = site_requests::ask(
        &state,
        &SiteAsk {
            device_id: &device_id,
            kind: body.kind,
            query: body.query.as_deref(),
            script_id: body.script_id.as_deref(),
            requested_by: &user.actor(),
            refresh: body.refresh,
        },
    )
    .await?;
    let status = if request.state.is_open() {
        StatusCode::ACCEPTED
    } else {
        StatusCode::OK
    };
    let location = format!("/api/v1/siteRequests/{}", request.id);
    Ok((status, [(header::LOCATION, location)], Json(request)).into_response())
}

/// A query for CMPivot only, a script id for a script run only, each within its bounds.
fn check(body: &NewSiteRequest) -> AppResult<()> {
    match (body.kind, &body.query) {
        (SiteRequestKind::CmPivot, None) => {
            return Err(AppError::bad_request(
                "query",
                "A CMPivot request needs its 'query'.",
            ))
        }
        (SiteRequestKind::CmPivot, Some(query)) => {
            if query.trim().is_empty() {
                return Err(AppError::bad_request(
                    "query",
                    "The CMPivot query is empty.",
                ));
            }
            if query.chars().count() > MAX_CMPIVOT_QUERY {
                return Err(AppError::bad_request(
                    "query",
                    format!("A CMPivot query is at most {MAX_CMPIVOT_QUERY} characters."),
                ));
            }
            if query
                .chars()
                .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
            {
                return Err(AppError::bad_request(
                    "query",
                    "A CMPivot query holds no control characters other than line breaks and tabs.",
                ));
            }
        }
        (_, Some(_)) => {
            return Err(AppError::bad_request(
                "query",
                "Only a CMPivot request ('kind': 'cmPivot') takes a 'query'.",
            ))
        }
        (_, None) => {}
    }
    match (body.kind, &body.script_id) {
        (SiteRequestKind::RunScript, None) => Err(AppError::bad_request(
            "scriptId",
            "A script run needs the 'scriptId' of one of the site's approved scripts.",
        )),
        (SiteRequestKind::RunScript, Some(id)) => {
            let fine = !id.is_empty()
                && id.len() <= MAX_SCRIPT_ID
                && id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'{' | b'}'));
            if fine {
                Ok(())
            } else {
                Err(AppError::bad_request(
                    "scriptId",
                    format!("A script id is 1 to {MAX_SCRIPT_ID} letters, digits, '-', '{{' or '}}' (a GUID)."),
                ))
            }
        }
        (_, Some(_)) => Err(AppError::bad_request(
            "scriptId",
            "Only a script run ('kind': 'runScript') takes a 'scriptId'.",
        )),
        (_, None) => Ok(()),
    }
}

#[utoipa::path(
    get,
    path = "/api/v1/siteRequests/{id}",
    tag = "siteRequests",
    summary = "A site request, with the site's answer once it has one",
    description = "Kept for 15 minutes after it ends. A CMPivot request needs remoteTasks.runCMPivot to read, a script run remoteTasks.runScript.",
    params(("id" = String, Path, description = "Request id")),
    responses(
        (status = 200, description = "The request", body = SiteRequest),
        (status = 404, description = "No such request (or it ended long ago)", body = admin_api::ErrorBody),
    )
)]
pub(crate) async fn one(
    user: Authorized<require::ManagedDevicesRead>,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> AppResult<Response> {
    let (request, answer) = state.store.site_request(&id).await?.ok_or_else(|| {
        AppError::NotFound(format!(
            "There is no site request with id '{id}' (ended requests are kept for 15 minutes)."
        ))
    })?;
    may_see(&user.principal, request.kind)?;
    let mut body =
        serde_json::to_string(&request).map_err(|e| AppError::Internal(e.to_string()))?;
    if let Some(answer) = answer {
        // The request's JSON is an object without `answer`: the kept answer goes in as it is.
        body.pop();
        body.push_str(",\"answer\":");
        body.push_str(&answer);
        body.push('}');
    }
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}

#[utoipa::path(
    get,
    path = "/api/v1/me/cmPivotQueries",
    tag = "siteRequests",
    summary = "The signed-in user's recent CMPivot queries, the latest first",
    responses((status = 200, description = "Up to 20 query texts", body = Collection<String>))
)]
pub(crate) async fn recent_queries(
    user: Authorized<require::RunCmPivot>,
    State(state): State<AppState>,
) -> AppResult<Json<Collection<String>>> {
    let queries = state
        .store
        .recent_cmpivot_queries(&user.principal.user_principal_name)
        .await?;
    Ok(Json(Collection {
        value: queries,
        next_link: None,
        count: None,
    }))
}
