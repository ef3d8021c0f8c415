//! PostgreSQL, the store that several instances share (`--database-url postgres://…`): its schema,
//! embedded from `migrations/postgres` and applied on connect, and what already runs on it. The
//! admin center itself still serves from SQLite only; this module is where the second backend
//! grows (issue 18).

mod copy;
pub mod leader;
pub mod outbox;
pub mod signals;
pub mod throttle;

use std::time::Duration;

use admin_api::fields::{Field, FieldType};
use sqlx::postgres::{PgPoolOptions, PgRow};
use sqlx::{PgPool, Row, ValueRef};

use super::devices::statements::{conditions, json_columns, next_page, ranges, Shown};
use super::error::StoreResult;
use super::sql::{column, numbered, Dialect, Sql};
use crate::query::devices::{children, top_level, DeviceCursor, DeviceQuery};

pub use copy::{copy_from_sqlite, Copied, TENANT_TABLES};

/// The transaction-scoped advisory lock every changing transaction takes but the bulk writes of
/// hidden devices (see [`crate::store::Writes`]); any number no other lock uses.
pub const WRITES_LOCK: i64 = 0x4154_5441_4348_0000;

/// The transaction-scoped advisory lock every transaction that writes devices takes, before
/// [`WRITES_LOCK`] when it takes both (see [`crate::store::Writes`]).
pub const DEVICES_LOCK: i64 = 0x4154_5441_4348_0002;

/// Connections per instance: PostgreSQL serves each on a process of its own.
const CONNECTIONS: u32 = 16;

/// Connects to the database at `url` and brings its schema up to date.
pub async fn connect(url: &str) -> anyhow::Result<PgPool> {
    let pool = PgPoolOptions::new()
        .max_connections(CONNECTIONS)
        .acquire_timeout(Duration::from_secs(30))
        .connect(url)
        .await?;
    sqlx::migrate!("./migrations/postgres").run(&pool).await?;
    Ok(pool)
}

/// One page of the devices that match `query`, in its order,
/// after `after`, each as the JSON object of the query's selected fields (all when it selects
/// none) that PostgreSQL builds, with the next page's cursor: All devices' conditions, order and
/// keyset paging, the ranges of a deep page read in one snapshot.
pub async fn list_devices_json(
    pool: &PgPool,
    query: &DeviceQuery,
    after: Option<&DeviceCursor>,
    top: u32,
    few_shown: bool,
) -> StoreResult<(Vec<String>, Option<DeviceCursor>)> {
    let order = query.order();
    let ranges = ranges(query, after, Dialect::Postgres)?;
    let wanted = top as usize + 1;
    // Several ranges are read in one snapshot; a first page, the common case, is one statement
    // and needs no transaction around it (three round trips fewer).
    // (A transaction, not a bare BEGIN: dropped half-way, it rolls back before its connection
    // goes back to the pool.)
    let mut snapshot = match ranges.len() > 1 {
        true => {
            let mut tx = pool.begin().await?;
            sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                .execute(&mut *tx)
                .await?;
            Some(tx)
        }
        false => None,
    };
    let fields: Vec<&'static Field> = match &query.select {
        Some(fields) => fields.clone(),
        None => top_level().collect(),
    };
    let json = json_columns(fields.iter().copied());
    // Each device's JSON, its sort value and seq (the next page's cursor).
    let mut rows: Vec<(String, Option<String>, i64)> = Vec::with_capacity(wanted);
    for range in &ranges {
        if rows.len() == wanted {
            break;
        }
        let conditions = conditions(query, range.as_ref(), Shown::Postgres);
        // When hidden rows outnumber the shown devices (hierarchies attaching, sets being
        // deleted; see `Store::few_shown`), the shown ones are looked up set by set and sorted:
        // walking the order's index would read past the hidden rows. The planner cannot see
        // that itself (it knows the connectors and the sets, not which pairs have rows) and, as a
        // join, reads the whole table (160 ms at 156,000 rows during an upload; 0.3 ms this way):
        // a lateral subquery kept apart (`OFFSET 0`) is read once per shown set, by its index.
        let from = match few_shown {
            true => format!(
                "(WITH shown AS MATERIALIZED (
                    SELECT listed.* FROM connectors AS shown_set CROSS JOIN LATERAL (
                        SELECT * FROM devices
                        WHERE connector_id = shown_set.id AND device_set = shown_set.device_set
                        AND {} OFFSET 0) AS listed
                    WHERE shown_set.removed_at IS NULL)
                 SELECT * FROM shown) AS devices",
                conditions.text
            ),
            false => format!("devices WHERE {}", conditions.text),
        };
        let mut text = format!(
            "SELECT {} AS sort_value, seq, {json} FROM {from}",
            column(order.field),
        );
        // The row count is written in, not bound: a prepared statement's generic plan, costed
        // for an unknown LIMIT (a tenth of the rows), loses to the custom plans, and PostgreSQL
        // would then plan it for its values on every run anyway.
        text.push_str(&format!(
            " ORDER BY {} LIMIT {}",
            order.order_by(Dialect::Postgres),
            wanted - rows.len()
        ));
        let text = numbered(&text);
        // A filter or a search is planned for its values each time (not once for any): whether a
        // search or a prefix can use an index, and which, depends on them. A list of all devices
        // binds only where its page starts, which chooses no plan: it is prepared once per
        // connection (planning it was a quarter of its time in the database, the planner weighing
        // every index of the devices for its order).
        let prepared = query.filter.is_none() && query.search.is_none();
        let mut statement = sqlx::query(&text).persistent(prepared);
        for value in conditions.params {
            statement = statement.bind(value);
        }
        let found = match snapshot.as_mut() {
            Some(tx) => statement.fetch_all(&mut **tx).await?,
            None => statement.fetch_all(pool).await?,
        };
        for row in found {
            rows.push((
                device_json(&row, &fields, 2)?,
                row.try_get(0)?,
                row.try_get(1)?,
            ));
        }
    }
    if let Some(tx) = snapshot {
        tx.commit().await?;
    }
    let next = next_page(&mut rows, top, &order);
    Ok((rows.into_iter().map(|(json, _, _)| json).collect(), next))
}

