//! Offboarding in the store: the connector and its devices leave every read at once; the devices
//! themselves are deleted afterwards, a slice at a time, by `Store::delete_leftovers` (which the
//! server runs in the background and this test runs by hand, to see the state in between).

use admin_api::protocol::SiteDevice;
use admin_server::query::devices::DeviceQuery;
use admin_server::secrets;
use admin_server::store::audit::Actor;
use admin_server::store::connectors::NewConnector;
use admin_server::store::db;
use admin_server::store::{timestamp, Store};
use site_connector::{HierarchyConfig, SimulatedHierarchy};
use time::OffsetDateTime;

async fn attach(store: &Store, hierarchy_id: &str, devices: &[SiteDevice]) -> String {
    let (id, _) = onboard(store, hierarchy_id).await;
    let sync = format!("sync-{hierarchy_id}");
    stage(store, &id, &sync, devices, devices.len().max(1)).await;
    let now = OffsetDateTime::now_utc();
    store.complete_full_sync(&id, &sync, 1, now).await.unwrap();
    id
}

/// A connector onboarded straight in the store: its id and its credential.
pub(crate) async fn onboard(store: &Store, hierarchy_id: &str) -> (String, String) {
    let now = OffsetDateTime::now_utc();
    let token = secrets::generate("cmot_");
    store
        .insert_onboarding_token(
            &secrets::hash(&token),
            &Actor::system(),
            now,
            now + time::Duration::hours(1),
        )
        .await
        .unwrap();
    let id = format!("connector-{hierarchy_id}");
    let secret = secrets::generate("cmcs_");
    store
        .onboard(
            &secrets::hash(&token),
            &NewConnector {
                id: id.clone(),
                hierarchy_id: hierarchy_id.to_owned(),
                credential_hash: secrets::hash(&secret),
                onboarded_at: timestamp(now),
            },
            &Actor::connector(&id),
            now,
        )
        .await
        .unwrap();
    let credential = format!("{id}.{secret}");
    (id, credential)
}

/// Stages a full sync's devices in batches of `size`; how many batches.
pub(crate) async fn stage(
    store: &Store,
    connector_id: &str,
    sync_id: &str,
    devices: &[SiteDevice],
    size: usize,
) -> u32 {
    let now = OffsetDateTime::now_utc();
    let mut batches = 0;
    for (index, batch) in devices.chunks(size).enumerate() {
        store
            .stage_full_sync_batch(connector_id, sync_id, index as u32, batch, now)
            .await
            .unwrap();
        batches += 1;
    }
    if devices.is_empty() {
        store
            .stage_full_sync_batch(connector_id, sync_id, 0, &[], now)
            .await
            .unwrap();
        batches = 1;
    }
    batches
}

pub(crate) fn devices(name: &str, code: &str, count: usize, seed: u64) -> Vec<SiteDevice> {
    let mut config = HierarchyConfig::new(name, code, 2207, count, seed);
    config.offline_share = 0.0;
    SimulatedHierarchy::new(config).devices_in_scope()
}

async fn stored_rows(store: &Store, connector_id: &str) -> i64 {
    db::query_scalar("SELECT COUNT(*) FROM devices WHERE connector_id = ?")
        .bind(connector_id)
        .fetch_one(store.writer())
        .await
        .unwrap()
}

async fn listed(store: &Store) -> (Vec<String>, u64) {
    let page = store
        .list_devices(&DeviceQuery::default(), None, 1000, true)
        .await
        .unwrap();
    let ids = page.devices.into_iter().map(|d| d.id).collect();
    (ids, page.count.unwrap())
}

