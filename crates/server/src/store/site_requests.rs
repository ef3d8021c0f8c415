//! Site requests (`admin_api::site_requests`): recorded for the device's connector, taken by it,
//! answered or failed, timed out by the sweeper, canceled by an offboarding, deleted a while
//! after they end. Each step writes its event with it, as actions do.

use admin_api::protocol::{SiteRequestOutcome, SiteRequestWork};
use admin_api::{AuditActivity, Event, SiteAnswer, SiteRequest, SiteRequestKind, SiteRequestState};
use sqlx::FromRow;
use time::OffsetDateTime;

use super::audit::{append, Actor, AuditEntry};
use super::db::{self, Tx};
use super::error::{StoreError, StoreResult};
use super::{parse_timestamp, stored, timestamp, write_event, Store, Writes};

/// A request for the device's site, as a user asked it.
pub struct SiteAsk<'a> {
    pub device_id: &'a str,
    pub kind: SiteRequestKind,
    pub query: Option<&'a str>,
    pub script_id: Option<&'a str>,
    pub requested_by: &'a Actor,
    /// Ask the site again even if a recent answer to the same reading is kept.
    pub refresh: bool,
}

/// The bounds a new request must fit.
#[derive(Debug, Clone, Copy)]
pub struct SiteRequestBounds {
    pub per_user: u32,
    pub per_connector: u32,
    /// How old an answered reading may be and still be shown instead of asking again.
    pub reading_kept: time::Duration,
}

/// Why a request for a device cannot go to its site now, in words, or `None` when it can.
struct DeviceAtSite {
    connector_id: String,
    device_name: String,
    offboarding: bool,
    site_version: Option<String>,
    last_heartbeat_at: Option<String>,
    has_client: bool,
}

