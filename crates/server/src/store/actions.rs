use super::db::{self, Tx};
use admin_api::protocol::{ActionResult, SiteAction};
use admin_api::{ActionState, AuditActivity, ConfigurationManagerActionType, DeviceAction, Event};
use sqlx::FromRow;
use time::OffsetDateTime;

use super::audit::{append, Actor, AuditEntry};
use super::error::{StoreError, StoreResult};
use super::{seq_page, stored, timestamp, write_event, SeqCursor, Store, Writes};

/// Actions ended (timed out, canceled with their bulk action) in one transaction at most, each
/// with its audit entry: a bulk action's 100,000 end in slices that leave the writer to others
/// between them.
pub const ENDED_PER_TRANSACTION: i64 = 1_000;

/// Actions one poll hands a site at most.
pub const ACTIONS_PER_POLL: i64 = 500;

/// A request to run an action on a device.
pub struct ActionRequest<'a> {
    pub device_id: &'a str,
    pub action: ConfigurationManagerActionType,
    pub requested_by: &'a Actor,
    pub idempotency_key: Option<&'a str>,
}

impl Store {
    /// Queues the action, or returns the one already standing for the same request: the same
    /// idempotency key, or an identical action on the device that is still pending or active.
    /// The flag says whether a new action was made.
    pub async fn trigger_action(
        &self,
        request: &ActionRequest<'_>,
        now: OffsetDateTime,
    ) -> StoreResult<(DeviceAction, bool)> {
        let mut tx = self.begin_for(Writes::NoDevices).await?;
        if let Some(key) = request.idempotency_key {
            let existing: Option<ActionRow> = db::query_as(
                "SELECT * FROM device_actions WHERE device_id = ? AND idempotency_key = ?",
            )
            .prepared()
            .bind(request.device_id)
            .bind(key)
            .fetch_optional(&mut tx)
            .await?;
            if let Some(existing) = existing {
                let existing = DeviceAction::try_from(existing)?;
                if existing.action != request.action {
                    return Err(StoreError::Conflict(format!(
                        "The Idempotency-Key '{key}' was used for another action on this device."
                    )));
                }
                return Ok((existing, false));
            }
        }
        let device: Option<(String, Option<String>, String)> = db::query_as(
            "SELECT d.connector_id, c.offboard_requested_at, d.device_name FROM devices d
             JOIN connectors c ON c.id = d.connector_id
             WHERE d.id = ? AND c.removed_at IS NULL AND d.device_set = c.device_set",
        )
        .prepared()
        .bind(request.device_id)
        .fetch_optional(&mut tx)
        .await?;
        let Some((connector_id, offboarding, device_name)) = device else {
            return Err(StoreError::NotFound(format!(
                "There is no device with id '{}'.",
                request.device_id
            )));
        };
        if offboarding.is_some() {
            return Err(StoreError::Conflict(
                "The device's hierarchy is being offboarded: it takes no more actions.".into(),
            ));
        }
        let open: Option<ActionRow> = db::query_as(
            "SELECT * FROM device_actions WHERE device_id = ? AND action = ?
               AND action_state IN ('pending', 'active') ORDER BY seq DESC LIMIT 1",
        )
        .prepared()
        .bind(request.device_id)
        .bind(request.action.as_str())
        .fetch_optional(&mut tx)
        .await?;
        if let Some(open) = open {
            return Ok((DeviceAction::try_from(open)?, false));
        }
        let at = timestamp(now);
        let id = uuid::Uuid::new_v4().to_string();
        db::query(
            "INSERT INTO device_actions (id, seq, device_id, connector_id, action, action_state,
                requested_by, requested_at, last_updated_at, idempotency_key)
             VALUES (?, (SELECT COALESCE(MAX(seq), 0) + 1 FROM device_actions), ?, ?, ?, 'pending', ?, ?, ?, ?)",
        )
        .prepared()
        .bind(&id)
        .bind(request.device_id)
        .bind(&connector_id)
        .bind(request.action.as_str())
        .bind(&request.requested_by.name)
        .bind(&at)
        .bind(&at)
        .bind(request.idempotency_key)
        .execute(&mut tx)
        .await?;
        let created = fetch_action(&mut tx, &id).await?;
        write_event(&mut tx, &Event::DeviceAction(created.clone()), now).await?;
        append(
            &mut tx,
            &AuditEntry::new(
                AuditActivity::RequestConfigurationManagerAction,
                request.requested_by,
            )
            .on(request.device_id, Some(&device_name))
            .details(format!("{} requested (action {id}).", request.action)),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok((created, true))
    }

