//! A full sync's completion writes the hierarchy's new devices as a hidden set, a slice at a
//! time, and shows them in one short transaction. The server killed (SIGKILL) at any point of it
//! leaves either the old devices or the new ones, never a mix, and the connector's completion
//! sent again finishes it.

use admin_server::store::db;
use std::collections::BTreeSet;
use std::process::Stdio;

use admin_api::protocol::SiteDevice;
use admin_server::query::devices::DeviceQuery;
use admin_server::store::Store;
use admin_server::testing::Backend;
use time::OffsetDateTime;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

use crate::removal::{devices, onboard, stage};

/// What a reader sees of a device: enough to tell the old sync's from the new one's.
type Seen = (String, String, String, Option<String>);

fn seen(connector_id: &str, devices: &[SiteDevice]) -> BTreeSet<Seen> {
    devices
        .iter()
        .map(|d| {
            (
                d.id.clone(),
                connector_id.to_owned(),
                d.device_name.clone(),
                d.os_version.clone(),
            )
        })
        .collect()
}

/// Every device the store shows, page by page, and its count.
async fn shown(store: &Store) -> (BTreeSet<Seen>, u64) {
    let mut all = BTreeSet::new();
    let mut after = None;
    let mut count = None;
    loop {
        let page = store
            .list_devices(
                &DeviceQuery::default(),
                after.as_ref(),
                997,
                count.is_none(),
            )
            .await
            .unwrap();
        count = count.or(page.count);
        for d in page.devices {
            assert!(
                all.insert((d.id, d.connector_id, d.device_name, d.os_version)),
                "a device is shown once"
            );
        }
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    (all, count.unwrap())
}

struct Prepared {
    dir: tempfile::TempDir,
    database_url: String,
    connector_id: String,
    credential: String,
    batches: u32,
    /// What the readers see before the new sync, and after it.
    old: BTreeSet<Seen>,
    new: BTreeSet<Seen>,
    new_devices: usize,
}

const SYNC: &str = "sync-b";

/// A hierarchy synced once (the old devices) with a second full sync staged: a tenth of the old
/// devices gone from it, a third of the rest changed, and many new ones; and another hierarchy
/// that both syncs leave alone.
async fn prepare() -> Prepared {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("data")).unwrap();
    let database_url = format!("sqlite:{}/data/db.sqlite", dir.path().display());
    let store = Store::connect(&database_url).await.unwrap();
    let now = OffsetDateTime::now_utc();

    let (other_id, _) = onboard(&store, "other").await;
    let other = devices("Other", "OTH", 300, 21);
    stage(&store, &other_id, "sync-o", &other, 100).await;
    store
        .complete_full_sync(&other_id, "sync-o", 3, now)
        .await
        .unwrap();

    let (connector_id, credential) = onboard(&store, "hq").await;
    let before = devices("Head office", "CHQ", 2_000, 22);
    let staged = stage(&store, &connector_id, "sync-a", &before, 500).await;
    store
        .complete_full_sync(&connector_id, "sync-a", staged, now)
        .await
        .unwrap();

    let mut after: Vec<SiteDevice> = before[before.len() / 10..].to_vec();
    for device in after.iter_mut().step_by(3) {
        device.os_version = Some("10.0.99999".into());
    }
    after.extend(devices("Head office", "NEW", 20_000, 23));
    let batches = stage(&store, &connector_id, SYNC, &after, 1_000).await;

    let others = seen(&other_id, &other);
    let mut old = seen(&connector_id, &before);
    old.extend(others.iter().cloned());
    let mut new = seen(&connector_id, &after);
    new.extend(others);
    assert_eq!(shown(&store).await, (old.clone(), old.len() as u64));
    store.close().await;
    Prepared {
        dir,
        database_url,
        connector_id,
        credential,
        batches,
        old,
        new,
        new_devices: after.len(),
    }
}

/// Where in a completion the server is killed: once the log line for which `at` holds is out.
#[derive(Clone, Copy, Debug)]
enum Point {
    /// The first slice of the new devices is written.
    FirstSlice,
    /// About half of them are.
    Halfway,
    /// They are shown (the old set not yet deleted).
    Shown,
}

