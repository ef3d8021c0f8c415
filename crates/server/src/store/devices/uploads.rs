//! A hierarchy's uploads: full syncs staged in batches (completed in `full_sync.rs`) and deltas;
//! each connector's uploads take turns.

use admin_api::protocol::{DeviceDelta, SiteDevice, SyncResult};
use admin_api::{DevicesEvent, Event};
use time::OffsetDateTime;

use super::rows::{reject_foreign_devices, reject_repeated_ids, upsert_devices, UploadRows};
use crate::store::db::{self, Tx};
use crate::store::error::{StoreError, StoreResult};
use crate::store::{timestamp, write_event, Store, Writes};

impl Store {
    /// Stages one batch of a full sync; re-sending a batch replaces it. A batch of a new sync
    /// discards what an interrupted earlier one of the same connector left.
    pub async fn stage_full_sync_batch(
        &self,
        connector_id: &str,
        sync_id: &str,
        batch_index: u32,
        devices: &[SiteDevice],
        now: OffsetDateTime,
    ) -> StoreResult<()> {
        reject_repeated_ids(devices.iter().map(|d| d.id.as_str()), "devices")?;
        let _turn = self.upload_turn(connector_id).await?;
        let _bulk = self.bulk_turn().await;
        let mut tx = self.begin_for(Writes::HiddenDevices).await?;
        if completed_sync(&mut tx, connector_id, sync_id)
            .await?
            .is_some()
        {
            return Err(StoreError::Conflict(format!(
                "The sync '{sync_id}' is already complete: start a new sync id."
            )));
        }
        // The check reads the ids alone; the batch is kept as its text, parsed when it is written.
        let ids: Vec<&str> = devices.iter().map(|device| device.id.as_str()).collect();
        let ids = serde_json::to_string(&ids).expect("ids serialize");
        reject_foreign_devices(&mut tx, connector_id, UploadRows::Ids(&ids)).await?;
        let batch = serde_json::to_string(devices).expect("devices serialize");
        db::query("DELETE FROM sync_batches WHERE connector_id = ? AND sync_id <> ?")
            .bind(connector_id)
            .bind(sync_id)
            .execute(&mut tx)
            .await?;
        db::query(
            "INSERT INTO sync_batches (sync_id, connector_id, batch_index, devices, received_at)
             VALUES (?, ?, ?, ?, ?)
             ON CONFLICT (connector_id, sync_id, batch_index) DO UPDATE SET devices = excluded.devices,
                received_at = excluded.received_at",
        )
        .bind(sync_id)
        .bind(connector_id)
        .bind(batch_index)
        .bind(batch)
        .bind(timestamp(now))
        .execute(&mut tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Applies a delta once per sync id, to the connector's shown devices; all or nothing. A
    /// device of another connector rejects it.
    pub async fn apply_delta(
        &self,
        connector_id: &str,
        sync_id: &str,
        delta: &DeviceDelta,
        now: OffsetDateTime,
    ) -> StoreResult<SyncResult> {
        reject_repeated_ids(delta.upserts.iter().map(|d| d.id.as_str()), "upserts")?;
        reject_repeated_ids(delta.removals.iter().map(String::as_str), "removals")?;
        let _turn = self.upload_turn(connector_id).await?;
        let mut tx = self.begin().await?;
        if let Some(done) = completed_sync(&mut tx, connector_id, sync_id).await? {
            return Ok(done);
        }
        let shown: Option<i64> = db::query_scalar(
            "SELECT device_set FROM connectors WHERE id = ? AND removed_at IS NULL",
        )
        .bind(connector_id)
        .fetch_optional(&mut tx)
        .await?;
        let Some(shown) = shown else {
            return Err(offboarded());
        };
        let upserts = serde_json::to_string(&delta.upserts).expect("devices serialize");
        let removals = serde_json::to_string(&delta.removals).expect("ids serialize");
        reject_foreign_devices(&mut tx, connector_id, UploadRows::Json(&upserts)).await?;
        reject_foreign_devices(&mut tx, connector_id, UploadRows::Ids(&removals)).await?;
        let synced_at = timestamp(now);
        let mut changed = upsert_devices(
            &mut tx,
            connector_id,
            UploadRows::Json(&upserts),
            shown,
            &synced_at,
        )
        .await?;
        let removed = UploadRows::Ids(&removals);
        changed += db::query(format!(
            "DELETE FROM devices WHERE connector_id = ?1 AND device_set = ?3
               AND id IN ({})",
            removed.ids(tx.dialect())
        ))
        .bind(connector_id)
        .bind(removed.bound())
        .bind(shown)
        .execute(&mut tx)
        .await?;
        let device_count: i64 = db::query_scalar(
            "SELECT COUNT(*) FROM devices WHERE connector_id = ? AND device_set = ?",
        )
        .bind(connector_id)
        .bind(shown)
        .fetch_one(&mut tx)
        .await?;
        let result = record_sync(
            self,
            &mut tx,
            connector_id,
            sync_id,
            "delta",
            changed,
            device_count as u64,
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(result)
    }

    /// Waits for the turn of the bulk writes (a slice of a sync's completion, a staged batch, a
    /// slice of a purge): one at a time, so that the writer's queue holds at most one of them
    /// before an action request, a sign-in or a heartbeat, however many sites upload at once.
    pub(crate) async fn bulk_turn(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.bulk.lock().await
    }

    /// Waits for the connector's turn to change its devices (see [`Store::complete_full_sync`]):
    /// this instance's, and on PostgreSQL every instance's (a site's request retried on another
    /// instance while the first still runs waits for it).
    pub(super) async fn upload_turn(&self, connector_id: &str) -> StoreResult<UploadTurn> {
        let turn = {
            let mut turns = self.upload_turns.lock().expect("never poisoned");
            // Turns nobody holds or waits for are forgotten (their connectors may be gone).
            turns.retain(|_, turn| std::sync::Arc::strong_count(turn) > 1);
            turns.entry(connector_id.to_owned()).or_default().clone()
        };
        let local = turn.lock_owned().await;
        let shared = match self.postgres() {
            None => None,
            Some(pool) => {
                // A session-level lock on a connection of the turn's own: it goes when the turn
                // is dropped (the connection closes) or the instance dies.
                let mut connection = pool.acquire().await?.detach();
                sqlx::query("SELECT pg_advisory_lock($1, hashtext($2))")
                    .bind(UPLOAD_LOCKS)
                    .bind(connector_id)
                    .execute(&mut connection)
                    .await?;
                Some(connection)
            }
        };
        Ok(UploadTurn {
            _shared: shared,
            _local: local,
        })
    }
}

/// A connector's turn to change its devices, held until dropped.
pub(super) struct UploadTurn {
    _local: tokio::sync::OwnedMutexGuard<()>,
    _shared: Option<sqlx::PgConnection>,
}

/// The class of the connectors' upload locks on PostgreSQL (two-key advisory locks, apart from
/// the one-key locks of writes, events and leaders).
const UPLOAD_LOCKS: i32 = 0x4154_5441;

pub(super) fn offboarded() -> StoreError {
    StoreError::Conflict("The hierarchy was offboarded: its devices take no more syncs.".into())
}

pub(super) async fn completed_sync<'e>(
    executor: impl Into<db::On<'e>>,
    connector_id: &str,
    sync_id: &str,
) -> StoreResult<Option<SyncResult>> {
    let row: Option<(i64, i64)> =
        db::query_as("SELECT device_count, changed FROM syncs WHERE connector_id = ? AND id = ?")
            .bind(connector_id)
            .bind(sync_id)
            .fetch_optional(executor)
            .await?;
    Ok(row.map(|(device_count, changed)| SyncResult {
        sync_id: sync_id.to_owned(),
        device_count: device_count as u64,
        changed: changed as u64,
    }))
}

/// Records a sync and, with it, its `devices` and `connector` events (see
/// [`Store::write_connector_event`]).
#[allow(clippy::too_many_arguments)]
pub(super) async fn record_sync(
    store: &Store,
    tx: &mut Tx,
    connector_id: &str,
    sync_id: &str,
    kind: &str,
    changed: u64,
    device_count: u64,
    now: OffsetDateTime,
) -> StoreResult<SyncResult> {
    let synced_at = &timestamp(now);
    db::query(
        "INSERT INTO syncs (id, connector_id, kind, completed_at, device_count, changed) VALUES (?, ?, ?, ?, ?, ?)",
    )
    .bind(sync_id)
    .bind(connector_id)
    .bind(kind)
    .bind(synced_at)
    .bind(device_count as i64)
    .bind(changed as i64)
    .execute(&mut *tx)
    .await?;
    db::query("UPDATE connectors SET last_sync_at = ?, shown_devices = ? WHERE id = ?")
        .bind(synced_at)
        .bind(device_count as i64)
        .bind(connector_id)
        .execute(&mut *tx)
        .await?;
    let devices = Event::Devices(DevicesEvent {
        connector_id: connector_id.to_owned(),
        changed,
    });
    write_event(tx, &devices, now).await?;
    store.write_connector_event(tx, connector_id, now).await?;
    Ok(SyncResult {
        sync_id: sync_id.to_owned(),
        device_count,
        changed,
    })
}
