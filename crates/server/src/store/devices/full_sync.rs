//! A full sync's completion: the staged batches written as a new, hidden device set a slice at a
//! time, then shown in place of the old set in one short transaction.

use admin_api::protocol::{SyncResult, MAX_BATCHES};
use time::OffsetDateTime;

use super::rows::{compare_devices, device_id, insert_devices, reject_foreign_devices, UploadRows};
use super::uploads::{completed_sync, offboarded, record_sync};
use crate::store::db;
use crate::store::error::{StoreError, StoreResult};
use crate::store::{timestamp, Store, Writes};

impl Store {
    /// Makes a staged full sync the connector's devices, all at once for every reader, without
    /// holding the writer for long: the devices are written as a new device set, hidden, a slice
    /// at a time, and then shown in place of the old set in one short transaction (the old set is
    /// deleted afterwards, see [`Store::delete_leftovers`]). Completing it again returns the same
    /// result. A completion that stops half-way (the server stopped) leaves the old set shown.
    pub async fn complete_full_sync(
        &self,
        connector_id: &str,
        sync_id: &str,
        batch_count: u32,
        now: OffsetDateTime,
    ) -> StoreResult<SyncResult> {
        // Checked on a reader first: a count that cannot be right never waits for the writer.
        if batch_count == 0 || batch_count > MAX_BATCHES {
            return Err(StoreError::invalid(
                "batchCount",
                format!("'batchCount' must be 1 to {MAX_BATCHES}."),
            ));
        }
        // Run to its end even when the request is dropped (its client gave up): the client's
        // retry then finds it done instead of starting over.
        let store = self.clone();
        let (connector_id, sync_id) = (connector_id.to_owned(), sync_id.to_owned());
        tokio::spawn(async move {
            store
                .complete_in_slices(&connector_id, &sync_id, batch_count, now)
                .await
        })
        .await
        .map_err(|error| StoreError::Internal(format!("a sync's completion failed: {error}")))?
    }

    async fn complete_in_slices(
        &self,
        connector_id: &str,
        sync_id: &str,
        batch_count: u32,
        now: OffsetDateTime,
    ) -> StoreResult<SyncResult> {
        let is_done = |staged: (u32, Option<u32>)| {
            // Indexes are unique per sync and below MAX_BATCHES: n of them up to n - 1 are 0..n.
            staged.0 == batch_count && staged.1 == Some(batch_count - 1)
        };
        // The connector's uploads take turns: its batches, deltas and device sets stay as they
        // are until this completion ends, so the reads below may be made on a reader.
        let _turn = self.upload_turn(connector_id).await?;
        if let Some(done) = completed_sync(self.read(), connector_id, sync_id).await? {
            return Ok(done);
        }
        let staged = staged_batches(self.read(), connector_id, sync_id).await?;
        if !is_done(staged) {
            return Err(self
                .missing_batches(connector_id, sync_id, batch_count, staged)
                .await);
        }
        let synced_at = timestamp(now);
        let (shown, pending) = self.begin_device_set(connector_id).await?;
        let written = self
            .write_device_set(
                connector_id,
                sync_id,
                batch_count,
                shown,
                pending,
                &synced_at,
            )
            .await;
        let result = match written {
            Ok(tally) => {
                self.show_device_set(connector_id, sync_id, shown, pending, tally, now)
                    .await
            }
            Err(error) => Err(error),
        };
        if result.is_err() {
            // What was written is deleted in the background; the old set stays shown.
            if let Err(error) = self.abandon_device_set(connector_id, pending).await {
                tracing::warn!(%error, "a sync's unfinished device set is left to the next start");
            }
        }
        self.removed.work.notify_one();
        result
    }

