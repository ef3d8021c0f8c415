//! The devices as All devices reads them: pages in any order with filters and searches, their
//! counts, the CSV export, one device; what a hierarchy uploads is written in `uploads.rs`.

use admin_api::Device;
use rusqlite::types::Value;
use rusqlite::OptionalExtension;

use super::db;
use super::error::{StoreError, StoreResult};
use super::sql::{column, numbered, Dialect};
use super::Store;
use crate::query::devices::{top_level, DeviceCursor, DeviceQuery};
use statements::{
    conditions, csv_expression, json_expression, next_page, ranges, search_match, shown, Shown,
};

mod full_sync;
mod rows;
pub mod statements;
mod uploads;

pub struct DevicePage<T = Device> {
    pub devices: Vec<T>,
    /// Present when more devices follow this page.
    pub next: Option<DeviceCursor>,
    pub count: Option<u64>,
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
        let ranges = ranges(query, after, Dialect::Sqlite)?;
        let removed = self.removed.ids();
        // A search that matches many devices is answered by walking the order's index and
        // keeping what matches (a page is soon full); one that matches few, by looking the
        // matches up and sorting them. SQLite cannot tell which from the query, so it is told.
        let by_set = self.few_shown_lately().await?;
        let walk = match query.search.as_ref().and_then(search_match) {
            _ if by_set => " INDEXED BY devices_by_connector".to_owned(),
            Some(expression) if self.search_is_broad(&expression).await? => {
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
                let shown = Shown::Sqlite {
                    removed: &removed,
                    by_set,
                };
                let conditions = conditions(query, range.as_ref(), shown);
                let sql = format!(
                    "SELECT {json}, {} AS sort_value, rowid FROM devices{walk} WHERE {} ORDER BY {} LIMIT ?",
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
        let send = |item| send_within(&sink, item, stall);
        let dialect = self.dialect();
        let selected: Vec<String> = columns
            .iter()
            .map(|field| csv_expression(field, dialect))
            .collect();
        let removed = self.removed.ids();
        let shown = match dialect {
            Dialect::Sqlite => Shown::Sqlite {
                removed: &removed,
                by_set: false,
            },
            Dialect::Postgres => Shown::Postgres,
        };
        let conditions = conditions(&query, None, shown);
        let sql = format!(
            "SELECT {} FROM devices WHERE {} ORDER BY {}",
            selected.join(", "),
            conditions.text,
            query.order().order_by(dialect)
        );
        // Rows as they come, each a record of text columns.
        let text = match dialect {
            Dialect::Sqlite => sql,
            Dialect::Postgres => numbered(&sql),
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
        let removed = self.removed.ids();
        let shown = match self.dialect() {
            Dialect::Sqlite => Shown::Sqlite {
                removed: &removed,
                by_set: false,
            },
            Dialect::Postgres => Shown::Postgres,
        };
        let conditions = conditions(query, None, shown);
        // Keyed by every condition and value: on SQLite the offboarded connectors this instance
        // knows of are among them.
        let key = format!("{}\u{0}{:?}", conditions.text, conditions.params);
        self.counts
            .get_or_count(key, generation, || async {
                if let Some(pool) = self.postgres() {
                    let mut connection = pool.acquire().await?;
                    return super::postgres::count_devices(&mut connection, &conditions).await;
                }
                let sql = format!("SELECT COUNT(*) FROM devices WHERE {}", conditions.text);
                let mut count = sqlx::query_scalar::<_, i64>(&sql);
                for param in &conditions.params {
                    count = count.bind(param.clone());
                }
                Ok(count.fetch_one(&self.sqlite().reader).await? as u64)
            })
            .await
    }

    pub async fn device_connector(&self, id: &str) -> StoreResult<Option<String>> {
        db::query_scalar(format!(
            "SELECT connector_id FROM devices WHERE id = ? AND {}",
            shown(self.dialect())
        ))
        .bind(id)
        .fetch_optional(self.read())
        .await
        .map_err(Into::into)
    }

    pub async fn device(&self, id: &str) -> StoreResult<Option<Device>> {
        if let Some(pool) = self.postgres() {
            let fields: Vec<&'static admin_api::fields::Field> = top_level().collect();
            let row = sqlx::query(&numbered(&format!(
                "SELECT {} FROM devices WHERE id = ? AND {}",
                statements::json_columns(fields.iter().copied()),
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
                "SELECT {} FROM devices WHERE id = ? AND {}",
                device_json(),
                shown(Dialect::Sqlite)
            );
            let json: Option<String> = connection
                .prepare_cached(&sql)?
                .query_row([id], |row| row.get(0))
                .optional()?;
            json.as_deref().map(decoded).transpose()
        })
        .await
    }
}

/// Hands `item` to an export's response; `false` when the response is gone or has not taken it
/// within `stall` (its client stopped reading: the export ends).
pub(crate) async fn send_within(
    sink: &tokio::sync::mpsc::Sender<StoreResult<CsvChunk>>,
    item: StoreResult<CsvChunk>,
    stall: std::time::Duration,
) -> bool {
    match tokio::time::timeout(stall, sink.send(item)).await {
        Ok(Ok(())) => true,
        Ok(Err(_)) => false,
        Err(_) => {
            tracing::warn!("an export's client stopped reading; the export was ended");
            false
        }
    }
}

/// What an export's reader sends: rows, then `Done` once every matching device was sent.
pub enum CsvChunk {
    Rows(Vec<Vec<Option<String>>>),
    Done,
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