    /// An action, unless its hierarchy was offboarded: then it is gone with its devices.
    pub async fn device_action(&self, id: &str) -> StoreResult<Option<DeviceAction>> {
        let row: Option<ActionRow> = db::query_as(
            "SELECT * FROM device_actions WHERE id = ?
               AND connector_id IN (SELECT id FROM connectors WHERE removed_at IS NULL)",
        )
        .bind(id)
        .fetch_optional(self.read())
        .await?;
        row.map(DeviceAction::try_from).transpose()
    }

    /// One page of a device's actions, newest first; the cursor of the next page if there is one.
    pub async fn device_actions(
        &self,
        device_id: &str,
        after: Option<&SeqCursor>,
        top: u32,
    ) -> StoreResult<(Vec<DeviceAction>, Option<SeqCursor>)> {
        let limit = i64::from(top) + 1;
        // Request order, not the timestamp: several requests share a second.
        let rows: Vec<ActionRow> = db::query_as(
            "SELECT * FROM device_actions WHERE device_id = ? AND seq < ?
               AND connector_id IN (SELECT id FROM connectors WHERE removed_at IS NULL)
             ORDER BY seq DESC LIMIT ?",
        )
        .bind(device_id)
        .bind(after.map_or(i64::MAX, |cursor| cursor.seq))
        .bind(limit)
        .fetch_all(self.read())
        .await?;
        let (rows, next) = seq_page(rows, top, |row| row.seq);
        let actions = rows
            .into_iter()
            .map(DeviceAction::try_from)
            .collect::<StoreResult<Vec<_>>>()?;
        Ok((actions, next))
    }

    /// The actions waiting for a connector, oldest first, a page of [`ACTIONS_PER_POLL`] at most
    /// (a bulk action of many devices reaches its site a page a poll).
    /// Each names who asked for it, as the site checks them: their name, display name, Entra
    /// object id and on-premises SID where known.
    pub async fn pending_actions(&self, connector_id: &str) -> StoreResult<Vec<SiteAction>> {
        let rows: Vec<PendingRow> = db::query_as(
            "SELECT a.id, a.device_id, a.action, a.requested_by, u.display_name, u.object_id, u.onprem_sid
             FROM device_actions a LEFT JOIN users u ON u.user_name = a.requested_by
             WHERE a.connector_id = ? AND a.action_state = 'pending'
               -- Names the condition of the open-actions index, so that SQLite reads that index
               -- (in its order) rather than every action ever requested in `seq` order.
               AND a.action_state IN ('pending', 'active')
             ORDER BY a.connector_id, a.action_state, a.seq LIMIT ?",
        )
        .bind(connector_id)
        .bind(ACTIONS_PER_POLL)
        .fetch_all(self.read())
        .await?;
        rows.into_iter()
            .map(|row| {
                Ok(SiteAction {
                    id: row.id,
                    device_id: row.device_id,
                    action: stored(
                        "action",
                        &row.action,
                        ConfigurationManagerActionType::from_wire,
                    )?,
                    requested_by: Some(requester(
                        row.requested_by,
                        row.display_name,
                        row.object_id,
                        row.onprem_sid,
                    )),
                })
            })
            .collect()
    }

    /// The connector took the action: `pending` → `active`. Taking it again changes nothing.
    /// Returns the action when its state changed.
    pub async fn accept_action(
        &self,
        connector_id: &str,
        id: &str,
        now: OffsetDateTime,
    ) -> StoreResult<Option<DeviceAction>> {
        let mut tx = self.begin_for(Writes::NoDevices).await?;
        let current = own_action(&mut tx, connector_id, id).await?;
        match current.action_state {
            ActionState::Pending => {}
            ActionState::Active => return Ok(None),
            other => {
                return Err(StoreError::Conflict(format!(
                    "The action '{id}' is already {other}: it can no longer be taken."
                )))
            }
        }
        db::query(
            "UPDATE device_actions SET action_state = 'active', last_updated_at = ? WHERE id = ?",
        )
        .prepared()
        .bind(timestamp(now))
        .bind(id)
        .execute(&mut tx)
        .await?;
        let updated = fetch_action(&mut tx, id).await?;
        write_event(&mut tx, &Event::DeviceAction(updated.clone()), now).await?;
        tx.commit().await?;
        Ok(Some(updated))
    }

