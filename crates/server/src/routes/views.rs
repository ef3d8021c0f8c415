//! Saved views of All devices: `/api/v1/deviceViews`. Reading and keeping views of one's own needs
//! managedDevices.read; sharing one with everyone managedDevices.shareViews. A view is checked as
//! the query it makes before it is stored, and again as it is read: what the server no longer
//! takes is left out and said (`dropped`).

use admin_api::collection::{odata_string, MAX_PAGE_SIZE};
use admin_api::devices::DEVICE_FIELDS;
use admin_api::fields::{find, FieldType};
use admin_api::views::{
    DeviceViewFilter, MAX_VIEW_FILTERS, MAX_VIEW_FILTER_VALUES, MAX_VIEW_NAME, MAX_VIEW_SYNC_DAYS,
};
use admin_api::{
    Collection, DeviceView, DeviceViewChange, DeviceViewQuery, NewDeviceView, Permission,
};
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};

use crate::auth::{require, Authorized};
use crate::error::{AppError, AppJson, AppResult};
use crate::query::devices::DeviceQuery;
use crate::query::{parse_page_options, PageOptions};
use crate::state::AppState;
use crate::store::users::Account;
use crate::store::views::{Owner, ViewChange, ViewRow};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/deviceViews", get(list).post(create))
        .route("/deviceViews/{id}", get(one).patch(change).delete(remove))
}

fn owner(account: &Account) -> Owner<'_> {
    Owner {
        user_id: &account.user_id,
        user_name: &account.user_principal_name,
    }
}

fn may_share(account: &Account) -> AppResult<()> {
    if account.may(Permission::ManagedDevicesShareViews) {
        return Ok(());
    }
    Err(AppError::Forbidden(format!(
        "Sharing a view with everyone requires the permission {} ({}).",
        Permission::ManagedDevicesShareViews.as_str(),
        Permission::ManagedDevicesShareViews.label()
    )))
}

#[utoipa::path(
    get,
    path = "/api/v1/deviceViews",
    tag = "devices",
    summary = "The saved views of All devices the caller sees: their own and those shared with everyone",
    responses((status = 200, description = "By name", body = Collection<DeviceView>))
)]
pub(crate) async fn list(
    user: Authorized<require::ManagedDevicesRead>,
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> AppResult<Json<Collection<DeviceView>>> {
    parse_page_options(query.as_deref(), &[])?;
    let rows = state.store.device_views(&user.principal.user_id).await?;
    Ok(Json(Collection {
        value: rows.into_iter().map(readable).collect(),
        next_link: None,
        count: None,
    }))
}

#[utoipa::path(
    get,
    path = "/api/v1/deviceViews/{id}",
    tag = "devices",
    summary = "A saved view",
    description = "What the stored view names that the server no longer takes (a field, a value) is left out of `query` and said in `dropped`.",
    params(("id" = String, Path, description = "View id")),
    responses(
        (status = 200, description = "The view", body = DeviceView),
        (status = 404, description = "No such view, or another user's that is not shared", body = admin_api::ErrorBody),
    )
)]
pub(crate) async fn one(
    user: Authorized<require::ManagedDevicesRead>,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> AppResult<Json<DeviceView>> {
    let row = state
        .store
        .device_view(&id, &user.principal.user_id)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("No saved view has the id '{id}'.")))?;
    Ok(Json(readable(row)))
}

#[utoipa::path(
    post,
    path = "/api/v1/deviceViews",
    tag = "devices",
    summary = "Save a view of All devices",
    description = "The query is checked as All devices would run it: what the device list refuses, a view cannot hold. \
        At most 50 views per user; names are unique per user (1 to 100 characters). `shared: true` needs managedDevices.shareViews \
        and is audited.",
    request_body = NewDeviceView,
    responses(
        (status = 201, description = "The view", body = DeviceView,
            headers(("Location" = String, description = "/api/v1/deviceViews/{id}"))),
        (status = 400, description = "A bad name or query, its part named in `target`", body = admin_api::ErrorBody),
        (status = 403, description = "Sharing without managedDevices.shareViews", body = admin_api::ErrorBody),
        (status = 409, description = "A view of that name already, or as many views as a user may keep", body = admin_api::ErrorBody),
    )
)]
pub(crate) async fn create(
    user: Authorized<require::ManagedDevicesRead>,
    State(state): State<AppState>,
    AppJson(body): AppJson<NewDeviceView>,
) -> AppResult<Response> {
    let name = checked_name(&body.name)?;
    check(&body.query)?;
    if body.shared {
        may_share(&user.principal)?;
    }
    let query =
        serde_json::to_string(&body.query).map_err(|e| AppError::Internal(e.to_string()))?;
    let row = state
        .store
        .create_device_view(
            owner(&user.principal),
            &name,
            body.shared,
            &query,
            &user.actor(),
            state.now(),
        )
        .await?;
    let location = format!("/api/v1/deviceViews/{}", row.id);
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(readable(row)),
    )
        .into_response())
}