    /// A new, hidden device set for the connector: the shown set and the new one. A set an
    /// earlier completion left unfinished is abandoned.
    async fn begin_device_set(&self, connector_id: &str) -> StoreResult<(i64, i64)> {
        let mut tx = self.begin().await?;
        let shown: Option<i64> = db::query_scalar(
            "SELECT device_set FROM connectors WHERE id = ? AND removed_at IS NULL",
        )
        .bind(connector_id)
        .fetch_optional(&mut tx)
        .await?;
        let Some(shown) = shown else {
            return Err(offboarded());
        };
        db::query(
            "UPDATE hidden_device_sets SET state = 'dying' WHERE connector_id = ? AND state = 'pending'",
        )
        .bind(connector_id)
        .execute(&mut tx)
        .await?;
        let highest_hidden: i64 = db::query_scalar(
            "SELECT COALESCE(MAX(device_set), 0) FROM hidden_device_sets WHERE connector_id = ?",
        )
        .bind(connector_id)
        .fetch_one(&mut tx)
        .await?;
        let pending = shown.max(highest_hidden) + 1;
        db::query(
            "INSERT INTO hidden_device_sets (connector_id, device_set, state) VALUES (?, ?, 'pending')",
        )
        .bind(connector_id)
        .bind(pending)
        .execute(&mut tx)
        .await?;
        tx.commit().await?;
        Ok((shown, pending))
    }

    /// Writes the staged batches' devices into the hidden set `pending`, a slice per
    /// transaction, each slice sized to keep the writer for about [`SLICE_TIME`].
    async fn write_device_set(
        &self,
        connector_id: &str,
        sync_id: &str,
        batch_count: u32,
        shown: i64,
        pending: i64,
        synced_at: &str,
    ) -> StoreResult<Tally> {
        let mut tally = Tally::default();
        let mut slice = FIRST_SLICE;
        for index in 0..batch_count {
            let batch: String = db::query_scalar(
                "SELECT CAST(devices AS text) FROM sync_batches WHERE connector_id = ? AND sync_id = ? AND batch_index = ?",
            )
            .prepared()
            .bind(connector_id)
            .bind(sync_id)
            .bind(index)
            .fetch_one(self.read())
            .await?;
            let devices: Vec<&serde_json::value::RawValue> = serde_json::from_str(&batch)
                .map_err(|error| StoreError::Internal(format!("a staged batch: {error}")))?;
            let mut rest = &devices[..];
            while !rest.is_empty() {
                let (part, after) = rest.split_at(slice.min(rest.len()));
                rest = after;
                let json = serde_json::to_string(part).expect("devices serialize");
                let bulk = self.bulk_turn().await;
                let started = std::time::Instant::now();
                let mut tx = self.begin_for(Writes::HiddenDevices).await?;
                let still: Option<i64> = db::query_scalar(
                    "SELECT h.device_set FROM hidden_device_sets h JOIN connectors c ON c.id = h.connector_id
                     WHERE h.connector_id = ? AND h.device_set = ? AND h.state = 'pending'
                       AND c.removed_at IS NULL",
                )
                .prepared()
                .bind(connector_id)
                .bind(pending)
                .fetch_optional(&mut tx)
                .await?;
                if still.is_none() {
                    return Err(offboarded());
                }
                let source = UploadRows::Json(&json);
                reject_foreign_devices(&mut tx, connector_id, source).await?;
                let (known, changed) =
                    compare_devices(&mut tx, connector_id, source, shown).await?;
                let inserted =
                    insert_devices(&mut tx, connector_id, source, pending, synced_at).await?;
                if inserted < part.len() as u64 {
                    // A device of this slice is in the set already: an earlier batch had it.
                    // The slice is rolled back; the completion abandons the set.
                    drop(tx);
                    let repeated = self.written_already(connector_id, pending, &json).await?;
                    return Err(StoreError::Conflict(format!(
                        "The device '{repeated}' is in more than one batch of the sync '{sync_id}': nothing was written. Send the sync again with each device once."
                    )));
                }
                db::query(
                    "UPDATE hidden_device_sets SET devices = devices + ?
                     WHERE connector_id = ? AND device_set = ?",
                )
                .prepared()
                .bind(part.len() as i64)
                .bind(connector_id)
                .bind(pending)
                .execute(&mut tx)
                .await?;
                tx.commit().await?;
                drop(bulk);
                tally.devices += part.len() as u64;
                tally.known += known;
                tally.changed += changed;
                tracing::debug!(
                    connector = connector_id,
                    sync = sync_id,
                    written = tally.devices,
                    slice = part.len(),
                    "a slice of a full sync's devices was written"
                );
                slice = next_slice(slice, started.elapsed());
            }
        }
        Ok(tally)
    }

