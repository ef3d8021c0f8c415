//! Site wake-ups across instances: a connector's action long-poll may wait on one instance while an
//! admin asks for an action on another. The change's transaction sends a notification carrying the
//! connector's id (delivered at commit, so the site never looks before the action is there); each
//! instance listens and wakes its own long-polls. A wake-up missed while a listener reconnects costs
//! the site one poll interval, never an action: the long-poll reads the actions table.

use sqlx::postgres::PgListener;
use sqlx::{PgConnection, PgPool};

/// The channel of site wake-ups; its payload is the connector's id.
pub const CHANNEL: &str = "attach_sites";

/// Wakes the long-poll of `connector_id`, on whichever instance it waits, when `tx` commits.
pub async fn signal(tx: &mut PgConnection, connector_id: &str) -> sqlx::Result<()> {
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(CHANNEL)
        .bind(connector_id)
        .execute(&mut *tx)
        .await?;
    Ok(())
}

/// A listener for site wake-ups; each notification's payload is a connector's id.
pub async fn listener(pool: &PgPool) -> sqlx::Result<PgListener> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener.listen(CHANNEL).await?;
    Ok(listener)
}
