//! The SQLite store: one pool, migrations embedded and applied on connect.

pub mod actions;
pub mod audit;
pub mod bulk;
mod caches;
pub mod connectors;
pub mod db;
pub mod devices;
pub mod error;
pub mod onboarding;
pub mod postgres;
pub mod provider_users;
pub mod sessions;
pub mod shared;
pub mod site_requests;
pub mod sql;
mod sqlite_library;
pub mod users;
pub mod views;

use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::SqlitePool;
use time::OffsetDateTime;

pub use crate::timestamps::{parse_timestamp, stored_timestamp, timestamp};
use error::{StoreError, StoreResult};

use caches::{CountCache, Removed};
pub use db::{Db, Tx};

/// The database: SQLite's file (the default) or a PostgreSQL that several instances share. The
/// store's statements are written once and run on either (see [`db`]); what differs is below.
#[derive(Clone)]
pub struct Store {
    backend: Backend,
    counts: CountCache,
    /// The last answer of [`Store::few_shown`] and when it was read (see
    /// [`Store::few_shown_lately`]).
    shown_lately: std::sync::Arc<std::sync::Mutex<Option<(std::time::Instant, bool)>>>,
    removed: Removed,
    /// Sessions whose "last used" write is queued (see [`Store::touch_session_soon`]).
    touching: std::sync::Arc<std::sync::Mutex<std::collections::HashSet<Vec<u8>>>>,
    /// The bulk writes' turn (see [`Store::bulk_turn`]).
    bulk: std::sync::Arc<tokio::sync::Mutex<()>>,
    /// Per connector, the turn to change its devices (see [`Store::complete_full_sync`]).
    upload_turns: std::sync::Arc<
        std::sync::Mutex<std::collections::HashMap<String, std::sync::Arc<tokio::sync::Mutex<()>>>>,
    >,
    /// A connector heard from within this window is online, in the connector events the store
    /// writes with a change (see [`Store::write_connector_event`]).
    online_window: time::Duration,
}

#[derive(Clone)]
enum Backend {
    Sqlite(SqliteFile),
    Postgres(sqlx::PgPool),
}

/// SQLite, through three pools: one connection that writes (SQLite has one writer at a time;
/// queuing for it in the pool is fairer and cheaper than retrying on a busy database) and
/// readers, which WAL lets run beside the writer without waiting for it. Most reads go through
/// sqlx; pages of devices, the busiest read by far, through rusqlite on a blocking thread
/// (see [`Store::with_page_reader`]).
#[derive(Clone)]
pub(crate) struct SqliteFile {
    pool: SqlitePool,
    reader: SqlitePool,
    /// The CSV exports' own connections: an export reads for as long as its client keeps
    /// reading, so it never holds one of the readers that everything else shares.
    exporter: SqlitePool,
    pages: r2d2::Pool<r2d2_sqlite::SqliteConnectionManager>,
    /// One per page reader: a read waits here (not on a blocking thread) for a free reader, so
    /// that no more blocking threads run page reads than there are readers (and those few
    /// threads' memory stays warm).
    page_turns: std::sync::Arc<tokio::sync::Semaphore>,
}

/// Page cache per connection, in KiB (SQLite's negative `cache_size`): the writer touches every
/// index of the devices on an upload; readers mostly walk one index and a page of rows.
const WRITER_CACHE_KIB: i64 = 64 * 1024;
const READER_CACHE_KIB: i64 = 16 * 1024;
const READERS: u32 = 4;
/// Connections for CSV exports, apart from the readers (see [`crate::turns`]).
pub const EXPORT_CONNECTIONS: u32 = 2;
const WRITER_WAIT: Duration = Duration::from_secs(120);
/// As long as sqlx's readers wait for a connection (its default).
const PAGE_READER_WAIT: Duration = Duration::from_secs(30);

