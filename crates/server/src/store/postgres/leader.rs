//! Background work that must run once across instances (the sweeper's timeouts, overdue
//! offboardings, deletions, ended sessions): the instance that holds a task's session-level
//! advisory lock does it. The lock lives with the connection that took it, so when that instance
//! dies (or its connection does), PostgreSQL releases it and another instance's next try takes the
//! task over; no lease to expire, no clock to trust.

use sqlx::{PgConnection, PgPool};

/// Background tasks, each with its own lock number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Task {
    /// Timeouts, overdue offboardings, ended sessions.
    Sweeper,
    /// Deleting what offboardings and replaced uploads leave behind.
    Deleter,
}

impl Task {
    fn lock(self) -> i64 {
        match self {
            Task::Sweeper => 0x4154_5441_4348_0100,
            Task::Deleter => 0x4154_5441_4348_0101,
        }
    }
}

/// A task's turn on this instance: always on SQLite (one instance), on PostgreSQL while this
/// instance leads it.
pub struct Duty {
    task: Task,
    leader: Option<Leader>,
}

impl Duty {
    pub fn new(task: Task) -> Self {
        Self { task, leader: None }
    }

    /// Whether this instance should do the task now: it leads it, or has just taken it over.
    pub async fn is_mine(&mut self, pool: Option<&PgPool>) -> bool {
        let Some(pool) = pool else {
            return true;
        };
        if let Some(leader) = self.leader.as_mut() {
            if leader.still_held().await {
                return true;
            }
            self.leader = None;
        }
        match Leader::try_acquire(pool, self.task).await {
            Ok(Some(leader)) => {
                tracing::info!(task = ?self.task, "this instance now does the task");
                self.leader = Some(leader);
                true
            }
            Ok(None) => false,
            Err(error) => {
                tracing::warn!(%error, task = ?self.task, "could not ask whether another instance does the task");
                false
            }
        }
    }
}

/// The right to run a task, held for as long as this value (and its connection, which is its own,
/// not the pool's: dropped, it closes and the lock goes with it) lives.
pub struct Leader {
    task: Task,
    connection: PgConnection,
}

impl Leader {
    /// Takes `task` unless another instance holds it (then `None`: try again later).
    pub async fn try_acquire(pool: &PgPool, task: Task) -> sqlx::Result<Option<Self>> {
        let mut connection = pool.acquire().await?.detach();
        let taken: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
            .bind(task.lock())
            .fetch_one(&mut connection)
            .await?;
        Ok(taken.then_some(Self { task, connection }))
    }

    /// Whether the lock is still held (its connection alive); check before each round of work.
    pub async fn still_held(&mut self) -> bool {
        sqlx::query_scalar::<_, bool>(
            "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory'
                 AND pid = pg_backend_pid() AND granted
                 AND ((classid::bigint << 32) | objid::bigint) = $1)",
        )
        .bind(self.task.lock())
        .fetch_one(&mut self.connection)
        .await
        .unwrap_or(false)
    }

    /// Gives the task up for another instance to take.
    pub async fn release(mut self) -> sqlx::Result<()> {
        sqlx::query("SELECT pg_advisory_unlock($1)")
            .bind(self.task.lock())
            .execute(&mut self.connection)
            .await?;
        Ok(())
    }

    /// The server process of the lock's connection (to tell one instance from another).
    pub async fn backend_pid(&mut self) -> sqlx::Result<i32> {
        sqlx::query_scalar("SELECT pg_backend_pid()")
            .fetch_one(&mut self.connection)
            .await
    }
}
