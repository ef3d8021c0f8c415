//! The write-ahead log is copied into the database beside the writer, not inside its commits
//! (see `Store::checkpoint_wal`): the writer's own copy is only a backstop for a log far larger
//! than SQLite's default.

use admin_server::store::Store;
use site_connector::HierarchyConfig;
use time::OffsetDateTime;

use crate::removal::{devices, onboard, stage};

#[tokio::test]
async fn the_checkpointer_copies_the_log_and_the_writer_leaves_it_alone() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::connect(&format!("sqlite:{}", dir.path().join("s.db").display()))
        .await
        .unwrap();
    let backstop: i64 = sqlx::query_scalar("PRAGMA wal_autocheckpoint")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert!(backstop > 1000, "the writer checkpoints at {backstop} pages");

    let (id, _) = onboard(&store, "CHQ").await;
    let staged = stage(&store, &id, "sync-1", &devices("Head office", "CHQ", 1500, 7), 250).await;
    store
        .complete_full_sync(&id, "sync-1", staged, OffsetDateTime::now_utc())
        .await
        .unwrap();
    let wal = store.checkpoint_wal().await.unwrap();
    assert!(wal.frames > 0, "{wal:?}");
    assert_eq!(wal.copied, wal.frames, "nobody reads: all of it is copied");

    // A reader's snapshot keeps the frames written after it began in the log.
    let mut reading = store.reader().begin().await.unwrap();
    let _: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM devices")
        .fetch_one(&mut *reading)
        .await
        .unwrap();
    let staged = stage(&store, &id, "sync-2", &devices("Head office", "CHQ", 1500, 8), 250).await;
    store
        .complete_full_sync(&id, "sync-2", staged, OffsetDateTime::now_utc())
        .await
        .unwrap();
    let wal = store.checkpoint_wal().await.unwrap();
    assert!(wal.copied < wal.frames, "{wal:?}");
    reading.rollback().await.unwrap();
    let wal = store.checkpoint_wal().await.unwrap();
    assert_eq!(wal.copied, wal.frames, "{wal:?}");
    store.close().await;
}

/// The running server copies a sync's pages into the database file by itself, long before the
/// log reaches the writer's backstop (the file grows only when pages are copied into it).
#[tokio::test]
async fn the_server_copies_a_syncs_pages_into_the_database_file() {
    let mut app = crate::spawn_app().await;
    let file = app
        .config
        .database_url
        .strip_prefix("sqlite:")
        .unwrap()
        .to_owned();
    let before = std::fs::metadata(&file).unwrap().len();
    app.attach_site(HierarchyConfig::new("Head office", "CHQ", 2207, 2000, 5))
        .await;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let now = std::fs::metadata(&file).unwrap().len();
        if now > before + 1024 * 1024 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the database file stayed at {now} bytes (it was {before})"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    app.stop().await;
}