impl Store {
    /// Opens the database at `url` and brings its schema up to date: PostgreSQL's for a
    /// `postgres://` (or `postgresql://`) URL, otherwise SQLite's file (created if needed, with
    /// its folder).
    pub async fn connect(url: &str) -> anyhow::Result<Self> {
        if is_postgres(url) {
            let pool = postgres::connect(url).await?;
            return Self::over(Backend::Postgres(pool)).await;
        }
        sqlite_library::configure();
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5))
            .pragma("temp_store", "memory");
        let file = options.get_filename().to_path_buf();
        if let Some(folder) = file.parent().filter(|f| !f.as_os_str().is_empty()) {
            std::fs::create_dir_all(folder)?;
        }
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            // A connection to a local file does not go stale; sqlx's check before each use
            // is a round trip to the connection's thread (~5% of a list request's CPU).
            .test_before_acquire(false)
            // A change may wait behind a large upload's transaction; past this it is told the
            // server is busy (503 with Retry-After), not failed.
            .acquire_timeout(WRITER_WAIT)
            .connect_with(
                options
                    .clone()
                    .pragma("cache_size", format!("-{WRITER_CACHE_KIB}")),
            )
            .await?;
        sqlx::migrate!("./migrations/sqlite").run(&pool).await?;
        analyze_new_indexes(&pool).await?;
        let read_only = options
            .pragma("cache_size", format!("-{READER_CACHE_KIB}"))
            .pragma("query_only", "true");
        let reader = SqlitePoolOptions::new()
            .max_connections(READERS)
            .test_before_acquire(false)
            .connect_with(read_only.clone())
            .await?;
        // Opened on the first export; a caller holds an export turn before it asks for one,
        // so none waits here.
        let exporter = SqlitePoolOptions::new()
            .max_connections(EXPORT_CONNECTIONS)
            .min_connections(0)
            .test_before_acquire(false)
            .acquire_timeout(Duration::from_secs(5))
            .connect_lazy_with(read_only);
        let pages = r2d2::Pool::builder()
            .max_size(READERS)
            // Opened when first needed and then kept, with their page caches.
            .min_idle(Some(0))
            .idle_timeout(None)
            .test_on_check_out(false)
            .build_unchecked(page_readers(&file));
        // A sync's completion that the server's stop cut short is abandoned: the connector sends
        // the completion again, and it starts over.
        sqlx::query("UPDATE hidden_device_sets SET state = 'dying' WHERE state = 'pending'")
            .execute(&pool)
            .await?;
        let sqlite = SqliteFile {
            pool,
            reader,
            exporter,
            pages,
            page_turns: std::sync::Arc::new(tokio::sync::Semaphore::new(READERS as usize)),
        };
        Self::over(Backend::Sqlite(sqlite)).await
    }

    /// The store, showing connectors heard from within `window` as online in the events it
    /// writes (the server's `--online-window`).
    pub fn with_online_window(mut self, window: time::Duration) -> Self {
        self.online_window = window;
        self
    }

    /// The store over `backend`, with the work left from before (offboarded connectors' devices,
    /// replaced device sets) queued for the sweeper.
    async fn over(backend: Backend) -> anyhow::Result<Self> {
        let store = Self {
            backend,
            counts: CountCache::default(),
            shown_lately: Default::default(),
            removed: Removed::default(),
            touching: Default::default(),
            upload_turns: Default::default(),
            bulk: Default::default(),
            online_window: time::Duration::seconds(90),
        };
        let ids: Vec<String> =
            db::query_scalar("SELECT id FROM connectors WHERE removed_at IS NOT NULL")
                .fetch_all(store.writer())
                .await?;
        for id in &ids {
            store.removed.add(id);
        }
        let dying: i64 =
            db::query_scalar("SELECT COUNT(*) FROM hidden_device_sets WHERE state = 'dying'")
                .fetch_one(store.writer())
                .await?;
        if !ids.is_empty() || dying > 0 {
            store.removed.work.notify_one();
        }
        Ok(store)
    }

    /// Which SQL the database speaks.
    pub fn dialect(&self) -> sql::Dialect {
        match self.backend {
            Backend::Sqlite(_) => sql::Dialect::Sqlite,
            Backend::Postgres(_) => sql::Dialect::Postgres,
        }
    }

    /// For changes, and for reads that must see the latest write (SQLite's writer).
    pub fn writer(&self) -> Db<'_> {
        match &self.backend {
            Backend::Sqlite(sqlite) => Db::Sqlite(&sqlite.pool),
            Backend::Postgres(pool) => Db::Postgres(pool),
        }
    }

    /// For queries that change nothing (SQLite's readers).
    pub fn read(&self) -> Db<'_> {
        match &self.backend {
            Backend::Sqlite(sqlite) => Db::Sqlite(&sqlite.reader),
            Backend::Postgres(pool) => Db::Postgres(pool),
        }
    }

    /// A transaction that may write anything. SQLite's takes the one writer at once (`BEGIN
    /// IMMEDIATE`); PostgreSQL's take the store's write locks, so that changes are made one at a
    /// time there too, whichever instance makes them: every check-then-write in the store was
    /// written for one writer, and stays right (reads never wait for it).
    pub async fn begin(&self) -> sqlx::Result<Tx> {
        self.begin_for(Writes::Anything).await
    }

    /// A transaction that writes only what `writes` says (see [`Writes`]). On SQLite every
    /// transaction takes the one writer; on PostgreSQL it takes the locks of what it writes, so
    /// that an action or a sign-in does not queue behind a bulk slice of a sync's devices.
    pub async fn begin_for(&self, writes: Writes) -> sqlx::Result<Tx> {
        match &self.backend {
            Backend::Sqlite(sqlite) => {
                Ok(Tx::Sqlite(sqlite.pool.begin_with("BEGIN IMMEDIATE").await?))
            }
            Backend::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                // Always in this order (devices first), so that no two transactions wait for
                // each other's lock: one statement, the array's elements taken one after the
                // other as `unnest` yields them.
                sqlx::query("SELECT pg_advisory_xact_lock(lock) FROM unnest($1::bigint[]) lock")
                    .bind(writes.locks())
                    .execute(&mut *tx)
                    .await?;
                Ok(Tx::Postgres(tx))
            }
        }
    }

    /// SQLite's writer pool, for what runs on SQLite alone; `None` on PostgreSQL. (What runs on
    /// either backend goes through [`Store::writer`] and [`Store::read`].)
    pub fn sqlite_writer(&self) -> Option<&SqlitePool> {
        match &self.backend {
            Backend::Sqlite(sqlite) => Some(&sqlite.pool),
            Backend::Postgres(_) => None,
        }
    }

    /// SQLite's readers (see [`Store::sqlite_writer`]).
    pub fn sqlite_reader(&self) -> Option<&SqlitePool> {
        match &self.backend {
            Backend::Sqlite(sqlite) => Some(&sqlite.reader),
            Backend::Postgres(_) => None,
        }
    }

    pub(crate) fn sqlite(&self) -> &SqliteFile {
        match &self.backend {
            Backend::Sqlite(sqlite) => sqlite,
            Backend::Postgres(_) => panic!("this part of the store runs on SQLite only"),
        }
    }

    /// PostgreSQL's pool, when the store is on it.
    pub fn postgres(&self) -> Option<&sqlx::PgPool> {
        match &self.backend {
            Backend::Sqlite(_) => None,
            Backend::Postgres(pool) => Some(pool),
        }
    }

    /// Runs `read` on a page reader, on a blocking thread: the statements of a page are stepped
    /// and its rows decoded there, and the page comes back at once, rather than row by row
    /// across threads as sqlx hands them over (why: docs/performance.md).
    pub(crate) async fn with_page_reader<T, F>(&self, read: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&rusqlite::Connection) -> StoreResult<T> + Send + 'static,
    {
        let busy = || StoreError::Unavailable;
        let turn = tokio::time::timeout(
            PAGE_READER_WAIT,
            self.sqlite().page_turns.clone().acquire_owned(),
        )
        .await
        .map_err(|_| busy())?
        .expect("the semaphore is never closed");
        let pages = self.sqlite().pages.clone();
        tokio::task::spawn_blocking(move || {
            // With a turn, a reader is free (or one more may be opened): r2d2 fails only when
            // one could not be opened, which is not the server being busy.
            let connection = pages.get().map_err(|error| {
                StoreError::Internal(format!("no page reader could be opened: {error}"))
            })?;
            let read = read(&connection);
            drop(connection);
            drop(turn);
            read
        })
        .await
        .map_err(|error| StoreError::Internal(format!("a page read failed: {error}")))?
    }

    /// Whether the database answers (a health check).
    pub async fn ping(&self) -> StoreResult<()> {
        db::query_scalar::<i64>("SELECT CAST(1 AS bigint)")
            .fetch_one(self.read())
            .await
            .map(|_| ())
            .map_err(Into::into)
    }

    /// Refreshes the query planner's statistics where they are stale (SQLite's `PRAGMA optimize`),
    /// e.g. after a large load.
    pub async fn optimize(&self) -> StoreResult<()> {
        match &self.backend {
            Backend::Sqlite(sqlite) => {
                sqlx::query("PRAGMA optimize").execute(&sqlite.pool).await?;
            }
            Backend::Postgres(pool) => {
                sqlx::query("ANALYZE").execute(pool).await?;
            }
        }
        Ok(())
    }

    pub async fn close(&self) {
        match &self.backend {
            Backend::Sqlite(sqlite) => {
                sqlite.exporter.close().await;
                sqlite.reader.close().await;
                sqlite.pool.close().await;
            }
            Backend::Postgres(pool) => pool.close().await,
        }
    }
}