#[utoipa::path(
    patch,
    path = "/api/v1/deviceViews/{id}",
    tag = "devices",
    summary = "Rename, share or stop sharing, or overwrite a view of one's own",
    description = "Only the owner changes a view; a shared view changed by its owner changes for everyone (audited). \
        Sharing needs managedDevices.shareViews.",
    params(("id" = String, Path, description = "View id")),
    request_body = DeviceViewChange,
    responses(
        (status = 200, description = "The view as changed", body = DeviceView),
        (status = 400, description = "A bad name or query", body = admin_api::ErrorBody),
        (status = 403, description = "Another user's shared view, or sharing without managedDevices.shareViews", body = admin_api::ErrorBody),
        (status = 404, description = "No such view", body = admin_api::ErrorBody),
        (status = 409, description = "A view of that name already", body = admin_api::ErrorBody),
    )
)]
pub(crate) async fn change(
    user: Authorized<require::ManagedDevicesRead>,
    State(state): State<AppState>,
    Path(id): Path<String>,
    AppJson(body): AppJson<DeviceViewChange>,
) -> AppResult<Json<DeviceView>> {
    let name = body.name.as_deref().map(checked_name).transpose()?;
    let query = match &body.query {
        Some(query) => {
            check(query)?;
            Some(serde_json::to_string(query).map_err(|e| AppError::Internal(e.to_string()))?)
        }
        None => None,
    };
    if body.shared == Some(true) {
        may_share(&user.principal)?;
    }
    let row = state
        .store
        .change_device_view(
            &id,
            owner(&user.principal),
            &ViewChange {
                name,
                shared: body.shared,
                query,
            },
            &user.actor(),
            state.now(),
        )
        .await?;
    Ok(Json(readable(row)))
}

