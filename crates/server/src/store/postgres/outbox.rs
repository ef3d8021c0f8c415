//! The live events of several instances: an outbox table written in the transaction of the change
//! each event announces, read by every instance in order, with LISTEN/NOTIFY only as the wake-up
//! (a notification can be missed, say while a listener reconnects: the table cannot).
//!
//! PostgreSQL hands out sequence numbers when rows are inserted, not when they commit: a reader
//! that saw 6 could later find 5 commit, and skip it. So the events are written under one
//! transaction-scoped advisory lock, taken just before the insert (the change's last statement):
//! event-writing transactions commit in the order of their numbers, and a reader's "after 6" never
//! passes over one still to come. The lock is held from the insert to the commit only.

use sqlx::postgres::PgListener;
use sqlx::{PgConnection, PgPool};

/// The advisory lock that orders the events' commits (any number no other lock uses).
const EVENTS_LOCK: i64 = 0x4154_5441_4348_0001;
/// The channel that wakes the event streams; its payload is the new event's number.
pub const CHANNEL: &str = "attach_events";

/// An event read back: its number (the stream's event id), name and JSON.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct StoredEvent {
    pub seq: i64,
    pub name: String,
    pub data: String,
}

/// Writes an event in `tx` (the transaction of the change it announces) and wakes the listeners
/// when it commits. Its number.
pub async fn append(tx: &mut PgConnection, at: &str, name: &str, data: &str) -> sqlx::Result<i64> {
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(EVENTS_LOCK)
        .execute(&mut *tx)
        .await?;
    let seq: i64 = sqlx::query_scalar(
        "INSERT INTO events (at, name, data) VALUES ($1, $2, CAST($3 AS jsonb)) RETURNING seq",
    )
    .bind(at)
    .bind(name)
    .bind(data)
    .fetch_one(&mut *tx)
    .await?;
    // Delivered at commit, and only then.
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(CHANNEL)
        .bind(seq.to_string())
        .execute(&mut *tx)
        .await?;
    Ok(seq)
}

/// The events after number `after`, oldest first, at most `limit`.
pub async fn read_after(pool: &PgPool, after: i64, limit: i64) -> sqlx::Result<Vec<StoredEvent>> {
    sqlx::query_as(
        "SELECT seq, name, data::text AS data FROM events WHERE seq > $1 ORDER BY seq LIMIT $2",
    )
    .bind(after)
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// A listener on the events' channel: [`PgListener::recv`] returns when an event commits
/// (reconnecting by itself when its connection drops; read the table after each wake-up, and after
/// a reconnect, rather than trusting the payloads).
pub async fn listener(pool: &PgPool) -> sqlx::Result<PgListener> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener.listen(CHANNEL).await?;
    Ok(listener)
}