    /// The first device of `devices` (a JSON array) that the connector's set `set` has already
    /// (called when a slice's insert skipped one, so there is one).
    async fn written_already(
        &self,
        connector_id: &str,
        set: i64,
        devices: &str,
    ) -> StoreResult<String> {
        let dialect = self.dialect();
        let rows = UploadRows::Json(devices);
        let id = device_id(dialect);
        let repeated: Option<String> = db::query_scalar(format!(
            "SELECT {id} FROM {} WHERE EXISTS (SELECT 1 FROM devices d
                WHERE d.id = {id} AND d.connector_id = ?1 AND d.device_set = ?3)
             LIMIT 1",
            rows.rows(dialect)
        ))
        .bind(connector_id)
        .bind(rows.bound())
        .bind(set)
        .fetch_optional(self.read())
        .await?;
        repeated.ok_or_else(|| {
            StoreError::Internal(format!(
                "a slice of the set {set} of the connector '{connector_id}' wrote fewer devices than it had, yet none of them is in the set"
            ))
        })
    }

    /// Shows the set `pending` in place of `shown`, in one short transaction, and records the
    /// sync.
    async fn show_device_set(
        &self,
        connector_id: &str,
        sync_id: &str,
        shown: i64,
        pending: i64,
        tally: Tally,
        now: OffsetDateTime,
    ) -> StoreResult<SyncResult> {
        let mut tx = self.begin().await?;
        // The shown set's size, as its last sync recorded it (no count of its rows here).
        let before: i64 = db::query_scalar("SELECT shown_devices FROM connectors WHERE id = ?")
            .bind(connector_id)
            .fetch_one(&mut tx)
            .await?;
        let shown_now = db::query(
            "UPDATE connectors SET device_set = ?3 WHERE id = ?1 AND device_set = ?2
               AND removed_at IS NULL
               AND EXISTS (SELECT 1 FROM hidden_device_sets WHERE connector_id = ?1
                   AND device_set = ?3 AND state = 'pending')",
        )
        .bind(connector_id)
        .bind(shown)
        .bind(pending)
        .execute(&mut tx)
        .await?;
        if shown_now == 0 {
            return Err(offboarded());
        }
        db::query("DELETE FROM hidden_device_sets WHERE connector_id = ? AND device_set = ?")
            .bind(connector_id)
            .bind(pending)
            .execute(&mut tx)
            .await?;
        db::query(
            "INSERT INTO hidden_device_sets (connector_id, device_set, state, devices)
             VALUES (?, ?, 'dying', ?)",
        )
        .bind(connector_id)
        .bind(shown)
        .bind(before)
        .execute(&mut tx)
        .await?;
        // The devices of the old set that the sync no longer has are removed with it.
        let removed = (before as u64).saturating_sub(tally.known);
        let result = record_sync(
            self,
            &mut tx,
            connector_id,
            sync_id,
            "full",
            tally.changed + removed,
            tally.devices,
            now,
        )
        .await?;
        tx.commit().await?;
        tracing::info!(
            connector = connector_id,
            sync = sync_id,
            devices = result.device_count,
            changed = result.changed,
            "a full sync's devices are shown"
        );
        // The staged batches are no longer needed (a repeated completion finds the sync).
        db::query("DELETE FROM sync_batches WHERE connector_id = ?")
            .bind(connector_id)
            .execute(self.writer())
            .await?;
        Ok(result)
    }

    /// Marks a hidden set unfinished: its devices are deleted in the background.
    async fn abandon_device_set(&self, connector_id: &str, pending: i64) -> sqlx::Result<()> {
        db::query(
            "UPDATE hidden_device_sets SET state = 'dying' WHERE connector_id = ? AND device_set = ?
               AND state = 'pending'",
        )
        .bind(connector_id)
        .bind(pending)
        .execute(self.writer())
        .await?;
        Ok(())
    }

    /// The 409 for a completion whose batches are not `0..batch_count`: it names at most a few
    /// missing batches, however many there are.
    async fn missing_batches(
        &self,
        connector_id: &str,
        sync_id: &str,
        batch_count: u32,
        (staged, highest): (u32, Option<u32>),
    ) -> StoreError {
        const NAMED: u32 = 10;
        if highest.is_some_and(|highest| highest >= batch_count) {
            return StoreError::Conflict(format!(
                "The sync '{sync_id}' has more than {batch_count} batches: {staged} are staged, up to index {}.",
                highest.unwrap_or_default()
            ));
        }
        // Staged indexes are below batch_count here; the first missing ones are found among
        // the first NAMED + staged indexes, read in order.
        let present: sqlx::Result<Vec<i64>> = db::query_scalar(
            "SELECT batch_index FROM sync_batches WHERE connector_id = ? AND sync_id = ? ORDER BY batch_index LIMIT ?",
        )
        .bind(connector_id)
        .bind(sync_id)
        .bind(i64::from(NAMED) + i64::from(staged))
        .fetch_all(self.read())
        .await;
        let present = match present {
            Ok(present) => present,
            Err(error) => return error.into(),
        };
        let missing = batch_count - staged.min(batch_count);
        let named: Vec<String> = (0..batch_count)
            .filter(|index| present.binary_search(&i64::from(*index)).is_err())
            .take(NAMED as usize)
            .map(|index| index.to_string())
            .collect();
        let more = if missing > NAMED {
            format!(" and {} more", missing - NAMED)
        } else {
            String::new()
        };
        StoreError::Conflict(format!(
            "The sync '{sync_id}' is missing {missing} of its {batch_count} batches: {}{more}.",
            named.join(", ")
        ))
    }
}

