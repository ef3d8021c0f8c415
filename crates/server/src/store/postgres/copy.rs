//! `admin-server migrate-to --database-url postgres://…`: a tenant's SQLite database copied into an
//! empty PostgreSQL one, every table in one PostgreSQL transaction (all of it lands, or nothing),
//! read from one SQLite snapshot, in batches of bounded size.

use anyhow::{bail, Context};
use sqlx::PgPool;

use crate::store::Store;

/// The tables a tenant is made of, in an order their references allow.
pub const TENANT_TABLES: &[&str] = &[
    "connectors",
    "onboarding_tokens",
    "users",
    "role_definitions",
    "role_claim_values",
    "user_roles",
    "device_views",
    "sessions",
    "logout_tokens",
    "bulk_actions",
    "device_actions",
    "site_requests",
    "cmpivot_queries",
    "audit_events",
    "sync_batches",
    "syncs",
    "hidden_device_sets",
    "devices",
];

/// Tables whose rows SQLite keeps without a rowid (read whole: they hold a few rows each).
const WITHOUT_ROWID: &[&str] = &["hidden_device_sets"];

/// Identity columns, moved past the copied values so that new rows follow them.
const IDENTITIES: &[(&str, &str)] = &[
    ("devices", "seq"),
    ("device_actions", "seq"),
    ("site_requests", "seq"),
    ("audit_events", "seq"),
];

/// Rows per statement (a batch of devices is a few megabytes of JSON).
const BATCH: i64 = 2_000;

/// How many rows of a table were copied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Copied {
    pub table: &'static str,
    pub rows: u64,
}

/// Copies every table of `source` into `target`, which must hold no tenant yet (its schema
/// applied, see [`super::connect`]). Run it with the admin center stopped: what the server
/// writes after the copy's snapshot would not be copied.
pub async fn copy_from_sqlite(source: &Store, target: &PgPool) -> anyhow::Result<Vec<Copied>> {
    let mut into = target.begin().await?;
    for table in TENANT_TABLES {
        let holds: bool = sqlx::query_scalar(&format!("SELECT EXISTS (SELECT 1 FROM {table})"))
            .fetch_one(&mut *into)
            .await?;
        if holds && *table != "role_definitions" {
            bail!(
                "the PostgreSQL database already holds a tenant ({table} has rows): copy into an empty one"
            );
        }
    }
    // The built-in roles come from the source too, as it has them.
    sqlx::query("DELETE FROM role_definitions")
        .execute(&mut *into)
        .await?;
    // One snapshot of the source for every table.
    let Some(reader) = source.sqlite_reader() else {
        bail!("the tenant to copy is not in SQLite");
    };
    let mut from = reader.begin().await?;
    let mut copied = Vec::new();
    for &table in TENANT_TABLES {
        let object = json_object_of(&mut into, table).await?;
        let insert = format!(
            "INSERT INTO {table} OVERRIDING SYSTEM VALUE
             SELECT * FROM json_populate_recordset(NULL::{table}, CAST($1 AS json))"
        );
        let mut rows = 0u64;
        if WITHOUT_ROWID.contains(&table) {
            let objects: Vec<String> = sqlx::query_scalar(&format!("SELECT {object} FROM {table}"))
                .fetch_all(&mut *from)
                .await?;
            rows += objects.len() as u64;
            insert_batch(&mut into, &insert, &objects).await?;
        } else {
            let mut after = i64::MIN;
            loop {
                let batch: Vec<(i64, String)> = sqlx::query_as(&format!(
                    "SELECT rowid, {object} FROM {table} WHERE rowid > ? ORDER BY rowid LIMIT ?"
                ))
                .bind(after)
                .bind(BATCH)
                .fetch_all(&mut *from)
                .await?;
                let Some((last, _)) = batch.last() else { break };
                after = *last;
                rows += batch.len() as u64;
                let objects: Vec<String> = batch.into_iter().map(|(_, json)| json).collect();
                insert_batch(&mut into, &insert, &objects).await?;
            }
        }
        copied.push(Copied { table, rows });
    }
    from.rollback().await?;
    for (table, column) in IDENTITIES {
        sqlx::query(&format!(
            "SELECT setval(pg_get_serial_sequence('{table}', '{column}'),
                           COALESCE((SELECT max({column}) FROM {table}), 0) + 1, false)"
        ))
        .execute(&mut *into)
        .await?;
    }
    into.commit().await.context("committing the copy")?;
    Ok(copied)
}

/// A row of `table` as the JSON object PostgreSQL reads into its row type, in SQLite's SQL: the
/// columns by name, JSON columns as JSON, bytes as `\x` hex, the devices' `seq` their rowid
/// (booleans stay 0 and 1, which PostgreSQL reads as false and true).
async fn json_object_of(into: &mut sqlx::PgConnection, table: &str) -> anyhow::Result<String> {
    let columns: Vec<(String, String)> = sqlx::query_as(
        "SELECT column_name::text, data_type::text FROM information_schema.columns
         WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position",
    )
    .bind(table)
    .fetch_all(&mut *into)
    .await?;
    let pairs: Vec<String> = columns
        .iter()
        .map(|(name, data_type)| {
            let value = match (table, name.as_str(), data_type.as_str()) {
                ("devices", "seq", _) => "rowid".to_owned(),
                (_, _, "jsonb") => format!("json({name})"),
                (_, _, "bytea") => format!("'\\x' || lower(hex({name}))"),
                _ => name.clone(),
            };
            format!("'{name}', {value}")
        })
        .collect();
    Ok(format!("json_object({})", pairs.join(", ")))
}

async fn insert_batch(
    into: &mut sqlx::PgConnection,
    insert: &str,
    objects: &[String],
) -> anyhow::Result<()> {
    if objects.is_empty() {
        return Ok(());
    }
    sqlx::query(insert)
        .bind(format!("[{}]", objects.join(",")))
        .execute(&mut *into)
        .await?;
    Ok(())
}
