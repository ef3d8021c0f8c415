use admin_api::{Collection, Device};
use axum::extract::{Path, RawQuery, State};
use axum::routing::get;
use axum::{Json, Router};

use crate::error::{AppError, AppResult};
use crate::query::{decode_skiptoken, encode_skiptoken, next_link, parse_page_options};
use crate::store::devices::DeviceCursor;
use crate::AppState;

const LIST_OPTIONS: &[&str] = &["$top", "$skiptoken", "$count"];

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/devices", get(list))
        .route("/devices/{id}", get(one))
}

async fn list(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> AppResult<Json<Collection<Device>>> {
    let options = parse_page_options(query.as_deref(), LIST_OPTIONS)?;
    let after: Option<DeviceCursor> = options
        .skiptoken
        .as_deref()
        .map(decode_skiptoken)
        .transpose()?;
    let page = state
        .store
        .list_devices(after.as_ref(), options.top, options.count)
        .await?;
    Ok(Json(Collection {
        value: page.devices,
        next_link: page
            .next
            .map(|cursor| next_link("/api/v1/devices", &options, &encode_skiptoken(&cursor))),
        count: page.count,
    }))
}

async fn one(State(state): State<AppState>, Path(id): Path<String>) -> AppResult<Json<Device>> {
    state
        .store
        .device(&id)
        .await?
        .map(Json)
        .ok_or_else(|| AppError::NotFound(format!("There is no device with id '{id}'.")))
}
