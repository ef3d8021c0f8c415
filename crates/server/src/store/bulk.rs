//! Bulk actions: one ConfigMgr action on every device a query matches, as a job. Starting one
//! counts the matching devices and queues each one's action in one statement, in one transaction
//! with the job and its audit entry; the connectors then take them as they take any action (a page
//! a poll). The job's counts are read from its actions.

use admin_api::bulk::{BulkAction, BulkActionState, BulkConnectorCounts, BulkCounts};
use admin_api::{AuditActivity, ConfigurationManagerActionType, DeviceAction, Event};
use sqlx::FromRow;
use time::OffsetDateTime;

use super::actions::{audit_result, fetch_action};
use super::audit::{append, Actor, AuditEntry};
use super::db::{self, On, Tx, Value};
use super::devices::statements::{conditions, Shown};
use super::error::{StoreError, StoreResult};
use super::sql::Dialect;
use super::{stored, timestamp, write_event, Store, Writes};
use crate::query::devices::DeviceQuery;

/// What a bulk action is asked to do.
pub struct BulkRequest<'a> {
    pub action: ConfigurationManagerActionType,
    pub query: &'a DeviceQuery,
    pub search: Option<&'a str>,
    pub filter: Option<&'a str>,
    pub all_devices: bool,
    pub confirmed_count: u64,
    /// Devices it may reach at most.
    pub limit: u64,
    pub requested_by: &'a Actor,
}

#[derive(Debug, Clone, FromRow)]
struct BulkRow {
    id: String,
    requested_by: String,
    action: String,
    search: Option<String>,
    filter: Option<String>,
    all_devices: bool,
    confirmed_count: i64,
    matched_count: i64,
    already_open_count: i64,
    state: String,
    requested_at: String,
    last_updated_at: String,
    announced: Option<String>,
}

#[derive(Debug, Clone, FromRow)]
struct CountRow {
    connector_id: String,
    hierarchy_name: Option<String>,
    action_state: String,
    n: i64,
}