impl Point {
    fn at(self, line: &serde_json::Value, devices: usize) -> bool {
        let message = line["fields"]["message"].as_str().unwrap_or_default();
        let written = line["fields"]["written"].as_u64().unwrap_or_default() as usize;
        match self {
            Self::FirstSlice => message == "a slice of a full sync's devices was written",
            Self::Halfway => {
                message == "a slice of a full sync's devices was written" && written >= devices / 2
            }
            Self::Shown => message == "a full sync's devices are shown",
        }
    }
}

async fn killed_at(point: Point) {
    let prepared = prepare().await;
    let mut server = Command::new(env!("CARGO_BIN_EXE_admin-server"))
        .env("ADMIN_LISTEN", "127.0.0.1:0")
        .env("ADMIN_DATABASE_URL", &prepared.database_url)
        .env("ADMIN_DIST", prepared.dir.path())
        .env("ADMIN_LOG", "admin_server=debug,warn")
        .env("ADMIN_LOG_FORMAT", "json")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(server.stdout.take().unwrap()).lines();
    // Its logs, on standard error.
    let mut logs = BufReader::new(server.stderr.take().unwrap()).lines();
    let url = crate::helpers::until_url(&mut lines)
        .await
        .0
        .expect("the server prints its URL");
    let completing = tokio::spawn(
        reqwest::Client::new()
            .post(format!("{url}/api/connector/v1/syncs/{SYNC}/complete"))
            .bearer_auth(&prepared.credential)
            .json(&serde_json::json!({ "batchCount": prepared.batches }))
            .send(),
    );
    let mut log = String::new();
    loop {
        let line = logs
            .next_line()
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("the server ended before {point:?}: {log}"));
        log.push_str(&line);
        log.push('\n');
        let Ok(line) = serde_json::from_str::<serde_json::Value>(&line) else {
            continue;
        };
        if point.at(&line, prepared.new_devices) {
            break;
        }
    }
    server.start_kill().unwrap();
    let status = server.wait().await.unwrap();
    assert!(!status.success(), "killed, not stopped: {status}");
    // Whether the completion's answer got out before the kill does not matter.
    let _ = completing.await.unwrap();

    // Started again: the old devices or the new ones, all of them, never a mix.
    let store = Store::connect(&prepared.database_url).await.unwrap();
    let (after_restart, count) = shown(&store).await;
    assert_eq!(count, after_restart.len() as u64, "{point:?}");
    let expected = match point {
        Point::FirstSlice => &prepared.old,
        Point::Shown => &prepared.new,
        Point::Halfway if after_restart == prepared.old => &prepared.old,
        Point::Halfway => &prepared.new,
    };
    assert!(
        after_restart == *expected,
        "{point:?}: {} devices shown, {} old and {} new expected",
        after_restart.len(),
        prepared.old.len(),
        prepared.new.len()
    );
    let shown_by_connector = store
        .connectors(OffsetDateTime::now_utc(), time::Duration::minutes(5))
        .await
        .unwrap()
        .into_iter()
        .find(|c| c.id == prepared.connector_id)
        .unwrap()
        .device_count;
    assert_eq!(
        shown_by_connector as usize,
        expected
            .iter()
            .filter(|d| d.1 == prepared.connector_id)
            .count()
    );

    // The connector sends its completion again: it ends with the new devices.
    let result = store
        .complete_full_sync(
            &prepared.connector_id,
            SYNC,
            prepared.batches,
            OffsetDateTime::now_utc(),
        )
        .await
        .unwrap();
    assert_eq!(result.device_count as usize, prepared.new_devices);
    assert_eq!(
        shown(&store).await,
        (prepared.new.clone(), prepared.new.len() as u64)
    );
    // And the rows of the old set and of an abandoned one are deleted in the background.
    let mut slices = 0;
    while store.delete_leftovers().await.unwrap() {
        slices += 1;
        assert!(slices < 1_000, "the purge ends");
    }
    let rows: i64 = db::query_scalar("SELECT COUNT(*) FROM devices")
        .fetch_one(store.writer())
        .await
        .unwrap();
    assert_eq!(rows as usize, prepared.new.len());
    let hidden: i64 = db::query_scalar("SELECT COUNT(*) FROM hidden_device_sets")
        .fetch_one(store.writer())
        .await
        .unwrap();
    assert_eq!(hidden, 0);
    store.close().await;
}