/// Writes `event` in the transaction of the change it announces: on PostgreSQL into the outbox, so
/// that the change and its event commit together (the relays then hand it to every instance's
/// streams); on SQLite nothing (the caller sends it once the change commits, see
/// [`crate::state::AppState::committed`]).
pub(crate) async fn write_event(
    tx: &mut Tx,
    event: &admin_api::Event,
    now: OffsetDateTime,
) -> sqlx::Result<()> {
    match tx {
        Tx::Sqlite(_) => Ok(()),
        Tx::Postgres(tx) => {
            postgres::outbox::append(tx, &timestamp(now), event.name(), &event_data(event)).await?;
            Ok(())
        }
    }
}

/// An event's data as its streams send it: the JSON of what it carries.
pub fn event_data(event: &admin_api::Event) -> String {
    use admin_api::Event;
    match event {
        Event::DeviceAction(action) => serde_json::to_string(action),
        Event::Connector(connector) => serde_json::to_string(connector),
        Event::Devices(devices) => serde_json::to_string(devices),
        // Every reader of devices sees the event: what was asked (a query, a script) and what
        // the site said stay with the request, whose reading needs the kind's permission.
        Event::SiteRequest(request) => serde_json::to_string(&admin_api::SiteRequest {
            query: None,
            script_id: None,
            requester_at_site: None,
            answer: None,
            ..request.clone()
        }),
        Event::BulkAction(job) => serde_json::to_string(job),
    }
    .expect("events serialize")
}