#[tokio::test]
async fn an_offboarded_hierarchy_is_gone_at_once_and_its_devices_deleted_after() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::connect(&format!("sqlite:{}", dir.path().join("s.db").display()))
        .await
        .unwrap();
    let old = devices("Old", "OLD", 40, 1);
    let kept = devices("Kept", "KPT", 25, 2);
    let gone = attach(&store, "old", &old).await;
    let stays = attach(&store, "kept", &kept).await;
    let now = OffsetDateTime::now_utc();
    assert!(store
        .request_offboard(&gone, &Actor::system(), now)
        .await
        .unwrap());
    let done = store
        .complete_offboard(&gone, &Actor::system(), now)
        .await
        .unwrap()
        .expect("it was offboarding");
    assert_eq!(done.removed_devices, 40);

    // Gone from every read, though its rows are still there.
    assert_eq!(stored_rows(&store, &gone).await, 40);
    let window = time::Duration::minutes(5);
    assert!(store.connector(&gone, now, window).await.unwrap().is_none());
    let connectors = store.connectors(now, window).await.unwrap();
    assert_eq!(
        connectors.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(),
        [stays.as_str()]
    );
    assert!(store.connector_identity(&gone).await.unwrap().is_none());
    assert!(store.device(&old[0].id).await.unwrap().is_none());
    assert!(store.device_connector(&old[0].id).await.unwrap().is_none());
    let (ids, count) = listed(&store).await;
    assert_eq!(count, 25);
    assert_eq!(ids.len(), 25);
    assert!(ids.iter().all(|id| kept.iter().any(|d| &d.id == id)));
    // Offboarding it again finds nothing to do.
    assert!(!store
        .request_offboard(&gone, &Actor::system(), now)
        .await
        .unwrap());
    assert!(store
        .complete_offboard(&gone, &Actor::system(), now)
        .await
        .unwrap()
        .is_none());

    // The hierarchy attached again takes the devices it uploads, before the old rows are deleted
    // (they stay, hidden, until the purge).
    let again = attach(&store, "old-again", &old[..15]).await;
    assert_eq!(stored_rows(&store, &gone).await, 40);
    assert_eq!(stored_rows(&store, &again).await, 15);
    let (ids, count) = listed(&store).await;
    assert_eq!((ids.len(), count), (40, 40));
    assert_eq!(
        store.device_connector(&old[0].id).await.unwrap().as_deref(),
        Some(again.as_str())
    );

    // The purge deletes the rest and then the connector's row; the others stay as they were.
    let mut steps = 0;
    while store.delete_leftovers().await.unwrap() {
        steps += 1;
        assert!(steps < 100, "the purge ends");
    }
    assert_eq!(stored_rows(&store, &gone).await, 0);
    let row: Option<String> = db::query_scalar("SELECT id FROM connectors WHERE id = ?")
        .bind(&gone)
        .fetch_optional(store.writer())
        .await
        .unwrap();
    assert_eq!(row, None);
    assert_eq!(stored_rows(&store, &again).await, 15);
    assert_eq!(stored_rows(&store, &stays).await, 25);
    let (ids, count) = listed(&store).await;
    assert_eq!((ids.len(), count), (40, 40));
    assert!(
        !store.delete_leftovers().await.unwrap(),
        "nothing left to do"
    );
    store.close().await;
}

#[tokio::test]
async fn a_removal_left_unfinished_is_resumed_when_the_store_opens_again() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("s.db").display());
    let store = Store::connect(&url).await.unwrap();
    let old = devices("Old", "OLD", 30, 3);
    let gone = attach(&store, "old", &old).await;
    let now = OffsetDateTime::now_utc();
    store
        .request_offboard(&gone, &Actor::system(), now)
        .await
        .unwrap();
    store
        .complete_offboard(&gone, &Actor::system(), now)
        .await
        .unwrap()
        .unwrap();
    store.close().await;

    let store = Store::connect(&url).await.unwrap();
    assert_eq!(listed(&store).await, (Vec::new(), 0), "still hidden");
    assert_eq!(stored_rows(&store, &gone).await, 30);
    // Work is waiting: this returns at once.
    store.leftovers_pending().await;
    while store.delete_leftovers().await.unwrap() {}
    assert_eq!(stored_rows(&store, &gone).await, 0);
    store.close().await;
}

/// The devices counted by `store` for All devices, a filter on one connector and a search.
async fn counts(store: &Store, gone: &str) -> [u64; 3] {
    use admin_server::query::PageOptions;
    let mut counted = [0; 3];
    let options = [
        PageOptions::default(),
        PageOptions {
            filter: Some(format!("connectorId eq '{gone}'")),
            ..PageOptions::default()
        },
        PageOptions {
            search: Some("\"0\"".into()),
            ..PageOptions::default()
        },
    ];
    for (count, options) in counted.iter_mut().zip(options) {
        let query = DeviceQuery::from_options(&options).unwrap();
        *count = store.count_devices(&query).await.unwrap();
    }
    counted
}

