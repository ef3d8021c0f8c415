//! `GET /api/v1/auditEvents`: the audit log, newest first, with `$filter` and keyset paging.

use admin_api::{AuditEvent, Collection};
use axum::extract::{RawQuery, State};
use axum::response::Response;
use axum::routing::get;
use axum::{Json, Router};

use crate::auth::{require, Authorized};
use crate::error::AppResult;
use crate::query::audit::AuditQuery;
use crate::query::{decode_skiptoken, encode_skiptoken, next_link, parse_page_options};
use crate::state::AppState;
use crate::store::SeqCursor;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/auditEvents", get(list))
        .route("/auditEvents/export", get(export))
}

/// Events read per page of an export.
const EXPORT_PAGE: u32 = 1000;

#[utoipa::path(
    get,
    path = "/api/v1/auditEvents",
    tag = "audit",
    summary = "The audit log, newest first",
    description = "`$filter` on activityDateTime (ge, gt, le, lt), activity, activityResult, actorType, actor, \
        resourceType, resourceId, resourceName and requestId, with eq, ne, in, startswith, contains, and, or, not.",
    params(
        ("$top" = Option<u32>, Query, description = "Page size, 1 to 1000 (default 50)"),
        ("$skiptoken" = Option<String>, Query, description = "Opaque cursor from @odata.nextLink"),
        ("$count" = Option<bool>, Query, description = "Include @odata.count"),
        ("$filter" = Option<String>, Query, description = "e.g. actor eq 'jane@contoso.com' and activityDateTime ge 2026-11-01T00:00:00Z"),
    ),
    responses(
        (status = 200, description = "A page of audit events", body = Collection<AuditEvent>),
        (status = 400, description = "A bad query option", body = admin_api::ErrorBody),
    )
)]
pub(crate) async fn list(
    _: Authorized<require::AuditDataRead>,
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> AppResult<Json<Collection<AuditEvent>>> {
    let options = parse_page_options(
        query.as_deref(),
        &["$top", "$skiptoken", "$count", "$filter"],
    )?;
    let audit_query = AuditQuery::from_options(&options)?;
    let after: Option<SeqCursor> = options
        .skiptoken
        .as_deref()
        .map(decode_skiptoken)
        .transpose()?;
    let (events, next, count) = state
        .store
        .audit_events(&audit_query, after.as_ref(), options.top, options.count)
        .await?;
    Ok(Json(Collection {
        value: events,
        next_link: next
            .map(|cursor| next_link("/api/v1/auditEvents", &options, &encode_skiptoken(&cursor))),
        count,
    }))
}

/// Every matching event as CSV, newest first, streamed page by page.
#[utoipa::path(
    get,
    path = "/api/v1/auditEvents/export",
    tag = "audit",
    summary = "Export the audit log as CSV",
    description = "Every event matching `$filter` (not one page), newest first, streamed. The columns: \
        activityDateTime, activity, activityResult, actorType, actor, resourceType, resourceId, resourceName, \
        details, requestId, sourceAddress, userAgent. A cell starting with `=`, `+`, `-`, `@`, a tab or a \
        carriage return gets a leading `'` so that a spreadsheet shows it as text. One export per user at a time.",
    params(
        ("$filter" = Option<String>, Query, description = "As for the list"),
    ),
    responses(
        (status = 200, description = "CSV", content_type = "text/csv", body = String),
        (status = 400, description = "A bad query option", body = admin_api::ErrorBody),
        (status = 429, description = "An export of this user's is still running, or the server runs as many as it allows", body = admin_api::ErrorBody),
    )
)]
pub(crate) async fn export(
    user: Authorized<require::AuditDataRead>,
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> AppResult<Response> {
    let options = parse_page_options(query.as_deref(), &["$filter"])?;
    let audit_query = AuditQuery::from_options(&options)?;
    // A query the database refuses fails here, with the error body, before any CSV is sent.
    state
        .store
        .audit_events(&audit_query, None, 1, false)
        .await?;
    let turn = super::csv::turn(&state, &user.principal.user_id)?;
    let header = super::csv::rows(std::iter::once(
        crate::store::audit::EXPORT_COLUMNS.iter().copied(),
    ));
    let (sender, receiver) = tokio::sync::mpsc::channel(super::csv::CHUNKS_WAITING);
    let store = state.store.clone();
    let stall = state.config.export_stall_timeout;
    tokio::spawn(async move {
        store
            .send_audit_csv(audit_query, EXPORT_PAGE, stall, sender)
            .await;
        drop(turn);
    });
    Ok(super::csv::streamed("audit-log.csv", header, receiver))
}
