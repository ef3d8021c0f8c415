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

use sqlx::postgres::PgPoolOptions;
use sqlx::PgPool;

use crate::error::AppResult;
use crate::query::devices::{
    column, json_expression_in, next_page, top_level, DeviceCursor, DeviceQuery, Dialect, Sql,
};
use crate::query::sql::numbered;

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

/// The devices All devices shows: those of the sets their connectors show (a set a sync is still
/// writing, or one it replaced, is hidden), of connectors not offboarded.
pub(crate) const SHOWN: &str =
    "(connector_id, device_set) IN (SELECT id, device_set FROM connectors WHERE removed_at IS NULL)";

/// One page of the devices that match `query` (made in [`Dialect::Postgres`]), in its order,
/// after `after`, each as the JSON object of the query's selected fields (all when it selects
/// none) that PostgreSQL builds, with the next page's cursor: All devices' conditions, order and
/// keyset paging, the ranges of a deep page read in one snapshot.
pub async fn list_devices_json(
    pool: &PgPool,
    query: &DeviceQuery,
    after: Option<&DeviceCursor>,
    top: u32,
    few_shown: bool,
) -> AppResult<(Vec<String>, Option<DeviceCursor>)> {
    let order = query.order();
    let ranges = query.ranges(after, Dialect::Postgres)?;
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
    let json = match &query.select {
        Some(fields) => json_expression_in(fields.iter().copied(), Dialect::Postgres),
        None => json_expression_in(top_level(), Dialect::Postgres),
    };
    // Each device's JSON, its sort value and seq (the next page's cursor).
    let mut rows: Vec<(String, Option<String>, i64)> = Vec::with_capacity(wanted);
    for range in &ranges {
        if rows.len() == wanted {
            break;
        }
        let conditions = conditions(query, range.as_ref());
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
            "SELECT {json}, {} AS sort_value, seq FROM {from}",
            column(order.field),
        );
        text.push_str(&format!(
            " ORDER BY {} LIMIT ?",
            order.order_by(Dialect::Postgres)
        ));
        let text = numbered(&text);
        // Planned for its values each time (not once for any): whether a search or a prefix can
        // use an index depends on them.
        let mut statement =
            sqlx::query_as::<_, (String, Option<String>, i64)>(&text).persistent(false);
        for value in conditions.params {
            statement = statement.bind(value);
        }
        statement = statement.bind((wanted - rows.len()) as i64);
        rows.extend(match snapshot.as_mut() {
            Some(tx) => statement.fetch_all(&mut **tx).await?,
            None => statement.fetch_all(pool).await?,
        });
    }
    if let Some(tx) = snapshot {
        tx.commit().await?;
    }
    let next = next_page(&mut rows, top, &order);
    Ok((rows.into_iter().map(|(json, _, _)| json).collect(), next))
}

/// How many devices match `query` (made in [`Dialect::Postgres`]).
pub async fn count_devices(
    connection: &mut sqlx::PgConnection,
    query: &DeviceQuery,
) -> AppResult<u64> {
    let conditions = conditions(query, None);
    let text = numbered(&format!(
        "SELECT COUNT(*) FROM devices WHERE {}",
        conditions.text
    ));
    let mut count = sqlx::query_scalar::<_, i64>(&text).persistent(false);
    for value in conditions.params {
        count = count.bind(value);
    }
    Ok(count.fetch_one(connection).await? as u64)
}

/// The devices shown that match the query's filter and search, within `range` of its order.
pub(crate) fn conditions(query: &DeviceQuery, range: Option<&Sql>) -> Sql {
    let mut sql = Sql {
        text: SHOWN.to_owned(),
        params: Vec::new(),
    };
    for part in [query.filter.as_ref(), query.search.as_ref(), range]
        .into_iter()
        .flatten()
    {
        sql.text.push_str(" AND ");
        sql.text.push_str(&part.text);
        sql.params.extend(part.params.iter().cloned());
    }
    sql
}