impl Store {
    /// Records the request for the device's site, or returns the one standing for the same
    /// reading (in progress, or answered within `reading_kept` unless `refresh`). The flag says
    /// whether a new request was made (and the site must be woken).
    pub async fn ask_site(
        &self,
        ask: &SiteAsk<'_>,
        bounds: SiteRequestBounds,
        now: OffsetDateTime,
    ) -> StoreResult<(SiteRequest, bool)> {
        let mut tx = self.begin_for(Writes::NoDevices).await?;
        let device = device_at_site(&mut tx, ask.device_id).await?;
        self.check_reachable(&device, ask.kind, now)?;
        if ask.kind.is_reading() {
            let standing: Option<RequestRow> = db::query_as(
                "SELECT * FROM site_requests WHERE device_id = ? AND kind = ?
                   AND (state IN ('queued', 'running') OR (state = 'answered' AND last_updated_at >= ?))
                 ORDER BY seq DESC LIMIT 1",
            )
            .prepared()
            .bind(ask.device_id)
            .bind(ask.kind.as_str())
            .bind(timestamp(now - bounds.reading_kept))
            .fetch_optional(&mut tx)
            .await?;
            if let Some(row) = standing {
                let state = stored("state", &row.state, SiteRequestState::from_wire)?;
                if state.is_open() || !ask.refresh {
                    return Ok((row.into_request(true)?, false));
                }
            }
        }
        let (by_user, by_connector): (i64, i64) = db::query_as(
            "SELECT
                (SELECT COUNT(*) FROM site_requests WHERE requested_by = ? AND state IN ('queued', 'running')),
                (SELECT COUNT(*) FROM site_requests WHERE connector_id = ? AND state IN ('queued', 'running'))",
        )
        .prepared()
        .bind(&ask.requested_by.name)
        .bind(&device.connector_id)
        .fetch_one(&mut tx)
        .await?;
        if by_user >= i64::from(bounds.per_user) {
            return Err(StoreError::Bounded(format!(
                "You have {by_user} requests to sites in progress, the most one user may have: \
                 try again when one of them has ended."
            )));
        }
        if by_connector >= i64::from(bounds.per_connector) {
            return Err(StoreError::Bounded(format!(
                "The device's site has {by_connector} requests in progress, the most it is given \
                 at once: try again in a few seconds."
            )));
        }
        let at = timestamp(now);
        let id = uuid::Uuid::new_v4().to_string();
        db::query(
            "INSERT INTO site_requests (id, seq, device_id, connector_id, kind, state, requested_by,
                requested_at, last_updated_at, query, script_id)
             VALUES (?, (SELECT COALESCE(MAX(seq), 0) + 1 FROM site_requests), ?, ?, ?, 'queued', ?, ?, ?, ?, ?)",
        )
        .prepared()
        .bind(&id)
        .bind(ask.device_id)
        .bind(&device.connector_id)
        .bind(ask.kind.as_str())
        .bind(&ask.requested_by.name)
        .bind(&at)
        .bind(&at)
        .bind(ask.query)
        .bind(ask.script_id)
        .execute(&mut tx)
        .await?;
        let created = fetch(&mut tx, &id).await?;
        write_event(&mut tx, &Event::SiteRequest(created.clone()), now).await?;
        match ask.kind {
            SiteRequestKind::CmPivot => {
                let query = ask.query.unwrap_or_default();
                append(
                    &mut tx,
                    &AuditEntry::new(AuditActivity::RunCmPivotQuery, ask.requested_by)
                        .on(ask.device_id, Some(&device.device_name))
                        .details(format!("CMPivot query run (request {id}): {query}")),
                    now,
                )
                .await?;
                remember_query(&mut tx, &ask.requested_by.name, query, &at).await?;
            }
            SiteRequestKind::RunScript => {
                append(
                    &mut tx,
                    &AuditEntry::new(AuditActivity::RunScript, ask.requested_by)
                        .on(ask.device_id, Some(&device.device_name))
                        .details(format!(
                            "Script {} run (request {id}).",
                            ask.script_id.unwrap_or_default()
                        )),
                    now,
                )
                .await?;
            }
            _ => {}
        }
        tx.commit().await?;
        Ok((created, true))
    }

    /// Refuses, in words, a request the device's site cannot take now.
    fn check_reachable(
        &self,
        device: &DeviceAtSite,
        kind: SiteRequestKind,
        now: OffsetDateTime,
    ) -> StoreResult<()> {
        if device.offboarding {
            return Err(StoreError::Conflict(
                "The device's hierarchy is being offboarded: its site takes no more requests."
                    .into(),
            ));
        }
        let heard = device
            .last_heartbeat_at
            .as_deref()
            .and_then(parse_timestamp);
        match heard {
            None => {
                return Err(StoreError::Conflict(
                    "The device's site connector has never been heard from: nothing can be read from the site until it connects.".into(),
                ))
            }
            Some(at) if now - at > self.online_window => {
                return Err(StoreError::Conflict(format!(
                    "The device's site connector has been offline since {}: nothing can be read from the site until it is back.",
                    device.last_heartbeat_at.as_deref().unwrap_or_default()
                )))
            }
            Some(_) => {}
        }
        if let Some(version) = device
            .site_version
            .as_deref()
            .and_then(|v| v.parse::<u32>().ok())
        {
            if version < kind.minimum_site_version() {
                return Err(StoreError::Conflict(kind.too_old(version)));
            }
        }
        if !device.has_client {
            return Err(StoreError::Conflict(format!(
                "{} has no Configuration Manager client: {} needs one.",
                device.device_name,
                kind.page()
            )));
        }
        Ok(())
    }

    /// A site request, unless its hierarchy was offboarded, and its answer as the JSON the store
    /// keeps (written from a checked [`SiteAnswer`]): a page reads it as it is, without the server
    /// decoding and encoding an answer of up to a megabyte again.
    pub async fn site_request(
        &self,
        id: &str,
    ) -> StoreResult<Option<(SiteRequest, Option<String>)>> {
        let row: Option<RequestRow> = db::query_as(
            "SELECT * FROM site_requests WHERE id = ?
               AND connector_id IN (SELECT id FROM connectors WHERE removed_at IS NULL)",
        )
        .bind(id)
        .fetch_optional(self.read())
        .await?;
        row.map(|mut row| {
            let answer = row.answer.take();
            row.into_request(false).map(|request| (request, answer))
        })
        .transpose()
    }

    /// The requests waiting for a connector, oldest first, with who asked.
    pub async fn pending_site_requests(
        &self,
        connector_id: &str,
    ) -> StoreResult<Vec<SiteRequestWork>> {
        let rows: Vec<PendingRow> = db::query_as(
            "SELECT r.id, r.device_id, r.kind, r.query, r.script_id, r.requested_by,
                    u.display_name, u.object_id, u.onprem_sid
             FROM site_requests r LEFT JOIN users u ON u.user_name = r.requested_by
             WHERE r.connector_id = ? AND r.state = 'queued'
               -- The condition of the open-requests index (see `pending_actions`).
               AND r.state IN ('queued', 'running')
             ORDER BY r.connector_id, r.state, r.seq",
        )
        .bind(connector_id)
        .fetch_all(self.read())
        .await?;
        rows.into_iter()
            .map(|row| {
                Ok(SiteRequestWork {
                    kind: stored("kind", &row.kind, SiteRequestKind::from_wire)?,
                    id: row.id,
                    device_id: row.device_id,
                    query: row.query,
                    script_id: row.script_id,
                    requested_by: Some(super::actions::requester(
                        row.requested_by,
                        row.display_name,
                        row.object_id,
                        row.onprem_sid,
                    )),
                })
            })
            .collect()
    }

    /// The connector took the request: `queued` → `running`. Taking it again changes nothing.
    pub async fn accept_site_request(
        &self,
        connector_id: &str,
        id: &str,
        now: OffsetDateTime,
    ) -> StoreResult<Option<SiteRequest>> {
        let mut tx = self.begin_for(Writes::NoDevices).await?;
        let current = own(&mut tx, connector_id, id).await?;
        match current.state {
            SiteRequestState::Queued => {}
            SiteRequestState::Running => return Ok(None),
            other => {
                return Err(StoreError::Conflict(format!(
                    "The request '{id}' is already {other}: it can no longer be taken."
                )))
            }
        }
        db::query("UPDATE site_requests SET state = 'running', last_updated_at = ? WHERE id = ?")
            .prepared()
            .bind(timestamp(now))
            .bind(id)
            .execute(&mut tx)
            .await?;
        let updated = fetch(&mut tx, id).await?;
        write_event(&mut tx, &Event::SiteRequest(updated.clone()), now).await?;
        tx.commit().await?;
        Ok(Some(updated))
    }

    /// The site answered, or said why it could not. Reporting the same outcome again changes
    /// nothing; returns the request (without its answer) when its state changed.
    pub async fn answer_site_request(
        &self,
        connector_id: &str,
        id: &str,
        outcome: &SiteRequestOutcome,
        by: &Actor,
        now: OffsetDateTime,
    ) -> StoreResult<Option<SiteRequest>> {
        let mut tx = self.begin_for(Writes::NoDevices).await?;
        let current = own(&mut tx, connector_id, id).await?;
        let state = match &outcome.answer {
            Some(answer) if answer.kind() != current.kind => {
                return Err(StoreError::Invalid {
                    target: "answer.kind".into(),
                    message: format!(
                        "The request '{id}' asked for {}, not {}.",
                        current.kind,
                        answer.kind()
                    ),
                })
            }
            Some(_) => SiteRequestState::Answered,
            None => SiteRequestState::Failed,
        };
        if !current.state.is_open() {
            if current.state == state {
                return Ok(None);
            }
            return Err(StoreError::Conflict(format!(
                "The request '{id}' is already {}: its outcome can no longer change.",
                current.state
            )));
        }
        let answer = outcome
            .answer
            .as_ref()
            .map(serde_json::to_string)
            .transpose()
            .map_err(|e| StoreError::Internal(e.to_string()))?;
        db::query(
            "UPDATE site_requests SET state = ?, answer = ?, failure_message = ?,
                requester_at_site = ?, last_updated_at = ? WHERE id = ?",
        )
        .prepared()
        .bind(state.as_str())
        .bind(answer)
        .bind(&outcome.failure)
        .bind(&outcome.requester_at_site)
        .bind(timestamp(now))
        .bind(id)
        .execute(&mut tx)
        .await?;
        let updated = fetch(&mut tx, id).await?;
        write_event(&mut tx, &Event::SiteRequest(updated.clone()), now).await?;
        audit_outcome(&mut tx, &updated, outcome.answer.as_ref(), by, now).await?;
        tx.commit().await?;
        Ok(Some(updated))
    }

    /// Open requests made before `cutoff` time out; returns them as they are now.
    pub async fn time_out_site_requests(
        &self,
        cutoff: OffsetDateTime,
        now: OffsetDateTime,
    ) -> StoreResult<Vec<SiteRequest>> {
        let mut tx = self.begin_for(Writes::NoDevices).await?;
        let ids: Vec<String> = db::query_scalar(
            "UPDATE site_requests SET state = 'timedOut', last_updated_at = ?,
                failure_message = CASE state
                    WHEN 'running' THEN 'The device did not answer in time.'
                    ELSE 'The site''s connector did not take the request in time.' END
             WHERE state IN ('queued', 'running') AND requested_at <= ? RETURNING id",
        )
        .bind(timestamp(now))
        .bind(timestamp(cutoff))
        .fetch_all(&mut tx)
        .await?;
        let mut ended = Vec::with_capacity(ids.len());
        for id in ids {
            let request = fetch(&mut tx, &id).await?;
            write_event(&mut tx, &Event::SiteRequest(request.clone()), now).await?;
            audit_outcome(&mut tx, &request, None, &Actor::system(), now).await?;
            ended.push(request);
        }
        tx.commit().await?;
        Ok(ended)
    }

    /// Deletes requests that ended before `before` (their answers are not kept longer).
    pub async fn delete_ended_site_requests(&self, before: OffsetDateTime) -> StoreResult<u64> {
        let mut tx = self.begin_for(Writes::NoDevices).await?;
        let deleted = db::query(
            "DELETE FROM site_requests
             WHERE state NOT IN ('queued', 'running') AND last_updated_at <= ?",
        )
        .bind(timestamp(before))
        .execute(&mut tx)
        .await?;
        tx.commit().await?;
        Ok(deleted)
    }

    /// The user's recent CMPivot queries, the latest first.
    pub async fn recent_cmpivot_queries(&self, user_name: &str) -> StoreResult<Vec<String>> {
        Ok(db::query_scalar(
            "SELECT query FROM cmpivot_queries WHERE user_name = ?
             ORDER BY last_run_at DESC, query LIMIT ?",
        )
        .bind(user_name)
        .bind(admin_api::site_requests::RECENT_QUERIES)
        .fetch_all(self.read())
        .await?)
    }
}

