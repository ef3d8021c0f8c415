use admin_api::devices::DEVICE_FIELDS;
use admin_api::fields::FieldType;
use admin_api::protocol::{DeviceDelta, SiteDevice, SyncResult, MAX_BATCHES};
use admin_api::{Device, DevicesEvent, Event};
use rusqlite::types::Value;
use rusqlite::OptionalExtension;
use time::OffsetDateTime;

use super::db::{self, Tx};
use super::error::{StoreError, StoreResult};
use super::{timestamp, write_event, Store, Writes};
use crate::query::devices::{
    column, csv_expression, json_expression, next_page, top_level, DeviceCursor, DeviceQuery,
    Dialect,
};
use crate::query::sql::Sql;

pub struct DevicePage<T = Device> {
    pub devices: Vec<T>,
    /// Present when more devices follow this page.
    pub next: Option<DeviceCursor>,
    pub count: Option<u64>,
}

impl DeviceQuery {
    /// The WHERE clause for these conditions and a range of the order (see [`Order::after`](crate::query::devices::Order::after)),
    /// leaving out the devices of the `removed` connectors (offboarded, their devices not yet
    /// deleted) and of hidden device sets.
    ///
    /// `by_set` adds the connectors' shown sets as a condition SQLite can look the devices up by
    /// (see [`Store::few_shown`]).
    fn conditions(&self, keyset: Option<&Sql>, removed: &[String], by_set: bool) -> Sql {
        let shown = Sql {
            text: if by_set {
                format!("{SHOWN} AND {IN_SHOWN_SET}")
            } else {
                SHOWN.to_owned()
            },
            params: Vec::new(),
        };
        let kept = (!removed.is_empty()).then(|| Sql {
            text: format!(
                "connector_id NOT IN ({})",
                vec!["?"; removed.len()].join(", ")
            ),
            params: removed.iter().cloned().map(Some).collect(),
        });
        let parts: Vec<&Sql> = [
            self.filter.as_ref(),
            self.search.as_ref(),
            keyset,
            kept.as_ref(),
            Some(&shown),
        ]
        .into_iter()
        .flatten()
        .collect();
        Sql {
            text: format!(
                " WHERE {}",
                parts
                    .iter()
                    .map(|p| p.text.as_str())
                    .collect::<Vec<_>>()
                    .join(" AND ")
            ),
            params: parts
                .iter()
                .flat_map(|p| p.params.iter().cloned())
                .collect(),
        }
    }
}

impl Store {
    /// One page of the devices that match, in the query's order, after `after`.
    pub async fn list_devices(
        &self,
        query: &DeviceQuery,
        after: Option<&DeviceCursor>,
        top: u32,
        with_count: bool,
    ) -> StoreResult<DevicePage> {
        // Every field: a device decodes from its whole JSON object.
        let query = DeviceQuery {
            select: None,
            ..query.clone()
        };
        self.list_devices_as(&query, after, top, with_count, |json| decoded(&json))
            .await
    }