/// The file of the SQLite database at `url` (not opened).
pub fn sqlite_file(url: &str) -> anyhow::Result<std::path::PathBuf> {
    Ok(SqliteConnectOptions::from_str(url)?
        .get_filename()
        .to_path_buf())
}

/// Whether `url` names a PostgreSQL database.
pub fn is_postgres(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

/// Page readers: read-only like the sqlx readers, with the same cache, on the same file.
fn page_readers(file: &std::path::Path) -> r2d2_sqlite::SqliteConnectionManager {
    use rusqlite::OpenFlags;
    r2d2_sqlite::SqliteConnectionManager::file(file)
        .with_flags(OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX)
        .with_init(|connection| {
            connection.busy_timeout(Duration::from_secs(5))?;
            // The orders, filters and ranges make a few hundred statement shapes.
            connection.set_prepared_statement_cache_capacity(256);
            connection.execute_batch(&format!(
                "PRAGMA cache_size = -{READER_CACHE_KIB};
                 PRAGMA temp_store = memory;
                 PRAGMA query_only = true;"
            ))
        })
}

/// Where a page of a list read newest first by insertion order (`seq`) resumes: a device's
/// actions, the audit log.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SeqCursor {
    pub seq: i64,
}

/// Splits rows fetched with `LIMIT top + 1` into one page and the cursor of the next, if any.
pub(crate) fn seq_page<R>(
    mut rows: Vec<R>,
    top: u32,
    seq: impl Fn(&R) -> i64,
) -> (Vec<R>, Option<SeqCursor>) {
    let more = rows.len() > top as usize;
    rows.truncate(top as usize);
    let next = more.then(|| SeqCursor {
        seq: rows.last().map_or(0, &seq),
    });
    (rows, next)
}