impl Store {
    /// Starts a bulk action: refused while the requester has one running, and when more devices
    /// match than `limit`. The devices whose same action is already open are not asked again.
    /// Returns the job and the connectors to wake.
    pub async fn start_bulk_action(
        &self,
        request: &BulkRequest<'_>,
        now: OffsetDateTime,
    ) -> StoreResult<(BulkAction, Vec<String>)> {
        let mut tx = self.begin_for(Writes::NoDevices).await?;
        let running: Option<String> = db::query_scalar(
            "SELECT id FROM bulk_actions WHERE requested_by = ? AND state = 'running' LIMIT 1",
        )
        .bind(&request.requested_by.name)
        .fetch_optional(&mut tx)
        .await?;
        if let Some(running) = running {
            return Err(StoreError::Conflict(format!(
                "Your bulk action {running} is still running: wait for it to end, or cancel it, before starting another."
            )));
        }
        let dialect = tx.dialect();
        let removed = self.removed.ids();
        let shown = match dialect {
            Dialect::Sqlite => Shown::Sqlite {
                removed: &removed,
                by_set: false,
            },
            Dialect::Postgres => Shown::Postgres,
        };
        let matching = conditions(request.query, None, shown);
        let taking = format!(
            "{} AND connector_id IN (SELECT id FROM connectors WHERE offboard_requested_at IS NULL)",
            matching.text
        );
        let params: Vec<Value> = matching.params.into_iter().map(Value::from).collect();
        let matched =
            db::query_scalar::<i64>(format!("SELECT COUNT(*) FROM devices WHERE {taking}"))
                .bind_all(params.iter().cloned())
                .fetch_one(&mut tx)
                .await? as u64;
        if matched > request.limit {
            return Err(StoreError::Invalid {
                target: "filter".into(),
                message: format!(
                    "{matched} devices match; a bulk action reaches at most {}. Narrow the filter, or run it in parts.",
                    request.limit
                ),
            });
        }
        if matched == 0 {
            return Err(StoreError::Conflict(
                "No device matches now: nothing was asked.".into(),
            ));
        }
        let open = "EXISTS (SELECT 1 FROM device_actions a WHERE a.device_id = devices.id
            AND a.action = ? AND a.action_state IN ('pending', 'active'))";
        let already_open = db::query_scalar::<i64>(format!(
            "SELECT COUNT(*) FROM devices WHERE {taking} AND {open}"
        ))
        .bind_all(params.iter().cloned())
        .bind(request.action.as_str())
        .fetch_one(&mut tx)
        .await? as u64;
        let id = uuid::Uuid::new_v4().to_string();
        let at = timestamp(now);
        // One statement queues every device's action, in connector order; the ids are the job's
        // followed by a number, the delivery order after every action before.
        let queued = db::query(format!(
            "INSERT INTO device_actions (id, seq, device_id, connector_id, action, action_state,
                requested_by, requested_at, last_updated_at, bulk_id)
             SELECT CAST(? AS TEXT) || '-' || ROW_NUMBER() OVER (ORDER BY connector_id, id),
                (SELECT COALESCE(MAX(seq), 0) FROM device_actions) + ROW_NUMBER() OVER (ORDER BY connector_id, id),
                id, connector_id, ?, 'pending', ?, ?, ?, ?
             FROM devices WHERE {taking} AND NOT {open}"
        ))
        .bind(&id)
        .bind(request.action.as_str())
        .bind(&request.requested_by.name)
        .bind(&at)
        .bind(&at)
        .bind(&id)
        .bind_all(params.iter().cloned())
        .bind(request.action.as_str())
        .execute(&mut tx)
        .await?;
        db::query(
            "INSERT INTO bulk_actions (id, requested_by, action, search, filter, all_devices,
                confirmed_count, matched_count, already_open_count, state, requested_at, last_updated_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'running', ?, ?)",
        )
        .bind(&id)
        .bind(&request.requested_by.name)
        .bind(request.action.as_str())
        .bind(request.search)
        .bind(request.filter)
        .bind(request.all_devices)
        .bind(request.confirmed_count as i64)
        .bind(matched as i64)
        .bind(already_open as i64)
        .bind(&at)
        .bind(&at)
        .execute(&mut tx)
        .await?;
        let changed = match matched == request.confirmed_count {
            true => String::new(),
            false => format!(
                " The devices changed after they were counted: {} confirmed, {matched} matched when it started.",
                request.confirmed_count
            ),
        };
        let what = match (request.all_devices, request.search, request.filter) {
            (true, _, _) => "all devices".to_owned(),
            (false, search, filter) => [
                search.map(|s| format!("search {s}")),
                filter.map(|f| format!("filter {f}")),
            ]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(", "),
        };
        append(
            &mut tx,
            &AuditEntry::new(AuditActivity::RequestBulkAction, request.requested_by)
                .on(&id, None)
                .details(format!(
                    "{} requested on {queued} devices matching {what} ({already_open} had it open already).{changed}",
                    request.action
                )),
            now,
        )
        .await?;
        let job = bulk_in(&mut tx, &id).await?;
        write_event(&mut tx, &Event::BulkAction(job.clone()), now).await?;
        tx.commit().await?;
        let connectors = job
            .connectors
            .iter()
            .map(|c| c.connector_id.clone())
            .collect();
        Ok((job, connectors))
    }

    /// A bulk action as it stands (read without the writer).
    pub async fn bulk_action(&self, id: &str) -> StoreResult<Option<BulkAction>> {
        let Some(row) = bulk_row(self.read(), id).await? else {
            return Ok(None);
        };
        let counts = bulk_counts(self.read(), id).await?;
        assembled(row, counts).map(Some)
    }

    /// Cancels a running bulk action of `by`'s: the job is `canceled` at once (audited), then
    /// its actions not yet taken by a site are canceled a slice at a time
    /// ([`Store::cancel_bulk_slice`]); those taken run on.
    pub async fn cancel_bulk_action(
        &self,
        id: &str,
        by: &Actor,
        now: OffsetDateTime,
    ) -> StoreResult<BulkAction> {
        let mut tx = self.begin_for(Writes::NoDevices).await?;
        let row: Option<BulkRow> = db::query_as("SELECT * FROM bulk_actions WHERE id = ?")
            .bind(id)
            .fetch_optional(&mut tx)
            .await?;
        let Some(row) = row else {
            return Err(StoreError::NotFound(format!(
                "No bulk action has the id '{id}'."
            )));
        };
        if row.requested_by != by.name {
            return Err(StoreError::Refused(format!(
                "Only who started it, {}, cancels this bulk action.",
                row.requested_by
            )));
        }
        if row.state != BulkActionState::Running.as_str() {
            return Err(StoreError::Conflict(format!(
                "The bulk action is {} already: there is nothing to cancel.",
                row.state
            )));
        }
        let pending = db::query_scalar::<i64>(
            "SELECT COUNT(*) FROM device_actions WHERE bulk_id = ? AND action_state = 'pending'",
        )
        .bind(id)
        .fetch_one(&mut tx)
        .await?;
        db::query("UPDATE bulk_actions SET state = 'canceled', last_updated_at = ? WHERE id = ?")
            .bind(timestamp(now))
            .bind(id)
            .execute(&mut tx)
            .await?;
        append(
            &mut tx,
            &AuditEntry::new(AuditActivity::CancelBulkAction, by)
                .on(id, None)
                .details(format!(
                    "{} canceled: the {pending} devices' actions not yet taken by their site are canceled.",
                    row.action
                )),
            now,
        )
        .await?;
        tx.commit().await?;
        self.bulk_action(id)
            .await?
            .ok_or_else(|| StoreError::Internal("a canceled bulk action vanished".into()))
    }

    /// Cancels up to [`ENDED_PER_TRANSACTION`] of a canceled job's actions that no site has taken,
    /// each audited as an action's end is; returns them (fewer than the slice: none is left).
    ///
    /// [`ENDED_PER_TRANSACTION`]: super::actions::ENDED_PER_TRANSACTION
    pub async fn cancel_bulk_slice(
        &self,
        id: &str,
        by: &Actor,
        now: OffsetDateTime,
    ) -> StoreResult<Vec<DeviceAction>> {
        let mut tx = self.begin_for(Writes::NoDevices).await?;
        let ids: Vec<String> = db::query_scalar(
            "UPDATE device_actions SET action_state = 'canceled', last_updated_at = ?,
                result_message = ?
             WHERE id IN (SELECT id FROM device_actions
                 WHERE bulk_id = ? AND action_state = 'pending' LIMIT ?)
             RETURNING id",
        )
        .bind(timestamp(now))
        .bind(format!("Canceled with its bulk action by {}.", by.name))
        .bind(id)
        .bind(super::actions::ENDED_PER_TRANSACTION)
        .fetch_all(&mut tx)
        .await?;
        let mut canceled = Vec::with_capacity(ids.len());
        for action_id in ids {
            let action = fetch_action(&mut tx, &action_id).await?;
            write_event(&mut tx, &Event::DeviceAction(action.clone()), now).await?;
            audit_result(&mut tx, &action, None, by, now).await?;
            canceled.push(action);
        }
        tx.commit().await?;
        Ok(canceled)
    }

    /// Canceled jobs that still have actions no site has taken (their cancellation was cut short
    /// by a restart, say).
    pub async fn unfinished_cancellations(&self) -> StoreResult<Vec<String>> {
        Ok(db::query_scalar(
            "SELECT b.id FROM bulk_actions b WHERE b.state = 'canceled' AND EXISTS
                (SELECT 1 FROM device_actions a WHERE a.bulk_id = b.id AND a.action_state = 'pending')",
        )
        .fetch_all(self.read())
        .await?)
    }

    /// Announces a job as it stands (after its cancellation ended, say).
    pub async fn announce_bulk_action(
        &self,
        id: &str,
        now: OffsetDateTime,
    ) -> StoreResult<BulkAction> {
        let mut tx = self.begin_for(Writes::NoDevices).await?;
        let job = bulk_in(&mut tx, id).await?;
        let counts = serde_json::to_string(&job.counts).expect("counts serialize");
        db::query("UPDATE bulk_actions SET announced = ? WHERE id = ?")
            .bind(&counts)
            .bind(id)
            .execute(&mut tx)
            .await?;
        write_event(&mut tx, &Event::BulkAction(job.clone()), now).await?;
        tx.commit().await?;
        Ok(job)
    }

    /// The running jobs whose counts changed since they were last announced: each as it stands
    /// now, `completed` once none of its actions is open.
    pub async fn bulk_progress(&self, now: OffsetDateTime) -> StoreResult<Vec<BulkAction>> {
        let running: Vec<String> =
            db::query_scalar("SELECT id FROM bulk_actions WHERE state = 'running'")
                .fetch_all(self.read())
                .await?;
        let mut moved = Vec::new();
        for id in running {
            // Read first, without the writer: most seconds nothing moved.
            let Some(row) = bulk_row(self.read(), &id).await? else {
                continue;
            };
            let announced = row.announced.clone();
            let job = assembled(row, bulk_counts(self.read(), &id).await?)?;
            let counts = serde_json::to_string(&job.counts).expect("counts serialize");
            let open = job.counts.pending + job.counts.delivered;
            if announced.as_deref() == Some(counts.as_str()) && open > 0 {
                continue;
            }
            let mut tx = self.begin_for(Writes::NoDevices).await?;
            let mut job = bulk_in(&mut tx, &id).await?;
            if job.state != BulkActionState::Running {
                continue;
            }
            let counts = serde_json::to_string(&job.counts).expect("counts serialize");
            let open = job.counts.pending + job.counts.delivered;
            if open == 0 {
                job.state = BulkActionState::Completed;
            }
            job.last_updated_date_time = timestamp(now);
            db::query(
                "UPDATE bulk_actions SET announced = ?, state = ?, last_updated_at = ? WHERE id = ?",
            )
            .bind(&counts)
            .bind(job.state.as_str())
            .bind(&job.last_updated_date_time)
            .bind(&id)
            .execute(&mut tx)
            .await?;
            write_event(&mut tx, &Event::BulkAction(job.clone()), now).await?;
            tx.commit().await?;
            moved.push(job);
        }
        Ok(moved)
    }
}

