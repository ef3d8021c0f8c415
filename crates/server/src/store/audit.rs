//! The audit log: appended inside the transaction of the change it records (so a change and its
//! record land together or not at all), read newest first with `$filter` and keyset paging.

use admin_api::{ActorType, AuditActivity, AuditEvent, AuditResult};
use sqlx::FromRow;
use time::OffsetDateTime;

use super::db::{self, Db, Value};
use super::error::StoreResult;
use super::sql::condition_sql;
use super::{seq_page, stored, timestamp, SeqCursor, Store, Writes};
use crate::query::audit::AuditQuery;

/// Who did something, as the audit log records it, and through which request (its id, when it
/// came through one: the caller knows it, the store does not).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub kind: ActorType,
    pub name: String,
    pub request_id: Option<String>,
    /// The client's address and user agent of that request.
    pub origin: Origin,
}

/// Where a request came from: its client's network address and its `User-Agent`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Origin {
    pub address: Option<String>,
    pub user_agent: Option<String>,
}

impl Actor {
    pub fn user(user_principal_name: &str) -> Self {
        Self {
            kind: ActorType::User,
            name: user_principal_name.to_owned(),
            request_id: None,
            origin: Default::default(),
        }
    }

    pub fn connector(id: &str) -> Self {
        Self {
            kind: ActorType::Connector,
            name: id.to_owned(),
            request_id: None,
            origin: Default::default(),
        }
    }

    pub fn system() -> Self {
        Self {
            kind: ActorType::System,
            name: "system".to_owned(),
            request_id: None,
            origin: Default::default(),
        }
    }

    /// The server's command line, named by the host account that ran it.
    pub fn command_line() -> Self {
        let account = std::env::var("USER")
            .or_else(|_| std::env::var("LOGNAME"))
            .unwrap_or_else(|_| "unknown".to_owned());
        Self {
            kind: ActorType::CommandLine,
            name: account,
            request_id: None,
            origin: Default::default(),
        }
    }

    /// The same actor, acting through the request `request_id` (none when it is empty).
    pub fn during(mut self, request_id: &str) -> Self {
        self.request_id = (!request_id.is_empty()).then(|| request_id.to_owned());
        self
    }

    /// The same actor, from where its request came (when known).
    pub fn from(mut self, origin: Option<Origin>) -> Self {
        self.origin = origin.unwrap_or_default();
        self
    }
}

/// One audit event before it is written, built from what happened and who did it:
/// `AuditEntry::new(activity, actor).on(id, name).details(..)`, `.failed()` for a refusal.
#[derive(Debug, Clone)]
pub struct AuditEntry<'a> {
    activity: AuditActivity,
    result: AuditResult,
    actor: &'a Actor,
    resource_id: Option<&'a str>,
    resource_name: Option<&'a str>,
    details: Option<String>,
}

impl<'a> AuditEntry<'a> {
    /// `actor` did `activity`, successfully.
    pub fn new(activity: AuditActivity, actor: &'a Actor) -> Self {
        Self {
            activity,
            result: AuditResult::Success,
            actor,
            resource_id: None,
            resource_name: None,
            details: None,
        }
    }

    /// The resource it was done to, with its readable name when it has one.
    pub fn on(mut self, id: &'a str, name: Option<&'a str>) -> Self {
        self.resource_id = Some(id);
        self.resource_name = name;
        self
    }

    /// What happened, in a sentence.
    pub fn details(mut self, details: impl Into<String>) -> Self {
        self.details = Some(details.into());
        self
    }

    /// It was refused or went wrong.
    pub fn failed(mut self) -> Self {
        self.result = AuditResult::Failure;
        self
    }

    /// The kind of resource each activity touches (the log's `resourceType`).
    fn resource_type(&self) -> &'static str {
        match self.activity {
            AuditActivity::SignIn | AuditActivity::SignOut => "session",
            AuditActivity::RequestConfigurationManagerAction
            | AuditActivity::ConfigurationManagerActionResult
            | AuditActivity::RunCmPivotQuery
            | AuditActivity::CmPivotQueryResult
            | AuditActivity::RunScript
            | AuditActivity::ScriptResult => "device",
            AuditActivity::CreateOnboardingToken => "onboardingToken",
            AuditActivity::OnboardConnector
            | AuditActivity::DeleteConnector
            | AuditActivity::CompleteOffboarding => "connector",
            AuditActivity::CreateUser
            | AuditActivity::UpdateUserRoles
            | AuditActivity::ResetPassword => "user",
            AuditActivity::CreateRoleDefinition
            | AuditActivity::DeleteRoleDefinition
            | AuditActivity::UpdateRoleAssignments => "roleDefinition",
            AuditActivity::RemoveAuditEvents => "auditLog",
            AuditActivity::ShareDeviceView | AuditActivity::DeleteDeviceView => "deviceView",
            AuditActivity::RequestBulkAction | AuditActivity::CancelBulkAction => "bulkAction",
        }
    }
}