/// What the slices of a full sync wrote: its devices, how many of them the shown set has, and
/// how many are new or changed.
#[derive(Default, Clone, Copy)]
struct Tally {
    devices: u64,
    known: u64,
    changed: u64,
}

/// How long one slice of a sync's completion keeps the writer, about: reads wait for the writer
/// only when they must see the latest write, but every other write waits this long at most.
const SLICE_TIME: std::time::Duration = std::time::Duration::from_millis(50);
const FIRST_SLICE: usize = 250;
const SLICE_RANGE: std::ops::RangeInclusive<usize> = 25..=5_000;

/// The next slice's size, from how long the last one took: about [`SLICE_TIME`].
fn next_slice(size: usize, took: std::time::Duration) -> usize {
    let took = took.as_secs_f64().max(1e-4);
    let fitting = (size as f64 * SLICE_TIME.as_secs_f64() / took) as usize;
    // Grows at most twofold at a time (one fast slice may have been luck).
    fitting
        .min(size * 2)
        .clamp(*SLICE_RANGE.start(), *SLICE_RANGE.end())
}

/// How many batches of this sync are staged, and the highest index among them.
async fn staged_batches<'e>(
    executor: impl Into<db::On<'e>>,
    connector_id: &str,
    sync_id: &str,
) -> sqlx::Result<(u32, Option<u32>)> {
    let (count, highest): (i64, Option<i64>) = db::query_as(
        "SELECT COUNT(*), MAX(batch_index) FROM sync_batches WHERE connector_id = ? AND sync_id = ?",
    )
    .bind(connector_id)
    .bind(sync_id)
    .fetch_one(executor)
    .await?;
    // Indexes are below MAX_BATCHES (a u32), and so is their count.
    let narrow = |n: i64| u32::try_from(n).unwrap_or(u32::MAX);
    Ok((narrow(count), highest.map(narrow)))
}
