//! `GET /api/v1/auditEvents`: the audit log, newest first, with `$filter` and keyset paging.

use admin_api::{AuditEvent, Collection};
use axum::extract::{RawQuery, State};
use axum::routing::get;
use axum::{Json, Router};

use crate::auth::{require, Authorized};
use crate::error::AppResult;
use crate::query::audit::AuditQuery;
use crate::query::{decode_skiptoken, encode_skiptoken, next_link, parse_page_options};
use crate::state::AppState;
use crate::store::SeqCursor;

pub fn router() -> Router<AppState> {
    Router::new().route("/auditEvents", get(list))
}

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