/// The job `id` with its counts, per connector and in all, in `tx`.
async fn bulk_in(tx: &mut Tx, id: &str) -> StoreResult<BulkAction> {
    let row = bulk_row(&mut *tx, id)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("No bulk action has the id '{id}'.")))?;
    let counts = bulk_counts(&mut *tx, id).await?;
    assembled(row, counts)
}

async fn bulk_row<'a>(on: impl Into<On<'a>>, id: &str) -> sqlx::Result<Option<BulkRow>> {
    db::query_as("SELECT * FROM bulk_actions WHERE id = ?")
        .bind(id)
        .fetch_optional(on)
        .await
}

/// How many of the job's actions are in each state, per connector.
async fn bulk_counts<'a>(on: impl Into<On<'a>>, id: &str) -> sqlx::Result<Vec<CountRow>> {
    db::query_as(
        "SELECT a.connector_id, c.hierarchy_name, a.action_state, COUNT(*) AS n
         FROM device_actions a LEFT JOIN connectors c ON c.id = a.connector_id
         WHERE a.bulk_id = ?
         GROUP BY a.connector_id, c.hierarchy_name, a.action_state
         ORDER BY a.connector_id",
    )
    .bind(id)
    .fetch_all(on)
    .await
}

/// The job as the API gives it.
fn assembled(row: BulkRow, counts: Vec<CountRow>) -> StoreResult<BulkAction> {
    let mut total = BulkCounts::default();
    let mut connectors: Vec<BulkConnectorCounts> = Vec::new();
    for count in counts {
        if connectors.last().map(|c| &c.connector_id) != Some(&count.connector_id) {
            connectors.push(BulkConnectorCounts {
                connector_id: count.connector_id.clone(),
                hierarchy_name: count.hierarchy_name.clone(),
                counts: BulkCounts::default(),
            });
        }
        let n = count.n as u64;
        let of = connectors.last_mut().expect("just pushed");
        for counts in [&mut of.counts, &mut total] {
            let slot = match count.action_state.as_str() {
                "pending" => &mut counts.pending,
                "active" => &mut counts.delivered,
                "done" => &mut counts.succeeded,
                "failed" => &mut counts.failed,
                "timedOut" => &mut counts.timed_out,
                _ => &mut counts.canceled,
            };
            *slot += n;
        }
    }
    Ok(BulkAction {
        id: row.id,
        action: stored(
            "action",
            &row.action,
            ConfigurationManagerActionType::from_wire,
        )?,
        state: stored("state", &row.state, BulkActionState::from_wire)?,
        requested_by: row.requested_by,
        requested_date_time: row.requested_at,
        last_updated_date_time: row.last_updated_at,
        search: row.search,
        filter: row.filter,
        all_devices: row.all_devices,
        confirmed_count: row.confirmed_count as u64,
        matched_count: row.matched_count as u64,
        already_open_count: row.already_open_count as u64,
        counts: total,
        connectors,
    })
}
