//! Bulk actions: `POST /api/v1/devices/bulkActions` starts one on every device a filter matches,
//! `GET /api/v1/bulkActions/{id}` says where it stands, `POST /api/v1/bulkActions/{id}/cancel`
//! cancels what the sites have not taken yet.

use admin_api::{BulkAction, NewBulkAction};
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};

use crate::auth::{require, Authorized};
use crate::domain::bulk;
use crate::error::{AppError, AppJson, AppResult};
use crate::query::devices::DeviceQuery;
use crate::query::PageOptions;
use crate::state::AppState;
use crate::store::bulk::BulkRequest;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/devices/bulkActions", post(start))
        .route("/bulkActions/{id}", get(one))
        .route("/bulkActions/{id}/cancel", post(cancel))
}

#[utoipa::path(
    post,
    path = "/api/v1/devices/bulkActions",
    tag = "actions",
    summary = "Run a ConfigMgr action on every device a filter matches, as a job",
    description = "The devices are named as All devices names them (`search` as `$search`, `filter` as `$filter`); \
        with both empty, only `allDevices: true` means every device. The server counts the devices as it starts \
        (at most --bulk-action-limit, 100,000 by default), queues each one's action (not again where the same \
        action is already open), and says in `matchedCount` how many matched: when that differs from \
        `confirmedCount`, the devices changed after the operator counted them. One bulk action per user at a time. \
        Follow it on the event stream (`bulkAction`) or with GET /api/v1/bulkActions/{id}.",
    request_body = NewBulkAction,
    responses(
        (status = 202, description = "The job, started", body = BulkAction,
            headers(("Location" = String, description = "/api/v1/bulkActions/{id}"))),
        (status = 400, description = "A bad filter or search, an empty one without allDevices, or more devices than a bulk action reaches", body = admin_api::ErrorBody),
        (status = 409, description = "A bulk action of this user's is still running, or no device matches", body = admin_api::ErrorBody),
    )
)]
pub(crate) async fn start(
    user: Authorized<require::ConfigurationManagerAction>,
    State(state): State<AppState>,
    AppJson(body): AppJson<NewBulkAction>,
) -> AppResult<Response> {
    let search = body.search.as_deref().filter(|s| !s.trim().is_empty());
    let filter = body.filter.as_deref().filter(|f| !f.trim().is_empty());
    match (body.all_devices, search.is_some() || filter.is_some()) {
        (false, false) => {
            return Err(AppError::bad_request(
                "allDevices",
                "No filter and no search: an empty filter is never all devices by accident. Send allDevices: true to reach every device.",
            ))
        }
        (true, true) => {
            return Err(AppError::bad_request(
                "allDevices",
                "allDevices reaches every device: send it without a filter or a search.",
            ))
        }
        _ => {}
    }
    let limit = state.config.bulk_action_limit;
    if body.confirmed_count == 0 || body.confirmed_count > limit {
        return Err(AppError::bad_request(
            "confirmedCount",
            format!("The confirmed count is the devices the operator saw: 1 to {limit}."),
        ));
    }
    let query = DeviceQuery::from_options(&PageOptions {
        search: search.map(str::to_owned),
        filter: filter.map(str::to_owned),
        ..PageOptions::default()
    })?;
    let actor = user.actor();
    let job = bulk::start(
        &state,
        &BulkRequest {
            action: body.action,
            query: &query,
            search,
            filter,
            all_devices: body.all_devices,
            confirmed_count: body.confirmed_count,
            limit,
            requested_by: &actor,
        },
    )
    .await?;
    let location = format!("/api/v1/bulkActions/{}", job.id);
    Ok((
        StatusCode::ACCEPTED,
        [(header::LOCATION, location)],
        Json(job),
    )
        .into_response())
}

#[utoipa::path(
    get,
    path = "/api/v1/bulkActions/{id}",
    tag = "actions",
    summary = "A bulk action: its counts in all and per connector",
    params(("id" = String, Path, description = "Bulk action id")),
    responses(
        (status = 200, description = "The job", body = BulkAction),
        (status = 404, description = "No such bulk action", body = admin_api::ErrorBody),
    )
)]
pub(crate) async fn one(
    _: Authorized<require::ManagedDevicesRead>,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> AppResult<Json<BulkAction>> {
    state
        .store
        .bulk_action(&id)
        .await?
        .map(Json)
        .ok_or_else(|| AppError::NotFound(format!("No bulk action has the id '{id}'.")))
}

#[utoipa::path(
    post,
    path = "/api/v1/bulkActions/{id}/cancel",
    tag = "actions",
    summary = "Cancel a running bulk action of one's own",
    description = "The actions its sites have not taken yet are canceled (each audited as an action's end is); those taken run on.",
    params(("id" = String, Path, description = "Bulk action id")),
    responses(
        (status = 200, description = "The job, canceled", body = BulkAction),
        (status = 403, description = "Another user's bulk action", body = admin_api::ErrorBody),
        (status = 404, description = "No such bulk action", body = admin_api::ErrorBody),
        (status = 409, description = "It has ended already", body = admin_api::ErrorBody),
    )
)]
pub(crate) async fn cancel(
    user: Authorized<require::ConfigurationManagerAction>,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> AppResult<Json<BulkAction>> {
    Ok(Json(bulk::cancel(&state, &id, &user.actor()).await?))
}