#[tokio::test]
async fn killed_after_the_first_slice_the_old_devices_stay() {
    killed_at(Point::FirstSlice).await;
}

#[tokio::test]
async fn killed_halfway_the_old_or_the_new_devices_are_shown_never_a_mix() {
    killed_at(Point::Halfway).await;
}

#[tokio::test]
async fn killed_once_shown_the_new_devices_stay() {
    killed_at(Point::Shown).await;
}

/// A large full sync's completion keeps the writer a slice at a time: action requests that
/// arrive meanwhile are answered while it runs, none refused as busy.
#[tokio::test]
async fn action_requests_while_a_large_full_sync_completes_are_all_answered() {
    use crate::protocol::{device_in_state, quick_site, trigger};
    use site_connector::hierarchy::ClientState;

    let app = crate::spawn_app().await;
    let site = app.attach_site(quick_site("HQ", "CHQ", 2207, 31)).await;
    let device = device_in_state(&site, ClientState::Online).await;
    let store = app.store().clone();
    let (big, _) = onboard(&store, "big").await;
    let batches = stage(
        &store,
        &big,
        "sync-big",
        &devices("Big", "BIG", 30_000, 32),
        1_000,
    )
    .await;
    let completing = tokio::spawn(async move {
        store
            .complete_full_sync(&big, "sync-big", batches, OffsetDateTime::now_utc())
            .await
    });
    let api = app.api();
    let mut answered = Vec::new();
    let actions = ["refreshMachinePolicy", "refreshUserPolicy", "appEvaluation"];
    while !completing.is_finished() {
        let key = format!("while-completing-{}", answered.len());
        let action = actions[answered.len() % actions.len()];
        let response = trigger(&api, &device, action, Some(&key)).await;
        answered.push(response.status().as_u16());
    }
    let result = completing.await.unwrap().unwrap();
    assert_eq!(result.device_count, 30_000);
    // One transaction would hold the writer throughout: the first request would wait for the
    // whole completion, and the loop would end after it.
    assert!(
        answered.len() >= 5,
        "requests were answered while the completion ran: {}",
        answered.len()
    );
    assert!(
        answered.iter().all(|status| (200..300).contains(status)),
        "every request answered with success: {answered:?}"
    );
    app.shut_down().await;
}

/// Every page of the devices in `order`, `top` at a time: their ids.
async fn ids_in_order(store: &Store, order: &str, top: u32) -> Vec<String> {
    let query = DeviceQuery {
        order: Some(admin_server::query::devices::Order::parse(Some(order)).unwrap()),
        ..DeviceQuery::default()
    };
    let mut ids = Vec::new();
    let mut after = None;
    loop {
        let page = store
            .list_devices(&query, after.as_ref(), top, false)
            .await
            .unwrap();
        ids.extend(page.devices.into_iter().map(|d| d.id));
        match page.next {
            Some(next) => after = Some(next),
            None => return ids,
        }
    }
}

