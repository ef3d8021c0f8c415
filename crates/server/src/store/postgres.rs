//! PostgreSQL, the store that several instances share (`--database-url postgres://…`): its schema,
//! embedded from `migrations/postgres` and applied on connect. The store's queries still run on
//! SQLite only; this module is where the second backend grows (issue 18).

use std::time::Duration;

use sqlx::postgres::PgPoolOptions;
use sqlx::PgPool;

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