    /// [`Store::list_devices`], each device as the JSON object of the query's selected fields
    /// (all when it selects none), made by SQLite, turned by `render` where its row was read.
    pub async fn list_devices_as<T, R>(
        &self,
        query: &DeviceQuery,
        after: Option<&DeviceCursor>,
        top: u32,
        with_count: bool,
        render: R,
    ) -> StoreResult<DevicePage<T>>
    where
        T: Send + 'static,
        R: Fn(String) -> StoreResult<T> + Send + 'static,
    {
        if let Some(pool) = self.postgres() {
            let by_set = self.few_shown_lately().await?;
            let (rows, next) =
                super::postgres::list_devices_json(pool, query, after, top, by_set).await?;
            let devices = rows
                .into_iter()
                .map(render)
                .collect::<StoreResult<Vec<_>>>()?;
            let count = match with_count {
                true => Some(self.count_devices(query).await?),
                false => None,
            };
            return Ok(DevicePage {
                devices,
                next,
                count,
            });
        }
        let json = match &query.select {
            Some(fields) => json_expression(fields.iter().copied()),
            None => device_json().to_owned(),
        };
        let order = query.order();
        let ranges = query.ranges(after, Dialect::Sqlite)?;
        let removed = self.removed.ids();
        // A search that matches many devices is answered by walking the order's index and
        // keeping what matches (a page is soon full); one that matches few, by looking the
        // matches up and sorting them. SQLite cannot tell which from the query, so it is told.
        let by_set = self.few_shown_lately().await?;
        let walk = match &query.search_match {
            _ if by_set => " INDEXED BY devices_by_connector".to_owned(),
            Some(expression) if self.search_is_broad(expression).await? => {
                format!(" INDEXED BY {}", order.index())
            }
            _ => String::new(),
        };
        // The statements, one per range, are made here and run on a page reader, which reads
        // them in turn until the page and one more row are full.
        let wanted = top as usize + 1;
        let statements: Vec<(String, Vec<Value>)> = ranges
            .iter()
            .map(|range| {
                let conditions = query.conditions(range.as_ref(), &removed, by_set);
                let sql = format!(
                    "SELECT {json}, {} AS sort_value, rowid FROM devices{walk}{} ORDER BY {} LIMIT ?",
                    column(order.field),
                    conditions.text,
                    order.order_by(Dialect::Sqlite)
                );
                let params = conditions.params.into_iter().map(Value::from).collect();
                (sql, params)
            })
            .collect();
        let (devices, next) = self
            .with_page_reader(move |connection| {
                // Several ranges are read in one snapshot; a first page, the common case, is
                // one statement and needs no transaction around it.
                let snapshot = (statements.len() > 1)
                    .then(|| connection.unchecked_transaction())
                    .transpose()?;
                // Each device's JSON, its sort value and rowid (the next page's cursor).
                let mut rows: Vec<(String, Option<String>, i64)> = Vec::with_capacity(wanted);
                for (sql, mut params) in statements {
                    if rows.len() == wanted {
                        break;
                    }
                    params.push(Value::Integer((wanted - rows.len()) as i64));
                    let mut statement = connection.prepare_cached(&sql)?;
                    let mut found = statement.query(rusqlite::params_from_iter(params))?;
                    while let Some(row) = found.next()? {
                        rows.push((row.get(0)?, row.get(1)?, row.get(2)?));
                    }
                }
                if let Some(tx) = snapshot {
                    tx.commit()?;
                }
                let next = next_page(&mut rows, top, &order);
                let devices = rows
                    .into_iter()
                    .map(|(json, _, _)| render(json))
                    .collect::<StoreResult<Vec<_>>>()?;
                Ok((devices, next))
            })
            .await?;
        let count = if with_count {
            Some(self.count_devices(query).await?)
        } else {
            None
        };
        Ok(DevicePage {
            devices,
            next,
            count,
        })
    }

