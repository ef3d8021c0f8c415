//! What several instances share through the store, asked of the store without naming its backend:
//! on PostgreSQL the outbox of live events, site wake-ups, throttled attempts and the lead of
//! background tasks; on SQLite (one instance) none of them is kept, and the answers say so.

use std::time::Duration;

use sqlx::postgres::PgListener;
use time::OffsetDateTime;

use super::error::StoreResult;
use super::postgres::{leader, outbox, signals, throttle};
use super::{timestamp, Store};

pub use super::postgres::leader::Task;
pub use super::postgres::outbox::StoredEvent;
pub use super::postgres::throttle::Quota;

/// A background task this instance may or may not be the one to run: always on SQLite, on
/// PostgreSQL while it holds the task's lead.
pub struct Duty(leader::Duty);

impl Duty {
    pub fn new(task: Task) -> Self {
        Self(leader::Duty::new(task))
    }
}

/// A wake-up from another instance: a new event, or a site's id.
pub struct Listener(PgListener);

impl Listener {
    /// The next wake-up's payload (reconnecting by itself when the connection drops; read what it
    /// announces from the table rather than trusting it).
    pub async fn recv(&mut self) -> StoreResult<String> {
        Ok(self.0.recv().await?.payload().to_owned())
    }
}

impl Store {
    /// Whether other instances may share this store (PostgreSQL), so that what one instance does
    /// reaches them through it.
    pub fn is_shared(&self) -> bool {
        self.postgres().is_some()
    }

    /// Whether this instance should run `duty`'s task now.
    pub async fn is_mine(&self, duty: &mut Duty) -> bool {
        duty.0.is_mine(self.postgres()).await
    }

    /// One attempt for `key` counted across instances: `Some(Ok(()))` when `quota` allows it,
    /// `Some(Err(wait))` when not; `None` when this store serves one instance (which counts its
    /// attempts itself).
    pub async fn shared_attempt(
        &self,
        key: &str,
        quota: Quota,
        now: OffsetDateTime,
    ) -> Option<StoreResult<Result<(), Duration>>> {
        let pool = self.postgres()?;
        let now_ms = i64::try_from(now.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX);
        Some(
            throttle::attempt(pool, key, quota, now_ms)
                .await
                .map_err(Into::into),
        )
    }

    /// Keeps an event that no change wrote for every instance's streams; false when this store
    /// keeps no events (one instance: its streams get it at once).
    pub async fn append_event(
        &self,
        name: &str,
        data: &str,
        now: OffsetDateTime,
    ) -> StoreResult<bool> {
        let Some(pool) = self.postgres() else {
            return Ok(false);
        };
        let mut tx = pool.begin().await?;
        outbox::append(&mut tx, &timestamp(now), name, data).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// The kept events after number `after`, oldest first, at most `limit` (none on one instance).
    pub async fn events_after(&self, after: i64, limit: i64) -> StoreResult<Vec<StoredEvent>> {
        match self.postgres() {
            Some(pool) => Ok(outbox::read_after(pool, after, limit).await?),
            None => Ok(Vec::new()),
        }
    }

    /// The number of the last kept event (0 when none).
    pub async fn last_event(&self) -> StoreResult<i64> {
        match self.postgres() {
            Some(pool) => Ok(sqlx::query_scalar::<_, i64>(
                "SELECT COALESCE(MAX(seq), 0) FROM events",
            )
            .fetch_one(pool)
            .await?),
            None => Ok(0),
        }
    }

    /// A listener woken when an event is kept by any instance; `None` on one instance.
    pub async fn event_listener(&self) -> Option<StoreResult<Listener>> {
        let pool = self.postgres()?;
        Some(
            outbox::listener(pool)
                .await
                .map(Listener)
                .map_err(Into::into),
        )
    }

    /// Wakes the long-poll of `connector_id` on the other instances (none on one instance).
    pub async fn wake_site_elsewhere(&self, connector_id: &str) -> StoreResult<()> {
        if let Some(pool) = self.postgres() {
            sqlx::query("SELECT pg_notify($1, $2)")
                .bind(signals::CHANNEL)
                .bind(connector_id)
                .execute(pool)
                .await?;
        }
        Ok(())
    }

    /// Copies this SQLite store's tenant into the empty PostgreSQL database at `target`, in one
    /// transaction (the command line's `migrate-to`): how many rows of each table.
    pub async fn copy_into_postgres(
        &self,
        target: &str,
    ) -> anyhow::Result<Vec<super::postgres::Copied>> {
        if !super::is_postgres(target) {
            anyhow::bail!(
                "migrate-to copies into PostgreSQL: its --database-url is a postgres:// URL"
            );
        }
        if self.is_shared() {
            anyhow::bail!("migrate-to copies from SQLite: the --database-url before it names the SQLite database to copy");
        }
        let pool = super::postgres::connect(target).await?;
        let copied = super::postgres::copy_from_sqlite(self, &pool).await;
        pool.close().await;
        copied
    }

    /// A listener for other instances' site wake-ups (each payload a connector's id); `None` on
    /// one instance.
    pub async fn site_listener(&self) -> Option<StoreResult<Listener>> {
        let pool = self.postgres()?;
        Some(
            signals::listener(pool)
                .await
                .map(Listener)
                .map_err(Into::into),
        )
    }
}