    /// The client answered: `done` or `failed` with its return code. Reporting the same result
    /// again changes nothing; returns the action when its state changed.
    pub async fn report_action_result(
        &self,
        connector_id: &str,
        id: &str,
        result: &ActionResult,
        by: &Actor,
        now: OffsetDateTime,
    ) -> StoreResult<Option<DeviceAction>> {
        let mut tx = self.begin_for(Writes::NoDevices).await?;
        let current = own_action(&mut tx, connector_id, id).await?;
        let state = if result.succeeded {
            ActionState::Done
        } else {
            ActionState::Failed
        };
        if current.action_state == state && current.result_code == Some(result.result_code) {
            return Ok(None);
        }
        if !current.action_state.is_open() {
            return Err(StoreError::Conflict(format!(
                "The action '{id}' is already {}: its result can no longer change.",
                current.action_state
            )));
        }
        db::query(
            "UPDATE device_actions SET action_state = ?, result_code = ?, result_message = ?,
                last_updated_at = ? WHERE id = ?",
        )
        .prepared()
        .bind(state.as_str())
        .bind(result.result_code)
        .bind(&result.result_message)
        .bind(timestamp(now))
        .bind(id)
        .execute(&mut tx)
        .await?;
        let updated = fetch_action(&mut tx, id).await?;
        write_event(&mut tx, &Event::DeviceAction(updated.clone()), now).await?;
        audit_result(
            &mut tx,
            &updated,
            result.requester_at_site.as_deref(),
            by,
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(Some(updated))
    }

    /// Up to [`ENDED_PER_TRANSACTION`] open actions requested before `cutoff` time out; returns
    /// them as they are now (fewer than the slice: none is left).
    pub async fn time_out_actions(
        &self,
        cutoff: OffsetDateTime,
        now: OffsetDateTime,
    ) -> StoreResult<Vec<DeviceAction>> {
        let mut tx = self.begin_for(Writes::NoDevices).await?;
        let ids: Vec<String> = db::query_scalar(
            "UPDATE device_actions SET action_state = 'timedOut', last_updated_at = ?,
                result_message = 'The site did not report a result in time.'
             WHERE id IN (SELECT id FROM device_actions
                 WHERE action_state IN ('pending', 'active') AND requested_at <= ? LIMIT ?)
             RETURNING id",
        )
        .bind(timestamp(now))
        .bind(timestamp(cutoff))
        .bind(ENDED_PER_TRANSACTION)
        .fetch_all(&mut tx)
        .await?;
        let mut actions = Vec::with_capacity(ids.len());
        for id in ids {
            let action = fetch_action(&mut tx, &id).await?;
            write_event(&mut tx, &Event::DeviceAction(action.clone()), now).await?;
            audit_result(&mut tx, &action, None, &Actor::system(), now).await?;
            actions.push(action);
        }
        tx.commit().await?;
        Ok(actions)
    }
}

/// Records an action's outcome (done, failed, timed out, canceled) against its device.
/// The audit entry of an action's result: what became of it, who asked, and, when the site
/// checked them, who the site found (`requester_at_site`); a failure's reason in words.
pub(super) async fn audit_result(
    tx: &mut Tx,
    action: &DeviceAction,
    requester_at_site: Option<&str>,
    actor: &Actor,
    now: OffsetDateTime,
) -> sqlx::Result<()> {
    let device_name: Option<String> = db::query_scalar(
        "SELECT d.device_name FROM devices d JOIN connectors c ON c.id = d.connector_id
             WHERE d.id = ? AND d.device_set = c.device_set",
    )
    .prepared()
    .bind(&action.device_id)
    .fetch_optional(&mut *tx)
    .await?;
    let code = action
        .result_code
        // Client return codes are HRESULTs, stored signed: shown as ConfigMgr shows them.
        .map(|code| {
            match i32::try_from(code)
                .map(|signed| signed as u32)
                .or_else(|_| u32::try_from(code))
            {
                Ok(code) => format!(", result code 0x{code:08X}"),
                Err(_) => format!(", result code {code}"),
            }
        })
        .unwrap_or_default();
    let entry = AuditEntry::new(AuditActivity::ConfigurationManagerActionResult, actor)
        .on(&action.device_id, device_name.as_deref())
        .details(format!(
            "{} {}{code} (action {}); requested by {}{}.{}",
            action.action,
            action.action_state,
            action.id,
            action.requested_by,
            requester_at_site
                .map(|seen| format!(", whom the site knows as {seen}"))
                .unwrap_or_default(),
            match (&action.action_state, &action.result_message) {
                (ActionState::Failed, Some(message)) => format!(" {message}"),
                _ => String::new(),
            }
        ));
    let entry = if action.action_state == ActionState::Done {
        entry
    } else {
        entry.failed()
    };
    append(tx, &entry, now).await
}

/// Cancels a connector's open actions inside an offboarding's transaction.
pub(super) async fn cancel_open(
    tx: &mut Tx,
    connector_id: &str,
    actor: &Actor,
    now: OffsetDateTime,
) -> sqlx::Result<Vec<DeviceAction>> {
    let rows: Vec<ActionRow> = db::query_as(
        "UPDATE device_actions SET action_state = 'canceled', last_updated_at = ?,
            result_message = 'The hierarchy was offboarded.'
         WHERE connector_id = ? AND action_state IN ('pending', 'active') RETURNING *",
    )
    .bind(timestamp(now))
    .bind(connector_id)
    .fetch_all(&mut *tx)
    .await?;
    let mut canceled = Vec::with_capacity(rows.len());
    for row in rows {
        let action =
            DeviceAction::try_from(row).map_err(|e| sqlx::Error::Decode(e.to_string().into()))?;
        write_event(tx, &Event::DeviceAction(action.clone()), now).await?;
        audit_result(tx, &action, None, actor, now).await?;
        canceled.push(action);
    }
    Ok(canceled)
}

pub(super) async fn fetch_action(tx: &mut Tx, id: &str) -> StoreResult<DeviceAction> {
    let row: ActionRow = db::query_as("SELECT * FROM device_actions WHERE id = ?")
        .prepared()
        .bind(id)
        .fetch_one(&mut *tx)
        .await?;
    DeviceAction::try_from(row)
}

/// The action if it is this connector's; a connector sees no other's.
async fn own_action(tx: &mut Tx, connector_id: &str, id: &str) -> StoreResult<DeviceAction> {
    let row: Option<ActionRow> =
        db::query_as("SELECT * FROM device_actions WHERE id = ? AND connector_id = ?")
            .prepared()
            .bind(id)
            .bind(connector_id)
            .fetch_optional(&mut *tx)
            .await?;
    row.map(DeviceAction::try_from).transpose()?.ok_or_else(|| {
        StoreError::NotFound(format!("There is no action '{id}' for this connector."))
    })
}

/// Who asked for an action or a site request, as the site checks them: their name, and their
/// display name, Entra object id and on-premises SID where the users table knows them.
pub(super) fn requester(
    user_name: String,
    display_name: Option<String>,
    object_id: Option<String>,
    onprem_sid: Option<String>,
) -> admin_api::protocol::Requester {
    admin_api::protocol::Requester {
        display_name: display_name.unwrap_or_else(|| user_name.clone()),
        user_principal_name: user_name,
        object_id,
        onprem_sid,
    }
}

/// A pending action with what is known of who asked for it.
#[derive(FromRow)]
struct PendingRow {
    id: String,
    device_id: String,
    action: String,
    requested_by: String,
    display_name: Option<String>,
    object_id: Option<String>,
    onprem_sid: Option<String>,
}

#[derive(Clone, FromRow)]
struct ActionRow {
    id: String,
    seq: i64,
    device_id: String,
    action: String,
    action_state: String,
    requested_by: String,
    requested_at: String,
    last_updated_at: String,
    result_code: Option<i64>,
    result_message: Option<String>,
}

impl TryFrom<ActionRow> for DeviceAction {
    type Error = StoreError;

    fn try_from(row: ActionRow) -> StoreResult<Self> {
        Ok(DeviceAction {
            action: stored(
                "action",
                &row.action,
                ConfigurationManagerActionType::from_wire,
            )?,
            action_state: stored("action_state", &row.action_state, ActionState::from_wire)?,
            id: row.id,
            device_id: row.device_id,
            requested_by: row.requested_by,
            requested_date_time: row.requested_at,
            last_updated_date_time: row.last_updated_at,
            result_code: row.result_code,
            result_message: row.result_message,
        })
    }
}