#[utoipa::path(
    delete,
    path = "/api/v1/deviceViews/{id}",
    tag = "devices",
    summary = "Delete a view of one's own (audited)",
    params(("id" = String, Path, description = "View id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, description = "Another user's shared view", body = admin_api::ErrorBody),
        (status = 404, description = "No such view", body = admin_api::ErrorBody),
    )
)]
pub(crate) async fn remove(
    user: Authorized<require::ManagedDevicesRead>,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> AppResult<StatusCode> {
    state
        .store
        .delete_device_view(&id, owner(&user.principal), &user.actor(), state.now())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The name, trimmed: 1 to 100 characters, no control characters.
fn checked_name(name: &str) -> AppResult<String> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > MAX_VIEW_NAME {
        return Err(AppError::bad_request(
            "name",
            format!("A view's name is 1 to {MAX_VIEW_NAME} characters."),
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(AppError::bad_request(
            "name",
            "A view's name has no control characters.",
        ));
    }
    Ok(name.to_owned())
}

/// The query options All devices would send for `query` (a check-in window as some date: its
/// form is what is checked).
fn options_of(query: &DeviceViewQuery) -> PageOptions {
    let terms: Vec<&str> = query
        .search
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .collect();
    let mut conditions: Vec<String> = query
        .filters
        .iter()
        .map(|filter| {
            let values: Vec<String> = filter.values.iter().map(|v| odata_string(v)).collect();
            format!("{} in ({})", filter.field, values.join(", "))
        })
        .collect();
    if query.last_sync_within_days.is_some() {
        conditions.push("lastSyncDateTime ge 2000-01-01T00:00:00Z".to_owned());
    }
    PageOptions {
        top: query
            .page_size
            .unwrap_or(admin_api::collection::DEFAULT_PAGE_SIZE),
        skiptoken: None,
        count: false,
        orderby: query.order_by.as_ref().map(|order| {
            format!(
                "{} {}",
                order.field,
                if order.descending { "desc" } else { "asc" }
            )
        }),
        filter: (!conditions.is_empty()).then(|| conditions.join(" and ")),
        search: (!terms.is_empty()).then(|| format!("\"{}\"", terms.join(","))),
        select: (!query.columns.is_empty()).then(|| query.columns.join(",")),
    }
}

/// A view's query is what All devices could ask: refused as the list would refuse it, its part
/// named (`query.filters`, `query.search`, …).
fn check(query: &DeviceViewQuery) -> AppResult<()> {
    let part = |option: &str| match option {
        "$filter" => "query.filters",
        "$search" => "query.search",
        "$select" => "query.columns",
        "$orderby" => "query.orderBy",
        _ => "query",
    };
    if query.filters.len() > MAX_VIEW_FILTERS {
        return Err(AppError::bad_request(
            "query.filters",
            format!("A view holds at most {MAX_VIEW_FILTERS} filters."),
        ));
    }
    for (index, filter) in query.filters.iter().enumerate() {
        if filter.values.is_empty() || filter.values.len() > MAX_VIEW_FILTER_VALUES {
            return Err(AppError::bad_request(
                "query.filters",
                format!(
                    "The filter on '{}' has 1 to {MAX_VIEW_FILTER_VALUES} values.",
                    filter.field
                ),
            ));
        }
        if query.filters[..index]
            .iter()
            .any(|f| f.field == filter.field)
        {
            return Err(AppError::bad_request(
                "query.filters",
                format!("'{}' is filtered twice: one filter a field.", filter.field),
            ));
        }
    }
    if let Some(days) = query.last_sync_within_days {
        if !(1..=MAX_VIEW_SYNC_DAYS).contains(&days) {
            return Err(AppError::bad_request(
                "query.lastSyncWithinDays",
                format!("The check-in window is 1 to {MAX_VIEW_SYNC_DAYS} days."),
            ));
        }
    }
    if let Some(size) = query.page_size {
        if !(1..=MAX_PAGE_SIZE).contains(&size) {
            return Err(AppError::bad_request(
                "query.pageSize",
                format!("A page is 1 to {MAX_PAGE_SIZE} devices."),
            ));
        }
    }
    DeviceQuery::from_options(&options_of(query))
        .map(drop)
        .map_err(|refused| AppError::bad_request(part(&refused.option), refused.message))
}

/// A stored view as it reads now: what the server no longer takes is left out, and said.
fn readable(row: ViewRow) -> DeviceView {
    let mut dropped = Vec::new();
    let stored: DeviceViewQuery = serde_json::from_str(&row.query).unwrap_or_else(|_| {
        dropped.push("The stored view could not be read: it opens as All devices.".to_owned());
        DeviceViewQuery::default()
    });
    let mut query = DeviceViewQuery {
        search: stored.search,
        last_sync_within_days: stored
            .last_sync_within_days
            .filter(|days| (1..=MAX_VIEW_SYNC_DAYS).contains(days)),
        page_size: stored
            .page_size
            .filter(|size| (1..=MAX_PAGE_SIZE).contains(size)),
        ..DeviceViewQuery::default()
    };
    for filter in stored.filters {
        let Some(field) = find(DEVICE_FIELDS, &filter.field).filter(|f| f.filterable) else {
            dropped.push(format!(
                "The filter on '{}', a field devices are no longer filtered by, is left out.",
                filter.field
            ));
            continue;
        };
        let mut values = Vec::new();
        for value in filter.values {
            match field.field_type {
                FieldType::Enum(known) if !known.contains(&value.as_str()) => {
                    dropped.push(format!(
                        "'{value}' is no longer a value of '{}': left out.",
                        field.name
                    ))
                }
                _ => values.push(value),
            }
        }
        if !values.is_empty() {
            query.filters.push(DeviceViewFilter {
                field: filter.field,
                values,
            });
        }
    }
    for column in stored.columns {
        match find(DEVICE_FIELDS, &column).filter(|f| f.selectable) {
            Some(_) => query.columns.push(column),
            None => dropped.push(format!(
                "The column '{column}', no longer a field of devices, is left out."
            )),
        }
    }
    if let Some(order) = stored.order_by {
        match find(DEVICE_FIELDS, &order.field).filter(|f| f.sortable) {
            Some(_) => query.order_by = Some(order),
            None => dropped.push(format!(
                "The order by '{}', a field devices are no longer ordered by, is left out.",
                order.field
            )),
        }
    }
    if let Err(refused) = check(&query) {
        dropped.push(format!(
            "The view's search and filters are no longer taken ({refused}): they are left out."
        ));
        query.search.clear();
        query.filters.clear();
    }
    DeviceView {
        id: row.id,
        name: row.name,
        owner: row.owner_name,
        shared: row.shared,
        query,
        created_date_time: row.created_at,
        last_modified_date_time: row.updated_at,
        dropped,
    }
}