    /// Reads every device the query matches, in its order, on an export connection of its own,
    /// and sends the selected columns in chunks of `chunk` rows, then [`CsvChunk::Done`]. A
    /// receiver that takes no chunk for `stall` ends the read (its connection goes back): the
    /// receiver then sees the channel close without `Done`, and knows the export is incomplete.
    pub async fn send_csv_rows(
        &self,
        query: DeviceQuery,
        columns: &[&'static admin_api::fields::Field],
        chunk: usize,
        stall: std::time::Duration,
        sink: tokio::sync::mpsc::Sender<StoreResult<CsvChunk>>,
    ) {
        use futures_util::StreamExt;
        use sqlx::Row;
        let send = |item| {
            let sink = &sink;
            async move {
                match tokio::time::timeout(stall, sink.send(item)).await {
                    Ok(Ok(())) => true,
                    Ok(Err(_)) => false,
                    Err(_) => {
                        tracing::warn!("an export's client stopped reading; the export was ended");
                        false
                    }
                }
            }
        };
        let dialect = self.dialect();
        let selected: Vec<String> = columns
            .iter()
            .map(|field| csv_expression(field, dialect))
            .collect();
        let conditions = match dialect {
            Dialect::Sqlite => query.conditions(None, &self.removed.ids(), false),
            Dialect::Postgres => {
                let mut conditions = super::postgres::conditions(&query, None);
                conditions.text.insert_str(0, " WHERE ");
                conditions
            }
        };
        let sql = format!(
            "SELECT {} FROM devices{} ORDER BY {}",
            selected.join(", "),
            conditions.text,
            query.order().order_by(dialect)
        );
        // Rows as they come, each a record of text columns.
        let text = match dialect {
            Dialect::Sqlite => sql,
            Dialect::Postgres => crate::query::sql::numbered(&sql),
        };
        let width = selected.len();
        let mut rows: futures_util::stream::BoxStream<'_, sqlx::Result<Vec<Option<String>>>> =
            match self.postgres() {
                None => {
                    let mut select = sqlx::query(&text);
                    for param in &conditions.params {
                        select = select.bind(param.clone());
                    }
                    select
                        .fetch(&self.sqlite().exporter)
                        .map(move |row| {
                            let row = row?;
                            (0..width).map(|index| row.try_get(index)).collect()
                        })
                        .boxed()
                }
                Some(pool) => {
                    let mut select = sqlx::query(&text).persistent(false);
                    for param in &conditions.params {
                        select = select.bind(param.clone());
                    }
                    select
                        .fetch(pool)
                        .map(move |row| {
                            let row = row?;
                            (0..width).map(|index| row.try_get(index)).collect()
                        })
                        .boxed()
                }
            };
        let mut records = Vec::with_capacity(chunk);
        while let Some(row) = rows.next().await {
            let record = row;
            match record {
                Ok(record) => records.push(record),
                Err(error) => {
                    send(Err(error.into())).await;
                    return;
                }
            }
            if records.len() == chunk {
                let full = std::mem::replace(&mut records, Vec::with_capacity(chunk));
                if !send(Ok(CsvChunk::Rows(full))).await {
                    return;
                }
            }
        }
        drop(rows);
        if !records.is_empty() && !send(Ok(CsvChunk::Rows(records))).await {
            return;
        }
        send(Ok(CsvChunk::Done)).await;
    }

    /// [`Store::few_shown`] as read within the last [`FEW_SHOWN_FOR`]: a list asks on every page,
    /// and the answer chooses only how a page is read, never what it holds (the two ways read the
    /// same devices), while the counts behind it move with uploads of thousands of devices. On
    /// PostgreSQL this saves one of a page's three statements.
    pub(crate) async fn few_shown_lately(&self) -> StoreResult<bool> {
        let now = std::time::Instant::now();
        if let Some((read_at, few)) = *self.shown_lately.lock().expect("never poisoned") {
            if now.duration_since(read_at) < FEW_SHOWN_FOR {
                return Ok(few);
            }
        }
        self.few_shown().await
    }

    /// Whether the shown devices are so few among hidden rows (hierarchies attaching: their
    /// devices written but not yet shown; sets and offboarded hierarchies being deleted) that
    /// walking an order's index would read mostly hidden rows to fill a page: past about √(50·n)
    /// shown of n rows, the walk reads fewer rows than looking the shown devices up by their
    /// connectors' sets and sorting them (as for a search, below). Read from the per-set counts,
    /// a few rows.
    ///
    /// The answer is remembered for [`Store::few_shown_lately`].
    pub async fn few_shown(&self) -> StoreResult<bool> {
        let read_at = std::time::Instant::now();
        let (shown, hidden): (i64, i64) = db::query_as(
            "SELECT CAST((SELECT COALESCE(SUM(shown_devices), 0) FROM connectors
                          WHERE removed_at IS NULL) AS BIGINT),
                    CAST((SELECT COALESCE(SUM(devices), 0) FROM hidden_device_sets)
                         + (SELECT COALESCE(SUM(shown_devices), 0) FROM connectors
                            WHERE removed_at IS NOT NULL) AS BIGINT)",
        )
        .prepared()
        .fetch_one(self.read())
        .await?;
        let rows = (shown + hidden) as f64;
        let few = hidden > shown && (shown as f64) < (50.0 * rows).sqrt().max(1_000.0);
        *self.shown_lately.lock().expect("never poisoned") = Some((read_at, few));
        Ok(few)
    }

    /// Whether `expression` matches so many devices that walking an order's index finds a page
    /// sooner than sorting the matches: past about √(50·n) matches of n devices (where the two
    /// read about as many rows), counted up to that many.
    async fn search_is_broad(&self, expression: &str) -> StoreResult<bool> {
        let devices = self.count_devices(&DeviceQuery::default()).await?;
        let threshold = ((50.0 * devices as f64).sqrt() as i64).max(1_000);
        let matches: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM (SELECT 1 FROM devices_search WHERE devices_search MATCH ? LIMIT ?)",
        )
        .bind(expression)
        .bind(threshold)
        .fetch_one(&self.sqlite().reader)
        .await?;
        Ok(matches >= threshold)
    }

    /// How many devices match. A count is kept, per query, until the devices change: a list
    /// asks for the same count on every page, and counting a million rows is a scan. It is
    /// counted after the generation was read, so it is of that generation or a later one, and
    /// either is right for whoever asked at that generation.
    pub async fn count_devices(&self, query: &DeviceQuery) -> StoreResult<u64> {
        let generation: i64 =
            db::query_scalar("SELECT generation FROM devices_generation WHERE id = 1")
                .prepared()
                .fetch_one(self.read())
                .await?;
        if let Some(pool) = self.postgres() {
            let key = format!(
                "{:?}\u{0}{:?}",
                query.filter.as_ref().map(|f| (&f.text, &f.params)),
                query.search.as_ref().map(|s| (&s.text, &s.params))
            );
            return self
                .counts
                .get_or_count(key, generation, || async {
                    let mut connection = pool.acquire().await?;
                    super::postgres::count_devices(&mut connection, query).await
                })
                .await;
        }
        let conditions = query.conditions(None, &self.removed.ids(), false);
        let key = format!("{}\u{0}{:?}", conditions.text, conditions.params);
        self.counts
            .get_or_count(key, generation, || async {
                let sql = format!("SELECT COUNT(*) FROM devices{}", conditions.text);
                let mut count = sqlx::query_scalar::<_, i64>(&sql);
                for param in &conditions.params {
                    count = count.bind(param.clone());
                }
                Ok(count.fetch_one(&self.sqlite().reader).await? as u64)
            })
            .await
    }

    pub async fn device_connector(&self, id: &str) -> sqlx::Result<Option<String>> {
        db::query_scalar(format!(
            "SELECT connector_id FROM devices WHERE id = ? AND {}",
            shown(self.dialect())
        ))
        .bind(id)
        .fetch_optional(self.read())
        .await
    }

    pub async fn device(&self, id: &str) -> StoreResult<Option<Device>> {
        if let Some(pool) = self.postgres() {
            let fields: Vec<&'static admin_api::fields::Field> = top_level().collect();
            let row = sqlx::query(&crate::query::sql::numbered(&format!(
                "SELECT {} FROM devices WHERE id = ? AND {}",
                crate::query::devices::json_columns(fields.iter().copied()),
                shown(Dialect::Postgres)
            )))
            .bind(id)
            .fetch_optional(pool)
            .await?;
            return row
                .map(|row| super::postgres::device_json(&row, &fields, 0))
                .transpose()?
                .as_deref()
                .map(decoded)
                .transpose();
        }
        let id = id.to_owned();
        self.with_page_reader(move |connection| {
            let sql = format!(
                "SELECT {} FROM devices WHERE id = ? AND connector_id NOT IN ({REMOVED}) AND {SHOWN}",
                device_json()
            );
            let json: Option<String> = connection
                .prepare_cached(&sql)?
                .query_row([id], |row| row.get(0))
                .optional()?;
            json.as_deref().map(decoded).transpose()
        })
        .await
    }

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
        reject_foreign_devices(&mut tx, connector_id, DeviceSource::Ids(&ids)).await?;
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
                let source = DeviceSource::Json(&json);
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
        let source = DeviceSource::Json(devices);
        let id = device_id(dialect);
        let repeated: Option<String> = db::query_scalar(format!(
            "SELECT {id} FROM {} WHERE EXISTS (SELECT 1 FROM devices d
                WHERE d.id = {id} AND d.connector_id = ?1 AND d.device_set = ?3)
             LIMIT 1",
            source.rows(dialect)
        ))
        .bind(connector_id)
        .bind(source.bound())
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
        reject_foreign_devices(&mut tx, connector_id, DeviceSource::Json(&upserts)).await?;
        reject_foreign_devices(&mut tx, connector_id, DeviceSource::Ids(&removals)).await?;
        let synced_at = timestamp(now);
        let mut changed = upsert_devices(
            &mut tx,
            connector_id,
            DeviceSource::Json(&upserts),
            shown,
            &synced_at,
        )
        .await?;
        let removed = DeviceSource::Ids(&removals);
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
    async fn upload_turn(&self, connector_id: &str) -> StoreResult<UploadTurn> {
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
struct UploadTurn {
    _local: tokio::sync::OwnedMutexGuard<()>,
    _shared: Option<sqlx::PgConnection>,
}

/// The class of the connectors' upload locks on PostgreSQL (two-key advisory locks, apart from
/// the one-key locks of writes, events and leaders).
const UPLOAD_LOCKS: i32 = 0x4154_5441;

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

fn offboarded() -> StoreError {
    StoreError::Conflict("The hierarchy was offboarded: its devices take no more syncs.".into())
}

/// The connectors offboarded whose devices are still being deleted.
const REMOVED: &str = "SELECT id FROM connectors WHERE removed_at IS NOT NULL";

/// Whether a device row is in its connector's shown set (not in one that a sync is writing or
/// that is being deleted). The `+` keep SQLite from looking the rows up by connector instead of
/// walking the order's index; the hidden sets are few, and read in the query's own snapshot.
/// [`SHOWN`] as a condition to look the devices up by, with `devices_by_connector`.
const IN_SHOWN_SET: &str =
    "(connector_id, device_set) IN (SELECT id, device_set FROM connectors WHERE removed_at IS NULL)";

pub(crate) const SHOWN: &str =
    "(+connector_id, +device_set) NOT IN (SELECT connector_id, device_set FROM hidden_device_sets)";

/// The devices All devices shows, of connectors not offboarded, as a condition in `dialect`.
fn shown(dialect: Dialect) -> String {
    match dialect {
        Dialect::Sqlite => format!("connector_id NOT IN ({REMOVED}) AND {SHOWN}"),
        Dialect::Postgres => super::postgres::SHOWN.to_owned(),
    }
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

async fn completed_sync<'e>(
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
async fn record_sync(
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

/// Where an upload's devices are read from, in SQL: the database's JSON functions read the
/// devices (`SiteDevice` as the protocol sends them) so that each step is one statement over all
/// of them, not one round trip per device.
#[derive(Clone, Copy)]
enum DeviceSource<'a> {
    /// A JSON array of devices (bound as `?2`).
    Json(&'a str),
    /// A JSON array of device ids (bound as `?2`).
    Ids(&'a str),
}

/// A device's id in a [`DeviceSource`] row (compared byte by byte, as the stored ids are).
fn device_id(dialect: Dialect) -> &'static str {
    match dialect {
        Dialect::Sqlite => "json_extract(j.value, '$.id')",
        Dialect::Postgres => "((j.value ->> 'id') COLLATE \"C\")",
    }
}

impl<'a> DeviceSource<'a> {
    /// The rows, each device (or id) as `j` (in upload order).
    fn rows(self, dialect: Dialect) -> &'static str {
        match dialect {
            Dialect::Sqlite => "json_each(?2) j",
            Dialect::Postgres => "jsonb_array_elements(?2) j(value)",
        }
    }

    fn id(self, dialect: Dialect) -> &'static str {
        match (self, dialect) {
            (Self::Ids(_), Dialect::Sqlite) => "j.value",
            (Self::Ids(_), Dialect::Postgres) => "((j.value #>> '{}') COLLATE \"C\")",
            _ => device_id(dialect),
        }
    }

    /// The ids of this source's devices, as a query (column `device_id`).
    fn ids(self, dialect: Dialect) -> String {
        format!(
            "SELECT {} AS device_id FROM {}",
            self.id(dialect),
            self.rows(dialect)
        )
    }

    /// What `?2` is: the devices' (or their ids') JSON.
    fn bound(self) -> db::Value {
        match self {
            Self::Json(json) | Self::Ids(json) => db::Value::json(json),
        }
    }
}

/// What an export's reader sends: rows, then `Done` once every matching device was sent.
pub enum CsvChunk {
    Rows(Vec<Vec<Option<String>>>),
    Done,
}

/// A device sent twice in one upload is ambiguous (which one is it?): the upload is refused whole.
fn reject_repeated_ids<'a>(ids: impl Iterator<Item = &'a str>, field: &str) -> StoreResult<()> {
    let mut seen = std::collections::HashSet::new();
    for id in ids {
        if !seen.insert(id) {
            return Err(StoreError::invalid(
                field,
                format!("The device '{id}' is in '{field}' more than once: nothing was written."),
            ));
        }
    }
    Ok(())
}

