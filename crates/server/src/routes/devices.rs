use admin_api::devices::DEVICE_FIELDS;
use admin_api::fields::{find, Field};
use admin_api::{Collection, Device};
use axum::extract::{Path, RawQuery, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};

use super::csv;
use crate::auth::{require, Authorized};
use crate::error::{AppError, AppResult};
use crate::query::devices::{DeviceCursor, DeviceQuery};
use crate::query::{decode_skiptoken, encode_skiptoken, next_link, parse_page_options};
use crate::state::AppState;

const LIST_OPTIONS: &[&str] = &[
    "$top",
    "$skiptoken",
    "$count",
    "$orderby",
    "$filter",
    "$search",
    "$select",
];
const EXPORT_OPTIONS: &[&str] = &["$orderby", "$filter", "$search", "$select"];
/// Devices per chunk of the export, and chunks that may wait to be written.
const EXPORT_CHUNK: usize = 1000;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/devices", get(list))
        .route("/devices/export", get(export))
        .route("/devices/{id}", get(one))
}

#[utoipa::path(
    get,
    path = "/api/v1/devices",
    tag = "devices",
    summary = "List devices",
    description = "Keyset-paged devices. Unknown options, fields, operators or enum values are 400.",
    params(
        ("$top" = Option<u32>, Query, description = "Page size, 1 to 1000 (default 50)"),
        ("$skiptoken" = Option<String>, Query, description = "Opaque cursor from @odata.nextLink"),
        ("$count" = Option<bool>, Query, description = "Include @odata.count"),
        ("$orderby" = Option<String>, Query, description = "`<field> [asc|desc]`, any column; default `deviceName asc`; ties in the order devices were first stored"),
        ("$filter" = Option<String>, Query, description = "eq, ne, in (...), startswith(), contains(), gt/ge/lt/le on date-times, and/or/not, parentheses"),
        ("$search" = Option<String>, Query, description = "`\"a,b\"`: substring of deviceName, serialNumber or userPrincipalName; any term"),
        ("$select" = Option<String>, Query, description = "Comma-separated fields to return"),
    ),
    responses(
        (status = 200, description = "A page of devices", body = Collection<Device>),
        (status = 400, description = "A bad query option", body = admin_api::ErrorBody),
    )
)]
pub(crate) async fn list(
    _: Authorized<require::ManagedDevicesRead>,
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> AppResult<Response> {
    let options = parse_page_options(query.as_deref(), LIST_OPTIONS)?;
    let device_query = DeviceQuery::from_options(&options)?;
    let after: Option<DeviceCursor> = options
        .skiptoken
        .as_deref()
        .map(decode_skiptoken)
        .transpose()?;
    // Each device comes as the JSON SQLite made of its row, with the selected fields.
    let page = state
        .store
        .list_devices_as(
            &device_query,
            after.as_ref(),
            options.top,
            options.count,
            |json| {
                serde_json::value::RawValue::from_string(json)
                    .map_err(|error| crate::store::error::StoreError::Internal(error.to_string()))
            },
        )
        .await?;
    let next = page
        .next
        .map(|cursor| next_link("/api/v1/devices", &options, &encode_skiptoken(&cursor)));
    let capacity = page
        .devices
        .iter()
        .map(|d| d.get().len() + 1)
        .sum::<usize>()
        + 512;
    Ok(json_body(
        &Collection {
            value: page.devices,
            next_link: next,
            count: page.count,
        },
        capacity,
    ))
}

/// A JSON response written into one buffer of its size: axum's `Json` starts at 128 bytes and
/// grows (copying) about nine times for a page of devices, which `perf` showed among the list's
/// larger costs at thousands of requests per second.
fn json_body<T: serde::Serialize>(body: &T, capacity: usize) -> Response {
    let mut bytes = Vec::with_capacity(capacity);
    match serde_json::to_writer(&mut bytes, body) {
        Ok(()) => ([(header::CONTENT_TYPE, "application/json")], bytes).into_response(),
        Err(error) => AppError::Internal(error.to_string()).into_response(),
    }
}

/// Every matching device as CSV, streamed page by page so memory stays flat however many match.
#[utoipa::path(
    get,
    path = "/api/v1/devices/export",
    tag = "devices",
    summary = "Export devices as CSV",
    description = "Every matching device (not one page), streamed; the header row is the selected columns.",
    params(
        ("$orderby" = Option<String>, Query, description = "As for the list"),
        ("$filter" = Option<String>, Query, description = "As for the list"),
        ("$search" = Option<String>, Query, description = "As for the list"),
        ("$select" = Option<String>, Query, description = "The columns, in order"),
    ),
    responses(
        (status = 200, description = "CSV", content_type = "text/csv", body = String),
        (status = 400, description = "A bad query option", body = admin_api::ErrorBody),
    )
)]
pub(crate) async fn export(
    user: Authorized<require::ManagedDevicesRead>,
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> AppResult<Response> {
    let options = parse_page_options(query.as_deref(), EXPORT_OPTIONS)?;
    let device_query = DeviceQuery::from_options(&options)?;
    let columns: Vec<&'static Field> = match &device_query.select {
        Some(fields) => fields.clone(),
        None => admin_api::devices::DEFAULT_COLUMNS
            .iter()
            .map(|name| find(DEVICE_FIELDS, name).expect("the export's columns are fields"))
            .collect(),
    };
    // A bad query fails here, with the error body, before any CSV is sent.
    state
        .store
        .list_devices(&device_query, None, 1, false)
        .await?;
    let turn = super::csv::turn(&state, &user.principal.user_id)?;
    let header = csv::rows(std::iter::once(columns.iter().map(|field| field.name)));
    // One query reads the devices in a task of its own while the response writes the CSV of
    // what it read; a few chunks wait between them at most. The task holds the export's turn.
    let (sender, receiver) = tokio::sync::mpsc::channel(csv::CHUNKS_WAITING);
    let store = state.store.clone();
    let selected = columns.clone();
    let stall = state.config.export_stall_timeout;
    tokio::spawn(async move {
        store
            .send_csv_rows(device_query, &selected, EXPORT_CHUNK, stall, sender)
            .await;
        drop(turn);
    });
    Ok(csv::streamed("devices.csv", header, receiver))
}

#[utoipa::path(
    get,
    path = "/api/v1/devices/{id}",
    tag = "devices",
    summary = "Get a device",
    params(("id" = String, Path, description = "Device id")),
    responses(
        (status = 200, description = "The device", body = Device),
        (status = 404, description = "No such device", body = admin_api::ErrorBody),
    )
)]
pub(crate) async fn one(
    _: Authorized<require::ManagedDevicesRead>,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> AppResult<Json<Device>> {
    state
        .store
        .device(&id)
        .await?
        .map(Json)
        .ok_or_else(|| AppError::NotFound(format!("There is no device with id '{id}'.")))
}