/// A stored enum value back into its type; a value this build does not know is a decode error.
pub(crate) fn stored<T>(
    column: &str,
    value: &str,
    parse: fn(&str) -> Option<T>,
) -> sqlx::Result<T> {
    parse(value).ok_or_else(|| sqlx::Error::ColumnDecode {
        index: column.to_owned(),
        source: format!("unknown stored value {value:?}").into(),
    })
}

/// What a transaction writes, for the locks it takes on PostgreSQL ([`Store::begin_for`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Writes {
    /// Anything: it waits for every other writing transaction.
    Anything,
    /// Only the devices of hidden device sets (a sync's set being written, or a replaced one
    /// being deleted), their counts and staged batches: rows that no other kind of transaction
    /// reads to decide a write. It waits for the other device writers, not for the rest.
    HiddenDevices,
    /// Nothing of the devices, device sets, staged batches, syncs or connectors (actions,
    /// sessions, accounts, roles, onboarding tokens, the audit log, events): it does not wait
    /// for [`Writes::HiddenDevices`] transactions.
    NoDevices,
}

impl Writes {
    /// The advisory locks it takes, in the one order every transaction takes them.
    fn locks(self) -> &'static [i64] {
        match self {
            Self::Anything => &[postgres::DEVICES_LOCK, postgres::WRITES_LOCK],
            Self::HiddenDevices => &[postgres::DEVICES_LOCK],
            Self::NoDevices => &[postgres::WRITES_LOCK],
        }
    }
}

/// Gives an index a migration added the planner statistics the database's other indexes have.
/// A database with statistics (`ANALYZE` or `PRAGMA optimize` ran on it) and none for one index
/// has SQLite guess that index's selectivity from defaults; and statistics from two passes of
/// different depth disagree (a sampled pass put 2,001 devices in each hierarchy, a full one
/// 100,000). Either way SQLite chose wrongly between the hierarchy's two indexes (108 ms, or
/// 180 ms, at 1M instead of 1–11 ms). So each table with such an index is analyzed again, all its
/// indexes in one sampled pass (quick at any size). A database without statistics is left so.
async fn analyze_new_indexes(pool: &SqlitePool) -> sqlx::Result<()> {
    let analyzed: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = 'sqlite_stat1')",
    )
    .fetch_one(pool)
    .await?;
    if !analyzed {
        return Ok(());
    }
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT DISTINCT i.tbl_name FROM sqlite_schema i
         WHERE i.type = 'index' AND i.sql IS NOT NULL
           AND EXISTS (SELECT 1 FROM sqlite_stat1 s WHERE s.tbl = i.tbl_name)
           AND NOT EXISTS (SELECT 1 FROM sqlite_stat1 s WHERE s.idx = i.name)",
    )
    .fetch_all(pool)
    .await?;
    if tables.is_empty() {
        return Ok(());
    }
    let mut connection = pool.acquire().await?;
    sqlx::query("PRAGMA analysis_limit = 1000")
        .execute(&mut *connection)
        .await?;
    for table in tables {
        // A name from the schema itself, quoted as an identifier.
        sqlx::query(&format!("ANALYZE \"{}\"", table.replace('"', "\"\"")))
            .execute(&mut *connection)
            .await?;
    }
    sqlx::query("PRAGMA analysis_limit = 0")
        .execute(&mut *connection)
        .await?;
    Ok(())
}