/// A site may only upload its own devices: one that another connector shows or is writing (in a
/// pending set) rejects the whole upload.
async fn reject_foreign_devices(
    tx: &mut Tx,
    connector_id: &str,
    source: DeviceSource<'_>,
) -> StoreResult<()> {
    let dialect = tx.dialect();
    let foreign: Option<String> = db::query_scalar(format!(
        "SELECT d.id FROM {} JOIN devices d ON d.id = {} WHERE d.connector_id <> ?1
           AND d.connector_id NOT IN ({REMOVED})
           AND (d.connector_id, d.device_set) NOT IN
               (SELECT connector_id, device_set FROM hidden_device_sets WHERE state = 'dying')
         LIMIT 1",
        source.rows(dialect),
        source.id(dialect)
    ))
    .bind(connector_id)
    .bind(source.bound())
    .fetch_optional(&mut *tx)
    .await?;
    match foreign {
        Some(id) => Err(StoreError::Conflict(format!(
            "The device '{id}' belongs to another connector: nothing was written."
        ))),
        None => Ok(()),
    }
}

/// The columns an upload sets from a device as the site sent it (`{v}`, a `SiteDevice` as JSON),
/// each with its value's SQL: the fields a site sends (besides its id; the server sets the
/// connector, the sync time and the hierarchy's name and site code).
fn site_columns(dialect: Dialect) -> &'static [(&'static str, String)] {
    static SQLITE: std::sync::OnceLock<Vec<(&'static str, String)>> = std::sync::OnceLock::new();
    static POSTGRES: std::sync::OnceLock<Vec<(&'static str, String)>> = std::sync::OnceLock::new();
    let columns = || {
        DEVICE_FIELDS
            .iter()
            .filter(|field| field.from_site)
            .map(|field| (column(field), site_expression(field, dialect)))
            .collect()
    };
    match dialect {
        Dialect::Sqlite => SQLITE.get_or_init(columns),
        Dialect::Postgres => POSTGRES.get_or_init(columns),
    }
}

/// A site field's value in the device JSON `{v}`, as its column holds it.
fn site_expression(field: &admin_api::fields::Field, dialect: Dialect) -> String {
    match dialect {
        Dialect::Sqlite => {
            // A list stays JSON; everything else is read as SQL text, number or NULL.
            let arrow = match field.field_type {
                FieldType::List => "->",
                _ => "->>",
            };
            format!("{{v}} {arrow} '{}'", field.json_path())
        }
        Dialect::Postgres => {
            let path = format!("'{{{}}}'", field.name.replace('/', ","));
            match field.field_type {
                FieldType::List => format!("({{v}} #> {path})"),
                FieldType::Bool => format!("CAST({{v}} #>> {path} AS boolean)"),
                _ => format!("(({{v}} #>> {path}) COLLATE \"C\")"),
            }
        }
    }
}

/// A site column's value read from the device JSON `value`.
fn site_value(expression: &str, value: &str) -> String {
    expression.replace("{v}", value)
}

/// `column = value, …` for the site columns whose bits are set in `mask` (see [`change_mask`]),
/// each read from the device JSON `device`.
fn site_assignments(dialect: Dialect, device: &str, mask: i64) -> String {
    site_columns(dialect)
        .iter()
        .enumerate()
        .filter(|(bit, _)| mask & (1 << bit) != 0)
        .map(|(_, (column, expression))| format!("{column} = {}", site_value(expression, device)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Which site columns of the stored device `d` the device JSON `device` changes, a bit per
/// column (0: none).
fn change_mask(device: &str, dialect: Dialect) -> String {
    let bits: Vec<String> = site_columns(dialect)
        .iter()
        .enumerate()
        .map(|(bit, (column, expression))| {
            let value = site_value(expression, device);
            match dialect {
                Dialect::Sqlite => format!("((d.{column} IS NOT {value}) << {bit})"),
                Dialect::Postgres => format!(
                    "(CASE WHEN d.{column} IS DISTINCT FROM {value} THEN {} ELSE 0 END)",
                    1_i64 << bit
                ),
            }
        })
        .collect();
    match dialect {
        Dialect::Sqlite => bits.join(" | "),
        Dialect::Postgres => format!("CAST({} AS bigint)", bits.join(" + ")),
    }
}

/// Of the devices of `source`: how many the connector's device set `set` has, and how many are
/// new to it or change one it has.
async fn compare_devices(
    tx: &mut Tx,
    connector_id: &str,
    source: DeviceSource<'_>,
    set: i64,
) -> sqlx::Result<(u64, u64)> {
    let dialect = tx.dialect();
    let rowid = dialect.rowid();
    let (known, changed): (i64, i64) = db::query_as(format!(
        "SELECT COUNT(d.{rowid}),
            COALESCE(SUM(CASE WHEN d.{rowid} IS NULL OR ({}) <> 0 THEN 1 ELSE 0 END), 0)
         FROM {} LEFT JOIN devices d
           ON d.id = {} AND d.connector_id = ?1 AND d.device_set = ?3",
        change_mask("j.value", dialect),
        source.rows(dialect),
        device_id(dialect)
    ))
    .bind(connector_id)
    .bind(source.bound())
    .bind(set)
    .fetch_one(&mut *tx)
    .await?;
    Ok((known as u64, changed as u64))
}

/// Inserts the devices of `source` that the connector's device set `set` does not have yet;
/// how many.
async fn insert_devices(
    tx: &mut Tx,
    connector_id: &str,
    source: DeviceSource<'_>,
    set: i64,
    synced_at: &str,
) -> sqlx::Result<u64> {
    let dialect = tx.dialect();
    let columns: Vec<&str> = site_columns(dialect)
        .iter()
        .map(|(column, _)| *column)
        .collect();
    let values: Vec<String> = site_columns(dialect)
        .iter()
        .map(|(_, expression)| site_value(expression, "j.value"))
        .collect();
    let id = device_id(dialect);
    db::query(format!(
        "INSERT INTO devices (id, connector_id, device_set, last_sync_at, hierarchy_name, site_code, {})
         SELECT {id}, ?1, ?4, ?3,
            (SELECT hierarchy_name FROM connectors WHERE id = ?1),
            (SELECT site_code FROM connectors WHERE id = ?1), {}
         FROM {} WHERE NOT EXISTS (SELECT 1 FROM devices d
            WHERE d.id = {id} AND d.connector_id = ?1 AND d.device_set = ?4)",
        columns.join(", "),
        values.join(", "),
        source.rows(dialect)
    ))
    .prepared()
    .bind(connector_id)
    .bind(source.bound())
    .bind(synced_at)
    .bind(set)
    .execute(&mut *tx)
    .await
}

/// Inserts the new devices of `source` into the connector's device set `set` and writes the
/// changes to the others; the number of devices inserted or changed (a device sent as it already
/// was is left alone and not counted).
///
/// On SQLite a changed device is written with only the columns that changed (and its sync time),
/// so that only those columns' indexes are touched: a delta that moves compliance and check-in
/// times updates those few indexes, not every column's. Devices are grouped by which columns
/// changed, one statement per group.
///
/// On PostgreSQL an update that changes an indexed column writes a new version of the row and an
/// entry in every index, whichever columns changed (the sync time, indexed, always changes): the
/// groups would buy nothing there. Every changed device is written whole in one statement, with
/// no temporary table (whose making and dropping cost a few milliseconds of the catalog's time
/// under the write locks, for a delta of one device as for one of thousands).
async fn upsert_devices(
    tx: &mut Tx,
    connector_id: &str,
    source: DeviceSource<'_>,
    set: i64,
    synced_at: &str,
) -> StoreResult<u64> {
    let dialect = tx.dialect();
    if dialect == Dialect::Postgres {
        // Before the new devices are inserted, so that only stored ones are compared.
        let changed = db::query(format!(
            "UPDATE devices d SET {}, last_sync_at = ?3 FROM {}
             WHERE d.id = {} AND d.connector_id = ?1 AND d.device_set = ?4 AND ({}) <> 0",
            site_assignments(dialect, "j.value", !0),
            source.rows(dialect),
            device_id(dialect),
            change_mask("j.value", dialect)
        ))
        .bind(connector_id)
        .bind(source.bound())
        .bind(synced_at)
        .bind(set)
        .execute(&mut *tx)
        .await?;
        let inserted = insert_devices(tx, connector_id, source, set, synced_at).await?;
        return Ok(inserted + changed);
    }
    let rowid = dialect.rowid();
    // Which columns of each stored device the upload changes (before the new devices are
    // inserted, so that only stored ones are compared). CROSS JOIN keeps the upload as the outer
    // loop: SQLite would otherwise walk the connector's devices and read the whole upload for
    // each.
    let table = "temp.changed_devices";
    db::query(format!("DROP TABLE IF EXISTS {table}"))
        .execute(&mut *tx)
        .await?;
    db::query(format!(
        "CREATE TABLE {table} AS
         SELECT d.rowid AS rid, j.value AS device, {} AS mask
         FROM {} CROSS JOIN devices d ON d.id = {}
         WHERE d.connector_id = ?1 AND d.device_set = ?3 AND mask <> 0",
        change_mask("j.value", dialect),
        source.rows(dialect),
        device_id(dialect)
    ))
    .bind(connector_id)
    .bind(source.bound())
    .bind(set)
    .execute(&mut *tx)
    .await?;
    db::query("CREATE INDEX changed_devices_by_mask ON changed_devices (mask)")
        .execute(&mut *tx)
        .await?;
    let inserted = insert_devices(tx, connector_id, source, set, synced_at).await?;

    let masks: Vec<i64> = db::query_scalar(format!("SELECT DISTINCT mask FROM {table}"))
        .fetch_all(&mut *tx)
        .await?;
    for mask in masks {
        db::query(format!(
            "UPDATE devices SET {}, last_sync_at = ?2 FROM {table} c
             WHERE c.mask = ?1 AND devices.{rowid} = c.rid",
            site_assignments(dialect, "c.device", mask)
        ))
        .bind(mask)
        .bind(synced_at)
        .execute(&mut *tx)
        .await?;
    }
    let changed: i64 = db::query_scalar(format!("SELECT COUNT(*) FROM {table}"))
        .fetch_one(&mut *tx)
        .await?;
    db::query(format!("DROP TABLE {table}"))
        .execute(&mut *tx)
        .await?;
    Ok(inserted + changed as u64)
}

/// How long a list reuses [`Store::few_shown`]'s answer.
const FEW_SHOWN_FOR: std::time::Duration = std::time::Duration::from_secs(1);

/// Every device read, as its JSON object in SQL (see [`json_expression`]).
fn device_json() -> &'static str {
    static JSON: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    JSON.get_or_init(|| json_expression(top_level()))
}

/// A device from the JSON object SQLite made of its row.
fn decoded(json: &str) -> StoreResult<Device> {
    serde_json::from_str(json)
        .map_err(|error| StoreError::Internal(format!("a stored device does not decode: {error}")))
}