/// A device's JSON object of `fields` written from its row's columns from `first` on, as
/// [`json_columns`] lists them: the same object SQLite's `json_object` makes of its row (a
/// boolean NULL is false, an object is null when its first field is).
pub(crate) fn device_json(row: &PgRow, fields: &[&Field], first: usize) -> sqlx::Result<String> {
    let mut out = Vec::with_capacity(1024);
    let mut index = first;
    write_object(
        row,
        fields.iter().map(|field| (field.name, *field)),
        &mut index,
        &mut out,
    )?;
    Ok(String::from_utf8(out).expect("JSON written from UTF-8 text is UTF-8"))
}

fn write_object<'a>(
    row: &PgRow,
    members: impl Iterator<Item = (&'a str, &'a Field)>,
    index: &mut usize,
    out: &mut Vec<u8>,
) -> sqlx::Result<()> {
    out.push(b'{');
    for (n, (name, field)) in members.enumerate() {
        if n > 0 {
            out.push(b',');
        }
        write_text(name, out);
        out.push(b':');
        write_value(row, field, index, out)?;
    }
    out.push(b'}');
    Ok(())
}

fn write_value(
    row: &PgRow,
    field: &Field,
    index: &mut usize,
    out: &mut Vec<u8>,
) -> sqlx::Result<()> {
    match field.field_type {
        FieldType::Object => {
            let members: Vec<(&str, &Field)> = children(field)
                .map(|child| (&child.name[field.name.len() + 1..], child))
                .collect();
            if row.try_get_raw(*index)?.is_null() {
                *index += members.len();
                out.extend_from_slice(b"null");
            } else {
                write_object(row, members.into_iter(), index, out)?;
            }
        }
        FieldType::Bool => {
            let value: Option<bool> = row.try_get(*index)?;
            *index += 1;
            out.extend_from_slice(if value == Some(true) {
                b"true"
            } else {
                b"false"
            });
        }
        FieldType::List => {
            let value: Option<&str> = row.try_get(*index)?;
            *index += 1;
            out.extend_from_slice(value.unwrap_or("null").as_bytes());
        }
        _ => {
            let value: Option<&str> = row.try_get(*index)?;
            *index += 1;
            match value {
                Some(text) => write_text(text, out),
                None => out.extend_from_slice(b"null"),
            }
        }
    }
    Ok(())
}

/// `text` as a JSON string.
fn write_text(text: &str, out: &mut Vec<u8>) {
    serde_json::to_writer(out, text).expect("writing to memory does not fail");
}

/// How many devices match `conditions` (see [`conditions`]).
pub async fn count_devices(
    connection: &mut sqlx::PgConnection,
    conditions: &Sql,
) -> StoreResult<u64> {
    let text = numbered(&format!(
        "SELECT COUNT(*) FROM devices WHERE {}",
        conditions.text
    ));
    let mut count = sqlx::query_scalar::<_, i64>(&text).persistent(false);
    for value in &conditions.params {
        count = count.bind(value.clone());
    }
    Ok(count.fetch_one(connection).await? as u64)
}