/// Appends `entry` on `connection` (normally the change's own transaction), stamped with the
/// request id its actor acted through.
pub async fn append<'a>(
    connection: impl Into<super::db::On<'a>>,
    entry: &AuditEntry<'_>,
    now: OffsetDateTime,
) -> sqlx::Result<()> {
    db::query(
        "INSERT INTO audit_events (id, at, activity, result, actor_type, actor, resource_type,
            resource_id, resource_name, details, request_id, source_address, user_agent)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .prepared()
    .bind(uuid::Uuid::new_v4().to_string())
    .bind(timestamp(now))
    .bind(entry.activity.as_str())
    .bind(entry.result.as_str())
    .bind(entry.actor.kind.as_str())
    .bind(&entry.actor.name)
    .bind(entry.resource_type())
    .bind(entry.resource_id)
    .bind(entry.resource_name)
    .bind(&entry.details)
    .bind(entry.actor.request_id.as_deref())
    .bind(entry.actor.origin.address.as_deref())
    .bind(entry.actor.origin.user_agent.as_deref())
    .execute(connection)
    .await?;
    Ok(())
}

impl Store {
    /// Appends one event in a transaction of its own (for what changes nothing else, e.g. a
    /// failed sign-in).
    pub async fn append_audit(
        &self,
        entry: &AuditEntry<'_>,
        now: OffsetDateTime,
    ) -> StoreResult<()> {
        append(self.writer(), entry, now).await?;
        Ok(())
    }

    /// Removes up to `slice` of the oldest events from before `before`, and records the removal
    /// (how many, up to when, the retention) by the server in the same transaction; how many were
    /// removed. The delete trigger lets an event through only while this transaction's cutoff is
    /// written, and only when it is older than that cutoff: nothing else can remove an event.
    pub async fn remove_audit_events(
        &self,
        before: OffsetDateTime,
        slice: u32,
        retention: &str,
        now: OffsetDateTime,
    ) -> StoreResult<u64> {
        let cutoff = timestamp(before);
        // Most minutes there is nothing to remove: a read says so without taking the writer.
        let any: Option<i64> =
            db::query_scalar("SELECT seq FROM audit_events WHERE at < ? ORDER BY at LIMIT 1")
                .bind(&cutoff)
                .fetch_optional(self.read())
                .await?;
        if any.is_none() {
            return Ok(0);
        }
        let mut tx = self.begin_for(Writes::NoDevices).await?;
        db::query("INSERT INTO audit_retention_cutoff (before) VALUES (?)")
            .bind(&cutoff)
            .execute(&mut tx)
            .await?;
        // The oldest first (`at` and `seq` grow together but for clock changes).
        let newest_removed: Option<String> = db::query_scalar(
            "SELECT MAX(at) FROM (SELECT at FROM audit_events WHERE at < ? ORDER BY at, seq LIMIT ?) oldest",
        )
        .bind(&cutoff)
        .bind(i64::from(slice))
        .fetch_one(&mut tx)
        .await?;
        let removed = match &newest_removed {
            None => 0,
            Some(_) => {
                db::query(
                    "DELETE FROM audit_events WHERE seq IN
                        (SELECT seq FROM audit_events WHERE at < ? ORDER BY at, seq LIMIT ?)",
                )
                .bind(&cutoff)
                .bind(i64::from(slice))
                .execute(&mut tx)
                .await?
            }
        };
        db::query("DELETE FROM audit_retention_cutoff")
            .execute(&mut tx)
            .await?;
        if let Some(newest) = newest_removed.filter(|_| removed > 0) {
            let system = Actor::system();
            let entry =
                AuditEntry::new(AuditActivity::RemoveAuditEvents, &system).details(format!(
                    "Removed {removed} audit event{} older than the retention of {retention} \
                     (recorded before {cutoff}; the newest removed at {newest}).",
                    if removed == 1 { "" } else { "s" }
                ));
            append(&mut tx, &entry, now).await?;
        }
        tx.commit().await?;
        Ok(removed)
    }

    /// One page of audit events matching `filter`, newest first; the next page's cursor, and
    /// the number of matches when asked.
    pub async fn audit_events(
        &self,
        query: &AuditQuery,
        after: Option<&SeqCursor>,
        top: u32,
        count: bool,
    ) -> StoreResult<(Vec<AuditEvent>, Option<SeqCursor>, Option<u64>)> {
        audit_events_in(self.read(), query, after, top, count).await
    }
}