/// Keeps the query among the user's recent ones (the latest [`RECENT_QUERIES`]).
///
/// [`RECENT_QUERIES`]: admin_api::site_requests::RECENT_QUERIES
async fn remember_query(tx: &mut Tx, user_name: &str, query: &str, at: &str) -> sqlx::Result<()> {
    db::query(
        "INSERT INTO cmpivot_queries (user_name, query, last_run_at) VALUES (?, ?, ?)
         ON CONFLICT (user_name, query) DO UPDATE SET last_run_at = excluded.last_run_at",
    )
    .prepared()
    .bind(user_name)
    .bind(query)
    .bind(at)
    .execute(&mut *tx)
    .await?;
    db::query(
        "DELETE FROM cmpivot_queries WHERE user_name = ? AND query NOT IN (
            SELECT query FROM cmpivot_queries WHERE user_name = ?
            ORDER BY last_run_at DESC, query LIMIT ?)",
    )
    .prepared()
    .bind(user_name)
    .bind(user_name)
    .bind(admin_api::site_requests::RECENT_QUERIES)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

async fn device_at_site(tx: &mut Tx, device_id: &str) -> StoreResult<DeviceAtSite> {
    #[allow(clippy::type_complexity)]
    let row: Option<(
        String,
        String,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
    )> = db::query_as(
        "SELECT d.connector_id, d.device_name, c.offboard_requested_at, c.site_version,
                c.last_heartbeat_at, d.client_identifier, d.client_version
         FROM devices d JOIN connectors c ON c.id = d.connector_id
         WHERE d.id = ? AND c.removed_at IS NULL AND d.device_set = c.device_set",
    )
    .prepared()
    .bind(device_id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((connector_id, device_name, offboarding, site_version, heard, client, version)) = row
    else {
        return Err(StoreError::NotFound(format!(
            "There is no device with id '{device_id}'."
        )));
    };
    Ok(DeviceAtSite {
        connector_id,
        device_name,
        offboarding: offboarding.is_some(),
        site_version,
        last_heartbeat_at: heard,
        has_client: client.is_some() || version.is_some(),
    })
}

/// Records how a CMPivot query or a script run ended (readings are not audited: they change
/// nothing).
async fn audit_outcome(
    tx: &mut Tx,
    request: &SiteRequest,
    answer: Option<&SiteAnswer>,
    actor: &Actor,
    now: OffsetDateTime,
) -> sqlx::Result<()> {
    let activity = match request.kind {
        SiteRequestKind::CmPivot => AuditActivity::CmPivotQueryResult,
        SiteRequestKind::RunScript => AuditActivity::ScriptResult,
        _ => return Ok(()),
    };
    let device_name: Option<String> = db::query_scalar(
        "SELECT d.device_name FROM devices d JOIN connectors c ON c.id = d.connector_id
             WHERE d.id = ? AND d.device_set = c.device_set",
    )
    .prepared()
    .bind(&request.device_id)
    .fetch_optional(&mut *tx)
    .await?;
    let what = match answer {
        Some(SiteAnswer::CmPivot(result)) => format!(
            "CMPivot query answered with {} row(s){}",
            result.table.row_count,
            if result.table.is_truncated() {
                format!(" ({} kept)", result.table.rows.len())
            } else {
                String::new()
            }
        ),
        Some(SiteAnswer::RunScript(run)) => format!(
            "Script '{}' ran, exit code {}",
            run.script_name,
            run.exit_code
                .map_or_else(|| "unknown".to_owned(), |code| code.to_string())
        ),
        _ => format!(
            "{} {}",
            match request.kind {
                SiteRequestKind::CmPivot => "CMPivot query",
                _ => "Script run",
            },
            request.state
        ),
    };
    let entry = AuditEntry::new(activity, actor)
        .on(&request.device_id, device_name.as_deref())
        .details(format!(
            "{what} (request {}); requested by {}{}.{}",
            request.id,
            request.requested_by,
            request
                .requester_at_site
                .as_deref()
                .map(|seen| format!(", whom the site knows as {seen}"))
                .unwrap_or_default(),
            request
                .failure_message
                .as_deref()
                .map(|message| format!(" {message}"))
                .unwrap_or_default()
        ));
    let entry = if request.state == SiteRequestState::Answered {
        entry
    } else {
        entry.failed()
    };
    append(tx, &entry, now).await
}

/// Cancels a connector's open requests inside an offboarding's transaction.
pub(super) async fn cancel_open(
    tx: &mut Tx,
    connector_id: &str,
    actor: &Actor,
    now: OffsetDateTime,
) -> sqlx::Result<Vec<SiteRequest>> {
    let rows: Vec<RequestRow> = db::query_as(
        "UPDATE site_requests SET state = 'canceled', last_updated_at = ?,
            failure_message = 'The hierarchy was offboarded.'
         WHERE connector_id = ? AND state IN ('queued', 'running') RETURNING *",
    )
    .bind(timestamp(now))
    .bind(connector_id)
    .fetch_all(&mut *tx)
    .await?;
    let mut canceled = Vec::with_capacity(rows.len());
    for row in rows {
        let request = row
            .into_request(false)
            .map_err(|e| sqlx::Error::Decode(e.to_string().into()))?;
        write_event(tx, &Event::SiteRequest(request.clone()), now).await?;
        audit_outcome(tx, &request, None, actor, now).await?;
        canceled.push(request);
    }
    Ok(canceled)
}

/// A request as its event carries it (without its answer).
async fn fetch(tx: &mut Tx, id: &str) -> StoreResult<SiteRequest> {
    let row: RequestRow = db::query_as("SELECT * FROM site_requests WHERE id = ?")
        .prepared()
        .bind(id)
        .fetch_one(&mut *tx)
        .await?;
    row.into_request(false)
}

/// The request if it is this connector's; a connector sees no other's.
async fn own(tx: &mut Tx, connector_id: &str, id: &str) -> StoreResult<SiteRequest> {
    let row: Option<RequestRow> =
        db::query_as("SELECT * FROM site_requests WHERE id = ? AND connector_id = ?")
            .prepared()
            .bind(id)
            .bind(connector_id)
            .fetch_optional(&mut *tx)
            .await?;
    row.map(|row| row.into_request(false))
        .transpose()?
        .ok_or_else(|| {
            StoreError::NotFound(format!("There is no request '{id}' for this connector."))
        })
}

#[derive(FromRow)]
struct PendingRow {
    id: String,
    device_id: String,
    kind: String,
    query: Option<String>,
    script_id: Option<String>,
    requested_by: String,
    display_name: Option<String>,
    object_id: Option<String>,
    onprem_sid: Option<String>,
}

#[derive(FromRow)]
struct RequestRow {
    id: String,
    device_id: String,
    kind: String,
    state: String,
    requested_by: String,
    requested_at: String,
    last_updated_at: String,
    query: Option<String>,
    script_id: Option<String>,
    failure_message: Option<String>,
    requester_at_site: Option<String>,
    answer: Option<String>,
}

impl RequestRow {
    fn into_request(self, with_answer: bool) -> StoreResult<SiteRequest> {
        let answer = match (with_answer, self.answer.as_deref()) {
            (true, Some(json)) => {
                Some(
                    serde_json::from_str(json).map_err(|e| sqlx::Error::ColumnDecode {
                        index: "answer".into(),
                        source: Box::new(e),
                    })?,
                )
            }
            _ => None,
        };
        Ok(SiteRequest {
            kind: stored("kind", &self.kind, SiteRequestKind::from_wire)?,
            state: stored("state", &self.state, SiteRequestState::from_wire)?,
            id: self.id,
            device_id: self.device_id,
            requested_by: self.requested_by,
            requested_date_time: self.requested_at,
            last_updated_date_time: self.last_updated_at,
            query: self.query,
            script_id: self.script_id,
            failure_message: self.failure_message,
            requester_at_site: self.requester_at_site,
            answer,
        })
    }
}