/// Makes every deletion of a device fail until [`release_deletions`], as a failed slice would.
async fn hold_deletions(store: &Store) {
    let statements: &[&str] = if store.postgres().is_some() {
        &[
            "CREATE FUNCTION held_back() RETURNS trigger LANGUAGE plpgsql
                 AS $$ BEGIN RAISE EXCEPTION 'held back by the test'; END $$",
            "CREATE TRIGGER held_back BEFORE DELETE ON devices
                 FOR EACH ROW EXECUTE FUNCTION held_back()",
        ]
    } else {
        &["CREATE TRIGGER held_back BEFORE DELETE ON devices
               BEGIN SELECT RAISE(ABORT, 'held back by the test'); END"]
    };
    for statement in statements {
        db::query(*statement).execute(store.writer()).await.unwrap();
    }
}

async fn release_deletions(store: &Store) {
    let statement = if store.postgres().is_some() {
        "DROP TRIGGER held_back ON devices"
    } else {
        "DROP TRIGGER held_back"
    };
    db::query(statement).execute(store.writer()).await.unwrap();
}

/// A hierarchy's devices leave every count from the moment it is removed, on the instance that
/// completed the removal and on any other, whether or not their deletion has run, and when a slice
/// of it fails: the counts the instances kept from before are not used again.
async fn removal_leaves_no_count_behind(completing: &Store, other: &Store) {
    let gone = attach(completing, "old", &devices("Old", "OLD", 300, 4)).await;
    let stays = attach(other, "kept", &devices("Kept", "KPT", 25, 5)).await;
    // Both instances count, and keep, every count before the removal.
    for store in [completing, other] {
        let [all, on_gone, searched] = counts(store, &gone).await;
        assert_eq!((all, on_gone), (325, 300));
        assert!(
            searched > 25,
            "the search finds devices of both: {searched}"
        );
    }
    let now = OffsetDateTime::now_utc();
    assert!(completing
        .request_offboard(&gone, &Actor::system(), now)
        .await
        .unwrap());
    hold_deletions(completing).await;
    completing
        .complete_offboard(&gone, &Actor::system(), now)
        .await
        .unwrap()
        .expect("it was offboarding");
    let kept_only = |store: &'static str, [all, on_gone, searched]: [u64; 3]| {
        assert_eq!((all, on_gone), (25, 0), "{store}");
        assert!(searched <= 25, "{store}: the search counts {searched}");
    };
    // The deletion has not run: every row is still there.
    assert_eq!(stored_rows(completing, &gone).await, 300);
    kept_only(
        "completing, deletion not run",
        counts(completing, &gone).await,
    );
    kept_only("other, deletion not run", counts(other, &gone).await);
    // A slice of the deletion fails, on the other instance.
    assert!(other.delete_leftovers().await.is_err(), "the slice fails");
    assert_eq!(stored_rows(completing, &gone).await, 300);
    kept_only("completing, slice failed", counts(completing, &gone).await);
    kept_only("other, slice failed", counts(other, &gone).await);
    // Released, the other instance deletes the rest; the counts stay as they are.
    release_deletions(completing).await;
    while other.delete_leftovers().await.unwrap() {}
    assert_eq!(stored_rows(completing, &gone).await, 0);
    kept_only("completing, deleted", counts(completing, &gone).await);
    kept_only("other, deleted", counts(other, &gone).await);
    assert_eq!(stored_rows(other, &stays).await, 25);
}

#[tokio::test]
async fn a_removal_leaves_no_count_behind_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::connect(&format!("sqlite:{}", dir.path().join("s.db").display()))
        .await
        .unwrap();
    removal_leaves_no_count_behind(&store, &store).await;
    store.close().await;
}

/// Two instances on one PostgreSQL database, each with its own kept counts.
#[tokio::test]
async fn a_removal_leaves_no_count_behind_on_any_postgresql_instance() {
    let url = admin_server::testing::postgres::shared()
        .await
        .new_database()
        .await
        .unwrap();
    let (a, b) = (
        Store::connect(&url).await.unwrap(),
        Store::connect(&url).await.unwrap(),
    );
    removal_leaves_no_count_behind(&a, &b).await;
    a.close().await;
    b.close().await;
}