/// The audit log's columns in an export, in order.
pub const EXPORT_COLUMNS: &[&str] = &[
    "activityDateTime",
    "activity",
    "activityResult",
    "actorType",
    "actor",
    "resourceType",
    "resourceId",
    "resourceName",
    "details",
    "requestId",
    "sourceAddress",
    "userAgent",
];

impl Store {
    /// Every event matching `query`, newest first, sent to `sink` a page at a time (keyset pages,
    /// so memory stays flat however long the log), then `Done`. Stops when the receiver is gone or
    /// does not take a page within `stall`.
    pub async fn send_audit_csv(
        &self,
        query: AuditQuery,
        page: u32,
        stall: std::time::Duration,
        sink: tokio::sync::mpsc::Sender<StoreResult<super::devices::CsvChunk>>,
    ) {
        use super::devices::CsvChunk;
        let send = |item| super::devices::send_within(&sink, item, stall);
        let mut after: Option<SeqCursor> = None;
        loop {
            let (events, next, _) =
                match audit_events_in(self.read(), &query, after.as_ref(), page, false).await {
                    Ok(answer) => answer,
                    Err(error) => {
                        send(Err(error)).await;
                        return;
                    }
                };
            let rows = events.into_iter().map(export_record).collect();
            if !send(Ok(CsvChunk::Rows(rows))).await {
                return;
            }
            match next {
                Some(cursor) => after = Some(cursor),
                None => break,
            }
        }
        send(Ok(CsvChunk::Done)).await;
    }
}

/// An event as the cells of [`EXPORT_COLUMNS`].
fn export_record(event: AuditEvent) -> Vec<Option<String>> {
    vec![
        Some(event.activity_date_time),
        Some(event.activity.as_str().to_owned()),
        Some(event.activity_result.as_str().to_owned()),
        Some(event.actor_type.as_str().to_owned()),
        Some(event.actor),
        Some(event.resource_type),
        event.resource_id,
        event.resource_name,
        event.details,
        event.request_id,
        event.source_address,
        event.user_agent,
    ]
}

/// [`Store::audit_events`] on either backend.
pub async fn audit_events_in(
    db: Db<'_>,
    query: &AuditQuery,
    after: Option<&SeqCursor>,
    top: u32,
    count: bool,
) -> StoreResult<(Vec<AuditEvent>, Option<SeqCursor>, Option<u64>)> {
    let filter = query
        .filter
        .as_ref()
        .map(|condition| condition_sql(condition, db.dialect()));
    let condition = filter
        .as_ref()
        .map_or("1 = 1".to_owned(), |f| f.text.clone());
    let params: Vec<Value> = filter
        .map(|f| f.params.into_iter().map(Value::from).collect())
        .unwrap_or_default();
    let text = format!(
        "SELECT * FROM audit_events WHERE ({condition}) AND seq < ? ORDER BY seq DESC LIMIT ?"
    );
    let mut values = params.clone();
    values.push(after.map_or(i64::MAX, |cursor| cursor.seq).into());
    values.push((i64::from(top) + 1).into());
    let rows: Vec<AuditRow> = db.fetch_all(&text, &values).await?;
    let (rows, next) = seq_page(rows, top, |row| row.seq);
    let total = if count {
        let text = format!("SELECT COUNT(*) FROM audit_events WHERE {condition}");
        Some(db.fetch_number(&text, &params).await? as u64)
    } else {
        None
    };
    let events = rows
        .into_iter()
        .map(AuditEvent::try_from)
        .collect::<sqlx::Result<Vec<_>>>()?;
    Ok((events, next, total))
}

#[derive(Clone, FromRow)]
struct AuditRow {
    seq: i64,
    id: String,
    at: String,
    activity: String,
    result: String,
    actor_type: String,
    actor: String,
    resource_type: String,
    resource_id: Option<String>,
    resource_name: Option<String>,
    details: Option<String>,
    request_id: Option<String>,
    source_address: Option<String>,
    user_agent: Option<String>,
}

impl TryFrom<AuditRow> for AuditEvent {
    type Error = sqlx::Error;

    fn try_from(row: AuditRow) -> sqlx::Result<Self> {
        Ok(AuditEvent {
            id: row.id,
            activity_date_time: row.at,
            activity: stored("activity", &row.activity, AuditActivity::from_wire)?,
            activity_result: stored("result", &row.result, AuditResult::from_wire)?,
            actor_type: stored("actor_type", &row.actor_type, ActorType::from_wire)?,
            actor: row.actor,
            resource_type: row.resource_type,
            resource_id: row.resource_id,
            resource_name: row.resource_name,
            details: row.details,
            request_id: row.request_id,
            source_address: row.source_address,
            user_agent: row.user_agent,
        })
    }
}