/// While few devices are shown among many hidden rows (hierarchies attaching), a list looks the
/// shown devices up by their connectors' sets instead of walking an order's index: every order,
/// both ways, in small pages, reads as the walk does (on either backend).
#[tokio::test]
async fn few_shown_among_many_hidden_rows_page_as_the_walk_does() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::connect(&Backend::fresh_database(dir.path()).await)
        .await
        .unwrap();
    let now = OffsetDateTime::now_utc();
    let mut connectors = Vec::new();
    for (name, code, count, seed) in [("Head office", "CHQ", 260, 41), ("Legacy", "LEG", 140, 42)] {
        let (id, _) = onboard(&store, code).await;
        let staged = stage(&store, &id, "sync-1", &devices(name, code, count, seed), 50).await;
        store
            .complete_full_sync(&id, "sync-1", staged, now)
            .await
            .unwrap();
        connectors.push(id);
    }
    let orders: Vec<String> = [
        "deviceName",
        "managedBy",
        "complianceState",
        "osVersion",
        "userPrincipalName",
        "lastSyncDateTime",
        "serialNumber",
        "model",
        "hierarchyName",
        "lastActiveDateTime",
    ]
    .iter()
    .flat_map(|field| [format!("{field} asc"), format!("{field} desc")])
    .collect();
    assert!(!store.few_shown().await.unwrap());
    let mut walked = Vec::new();
    for order in &orders {
        let ids = ids_in_order(&store, order, 7).await;
        assert_eq!(ids.len(), 400, "{order}");
        walked.push(ids);
    }
    // A replaced set waiting to be deleted, many times the shown devices.
    db::query(
        "INSERT INTO hidden_device_sets (connector_id, device_set, state, devices)
         VALUES (?, 99, 'dying', 1000000)",
    )
    .bind(&connectors[0])
    .execute(store.writer())
    .await
    .unwrap();
    assert!(store.few_shown().await.unwrap());
    for (order, walked) in orders.iter().zip(walked) {
        assert_eq!(ids_in_order(&store, order, 7).await, walked, "{order}");
    }
    store.close().await;
}

/// A SQLite database the planner has statistics for keeps them whole when a migration adds an
/// index: the store analyzes the index that has none when it opens (left to its defaults, SQLite
/// took a new index over the better one for a hierarchy filter in device-name order). A database
/// without statistics is left without.
#[tokio::test]
async fn an_index_without_statistics_is_analyzed_where_the_others_have_them() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("admin.db").display());
    let store = Store::connect(&url).await.unwrap();
    let (id, _) = onboard(&store, "CHQ").await;
    let staged = stage(
        &store,
        &id,
        "sync-1",
        &devices("Head office", "CHQ", 120, 7),
        40,
    )
    .await;
    store
        .complete_full_sync(&id, "sync-1", staged, OffsetDateTime::now_utc())
        .await
        .unwrap();
    let statistics = "SELECT EXISTS (SELECT 1 FROM sqlite_schema WHERE name = 'sqlite_stat1')";
    let has_statistics: bool = sqlx::query_scalar(statistics)
        .fetch_one(store.sqlite_writer().unwrap())
        .await
        .unwrap();
    assert!(!has_statistics, "a new database has no statistics");
    store.close().await;

    // Opened again without statistics: still none.
    let store = Store::connect(&url).await.unwrap();
    let has_statistics: bool = sqlx::query_scalar(statistics)
        .fetch_one(store.sqlite_writer().unwrap())
        .await
        .unwrap();
    assert!(
        !has_statistics,
        "opening does not analyze a database never analyzed"
    );

    // Analyzed, then an index as a migration leaves it: without its statistics.
    let writer = store.sqlite_writer().unwrap();
    sqlx::query("ANALYZE").execute(writer).await.unwrap();
    let index_statistics =
        "SELECT COUNT(*) FROM sqlite_stat1 WHERE idx = 'devices_by_hierarchy_and_last_sync'";
    let count: i64 = sqlx::query_scalar(index_statistics)
        .fetch_one(writer)
        .await
        .unwrap();
    assert_eq!(count, 1);
    sqlx::query("DELETE FROM sqlite_stat1 WHERE idx = 'devices_by_hierarchy_and_last_sync'")
        .execute(writer)
        .await
        .unwrap();
    let others: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM sqlite_stat1 WHERE tbl = 'devices'")
        .fetch_one(writer)
        .await
        .unwrap();
    store.close().await;

    let store = Store::connect(&url).await.unwrap();
    let writer = store.sqlite_writer().unwrap();
    let count: i64 = sqlx::query_scalar(index_statistics)
        .fetch_one(writer)
        .await
        .unwrap();
    assert_eq!(count, 1, "the index without statistics was analyzed");
    let all: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM sqlite_stat1 WHERE tbl = 'devices'")
        .fetch_one(writer)
        .await
        .unwrap();
    assert_eq!(all, others + 1, "and nothing else");
    store.close().await;
}
