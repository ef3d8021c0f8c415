//! Attempts throttled across instances (sign-in, per account and per address): the generic cell
//! rate algorithm, as the in-process limiter (governor) runs it, kept in one row per key that one
//! statement updates, so that concurrent attempts on several instances are counted exactly once
//! each.

use std::time::Duration;

use sqlx::PgPool;

/// A key's allowance: one attempt per `period`, up to `burst` at once.
#[derive(Debug, Clone, Copy)]
pub struct Quota {
    pub period: Duration,
    pub burst: u32,
}

/// Takes one attempt for `key` at `now_ms` (milliseconds since 1970): `Ok` when the quota allows
/// it, else how long until it would.
pub async fn attempt(
    pool: &PgPool,
    key: &str,
    quota: Quota,
    now_ms: i64,
) -> sqlx::Result<Result<(), Duration>> {
    let period = i64::try_from(quota.period.as_millis())
        .unwrap_or(i64::MAX)
        .max(1);
    // How far ahead of now the next arrival may be and still be let in.
    let tolerance = period.saturating_mul(i64::from(quota.burst.max(1)) - 1);
    let taken: Option<i64> = sqlx::query_scalar(
        "INSERT INTO throttle AS t (key, tat) VALUES ($1, $2 + $3)
         ON CONFLICT (key) DO UPDATE SET tat = GREATEST(t.tat, $2) + $3
         WHERE GREATEST(t.tat, $2) - $2 <= $4
         RETURNING tat",
    )
    .bind(key)
    .bind(now_ms)
    .bind(period)
    .bind(tolerance)
    .fetch_optional(pool)
    .await?;
    if taken.is_some() {
        return Ok(Ok(()));
    }
    let tat: i64 = sqlx::query_scalar("SELECT tat FROM throttle WHERE key = $1")
        .bind(key)
        .fetch_one(pool)
        .await?;
    let wait = (tat - tolerance - now_ms).max(1);
    Ok(Err(Duration::from_millis(wait as u64)))
}
