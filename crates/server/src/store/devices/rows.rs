//! The device rows an upload writes: which devices it names (its batches or a delta), checks
//! that refuse it whole (a device twice, another hierarchy's device), and the statements that
//! insert them, or update only what changed (the site's columns, compared in SQL).

use admin_api::devices::DEVICE_FIELDS;
use admin_api::fields::FieldType;

use super::super::sql::{column, Dialect};
use super::statements::REMOVED;
use crate::store::db::{self, Tx};
use crate::store::error::{StoreError, StoreResult};

/// Where an upload's devices are read from, in SQL: the database's JSON functions read the
/// devices (`SiteDevice` as the protocol sends them) so that each step is one statement over all
/// of them, not one round trip per device.
#[derive(Clone, Copy)]
pub(super) enum UploadRows<'a> {
    /// A JSON array of devices (bound as `?2`).
    Json(&'a str),
    /// A JSON array of device ids (bound as `?2`).
    Ids(&'a str),
}

/// A device's id in a [`UploadRows`] row (compared byte by byte, as the stored ids are).
pub(super) fn device_id(dialect: Dialect) -> &'static str {
    match dialect {
        Dialect::Sqlite => "json_extract(j.value, '$.id')",
        Dialect::Postgres => "((j.value ->> 'id') COLLATE \"C\")",
    }
}

impl<'a> UploadRows<'a> {
    /// The rows, each device (or id) as `j` (in upload order).
    pub(super) fn rows(self, dialect: Dialect) -> &'static str {
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

    /// The ids of these rows' devices, as a query (column `device_id`).
    pub(super) fn ids(self, dialect: Dialect) -> String {
        format!(
            "SELECT {} AS device_id FROM {}",
            self.id(dialect),
            self.rows(dialect)
        )
    }

    /// What `?2` is: the devices' (or their ids') JSON.
    pub(super) fn bound(self) -> db::Value {
        match self {
            Self::Json(json) | Self::Ids(json) => db::Value::json(json),
        }
    }
}

/// A device sent twice in one upload is ambiguous (which one is it?): the upload is refused whole.
pub(super) fn reject_repeated_ids<'a>(
    ids: impl Iterator<Item = &'a str>,
    field: &str,
) -> StoreResult<()> {
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
pub(super) async fn reject_foreign_devices(
    tx: &mut Tx,
    connector_id: &str,
    rows: UploadRows<'_>,
) -> StoreResult<()> {
    let dialect = tx.dialect();
    let foreign: Option<String> = db::query_scalar(format!(
        "SELECT d.id FROM {} JOIN devices d ON d.id = {} WHERE d.connector_id <> ?1
           AND d.connector_id NOT IN ({REMOVED})
           AND (d.connector_id, d.device_set) NOT IN
               (SELECT connector_id, device_set FROM hidden_device_sets WHERE state = 'dying')
         LIMIT 1",
        rows.rows(dialect),
        rows.id(dialect)
    ))
    .bind(connector_id)
    .bind(rows.bound())
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

/// Of the devices of `rows`: how many the connector's device set `set` has, and how many are
/// new to it or change one it has.
pub(super) async fn compare_devices(
    tx: &mut Tx,
    connector_id: &str,
    rows: UploadRows<'_>,
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
        rows.rows(dialect),
        device_id(dialect)
    ))
    .bind(connector_id)
    .bind(rows.bound())
    .bind(set)
    .fetch_one(&mut *tx)
    .await?;
    Ok((known as u64, changed as u64))
}

/// Inserts the devices of `rows` that the connector's device set `set` does not have yet;
/// how many.
pub(super) async fn insert_devices(
    tx: &mut Tx,
    connector_id: &str,
    rows: UploadRows<'_>,
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
        rows.rows(dialect)
    ))
    .prepared()
    .bind(connector_id)
    .bind(rows.bound())
    .bind(synced_at)
    .bind(set)
    .execute(&mut *tx)
    .await
}

/// Inserts the new devices of `rows` into the connector's device set `set` and writes the
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
pub(super) async fn upsert_devices(
    tx: &mut Tx,
    connector_id: &str,
    rows: UploadRows<'_>,
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
            rows.rows(dialect),
            device_id(dialect),
            change_mask("j.value", dialect)
        ))
        .bind(connector_id)
        .bind(rows.bound())
        .bind(synced_at)
        .bind(set)
        .execute(&mut *tx)
        .await?;
        let inserted = insert_devices(tx, connector_id, rows, set, synced_at).await?;
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
        rows.rows(dialect),
        device_id(dialect)
    ))
    .bind(connector_id)
    .bind(rows.bound())
    .bind(set)
    .execute(&mut *tx)
    .await?;
    db::query("CREATE INDEX changed_devices_by_mask ON changed_devices (mask)")
        .execute(&mut *tx)
        .await?;
    let inserted = insert_devices(tx, connector_id, rows, set, synced_at).await?;

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
