//! The audit log: appended inside the transaction of the change it records (so a change and its
//! record land together or not at all), read newest first with `$filter` and keyset paging.

use admin_api::{ActorType, AuditActivity, AuditEvent, AuditResult};
use sqlx::FromRow;
use time::OffsetDateTime;

use super::db::{self, Db, Value};
use super::error::StoreResult;
use super::sql::condition_sql;
use super::{seq_page, stored, timestamp, SeqCursor, Store};
use crate::query::audit::AuditQuery;

/// Who did something, as the audit log records it, and through which request (its id, when it
/// came through one: the caller knows it, the store does not).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub kind: ActorType,
    pub name: String,
    pub request_id: Option<String>,
}

impl Actor {
    pub fn user(user_principal_name: &str) -> Self {
        Self {
            kind: ActorType::User,
            name: user_principal_name.to_owned(),
            request_id: None,
        }
    }

    pub fn connector(id: &str) -> Self {
        Self {
            kind: ActorType::Connector,
            name: id.to_owned(),
            request_id: None,
        }
    }

    pub fn system() -> Self {
        Self {
            kind: ActorType::System,
            name: "system".to_owned(),
            request_id: None,
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
        }
    }

    /// The same actor, acting through the request `request_id` (none when it is empty).
    pub fn during(mut self, request_id: &str) -> Self {
        self.request_id = (!request_id.is_empty()).then(|| request_id.to_owned());
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
            resource_id, resource_name, details, request_id)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
        })
    }
}
