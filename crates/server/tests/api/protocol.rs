//! The connector protocol end to end: the real site connector against the real server over HTTP.

use admin_server::store::db;
use std::time::Duration;

use admin_api::protocol::{DeviceDelta, SiteInfo};
use admin_api::{
    ActionState, Collection, Connector, ConnectorStatus, Device, DeviceAction, UploadScope,
};
use site_connector::hierarchy::ClientState;
use site_connector::{
    HierarchyConfig, Outcome, ProtocolClient, SimulatedHierarchy, SiteConnector, SiteOptions,
};
use tokio_util::sync::CancellationToken;

use crate::events::EventStream;
use crate::{error_of, spawn_app, spawn_app_with, TestApp};

pub async fn devices_of(app: &TestApp, connector_id: &str) -> Vec<Device> {
    let mut all = Vec::new();
    let mut path = "/api/v1/devices?$top=1000".to_owned();
    loop {
        let page: Collection<Device> = app.get(&path).await.json().await.unwrap();
        all.extend(
            page.value
                .into_iter()
                .filter(|d| d.connector_id == connector_id),
        );
        match page.next_link {
            Some(next) => path = next,
            None => return all,
        }
    }
}

pub async fn connector(app: &TestApp, id: &str) -> Connector {
    let response = app.get(&format!("/api/v1/connectors/{id}")).await;
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

pub fn connector_id<S: site_connector::DeviceSource>(site: &SiteConnector<S>) -> String {
    site.client()
        .credential()
        .unwrap()
        .split('.')
        .next()
        .unwrap()
        .to_owned()
}

fn sorted_ids(devices: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut ids: Vec<String> = devices.into_iter().collect();
    ids.sort();
    ids
}

#[tokio::test]
async fn onboarding_takes_a_token_once_and_reports_the_site() {
    let app = spawn_app().await;
    let token = app.onboarding_token().await;
    let site = SiteConnector::attach(
        &app.url,
        &token,
        SimulatedHierarchy::new(HierarchyConfig::new("Contoso HQ", "CHQ", 2207, 10, 1)),
        SiteOptions::default(),
    )
    .await
    .unwrap();
    let id = connector_id(&site);
    let attached = connector(&app, &id).await;
    assert_eq!(attached.hierarchy_name.as_deref(), Some("Contoso HQ"));
    assert_eq!(attached.site_version.as_deref(), Some("2207"));
    assert_eq!(attached.upload_scope, Some(UploadScope::AllDevices));
    assert_eq!(attached.status, ConnectorStatus::Unhealthy, "no sync yet");
    assert!(attached.online);

    // The token is spent.
    let mut again = ProtocolClient::new(&app.url, None);
    let refused = again.onboard(&token, "another").await.unwrap_err();
    assert_eq!(refused.status().map(|s| s.as_u16()), Some(401));
    // Only the hash is stored.
    let stored: Vec<Vec<u8>> = db::query_scalar("SELECT token_hash FROM onboarding_tokens")
        .fetch_all(app.store().writer())
        .await
        .unwrap();
    assert_eq!(stored.len(), 1);
    assert!(!stored[0]
        .windows(token.len())
        .any(|w| w == token.as_bytes()));
    app.shut_down().await;
}

#[tokio::test]
async fn an_expired_onboarding_token_attaches_nothing() {
    let app = spawn_app_with(|c| c.onboarding_token_lifetime = Duration::ZERO).await;
    let token = app.onboarding_token().await;
    let mut client = ProtocolClient::new(&app.url, None);
    let error = client.onboard(&token, "h-1").await.unwrap_err();
    assert_eq!(error.status().map(|s| s.as_u16()), Some(401));
    let connectors: Collection<Connector> =
        app.get("/api/v1/connectors").await.json().await.unwrap();
    assert!(connectors.value.is_empty());
    app.shut_down().await;
}

#[tokio::test]
async fn a_site_that_never_reports_is_unknown_and_old_sites_have_null_details() {
    let app = spawn_app().await;
    let mut silent = HierarchyConfig::new("Legacy", "LEG", 2002, 5, 3);
    silent.reports_site_info = false;
    let silent = app.attach_site(silent).await;
    let old = app
        .attach_site(HierarchyConfig::new("Old", "OLD", 2006, 5, 4))
        .await;

    let unknown = connector(&app, &connector_id(&silent)).await;
    assert_eq!(unknown.status, ConnectorStatus::Unknown);
    assert_eq!(unknown.hierarchy_name, None);
    assert_eq!(unknown.device_count, 5);

    let old = connector(&app, &connector_id(&old)).await;
    assert_eq!(old.status, ConnectorStatus::Healthy);
    assert_eq!(old.site_version.as_deref(), Some("2006"));
    assert_eq!(old.service_connection_point, None);
    assert_eq!(old.cloud, None);
    assert_eq!(old.upload_scope, None);
    assert_eq!(old.endpoint_analytics_enabled, None);
    app.shut_down().await;
}

#[tokio::test]
async fn a_full_sync_then_a_delta_land_and_stamp_the_sync_time() {
    let app = spawn_app().await;
    let site = app
        .attach_site(HierarchyConfig::new("HQ", "CHQ", 2207, 1200, 5))
        .await;
    let id = connector_id(&site);
    let expected = sorted_ids(
        site.source()
            .lock()
            .await
            .devices_in_scope()
            .into_iter()
            .map(|d| d.id),
    );
    let uploaded = devices_of(&app, &id).await;
    assert_eq!(sorted_ids(uploaded.iter().map(|d| d.id.clone())), expected);
    assert!(uploaded.iter().all(|d| d.last_sync_date_time.is_some()));
    assert_eq!(uploaded[0].hierarchy_name.as_deref(), Some("HQ"));
    let after_full = connector(&app, &id).await;
    assert!(
        uploaded
            .iter()
            .all(|d| d.last_sync_date_time == after_full.last_sync_date_time),
        "a full sync stamps every device it carried"
    );
    assert_eq!(after_full.status, ConnectorStatus::Healthy);
    assert_eq!(after_full.device_count, 1200);

    let delta = site.source().lock().await.churn(20);
    let result = site.upload_delta(&delta).await.unwrap();
    let expected = sorted_ids(
        site.source()
            .lock()
            .await
            .devices_in_scope()
            .into_iter()
            .map(|d| d.id),
    );
    let now = devices_of(&app, &id).await;
    assert_eq!(sorted_ids(now.iter().map(|d| d.id.clone())), expected);
    assert_eq!(result.device_count, expected.len() as u64);
    for changed in &delta.upserts {
        let stored = now.iter().find(|d| d.id == changed.id).unwrap();
        assert_eq!(stored.compliance_state, changed.compliance_state);
        assert_eq!(stored.last_active_date_time, changed.last_active_date_time);
    }

    // The same delta again under the same sync id changes nothing and answers the same.
    let sync_id = "delta-once";
    let first = site.client().send_delta(sync_id, &delta).await.unwrap();
    let second = site.client().send_delta(sync_id, &delta).await.unwrap();
    assert_eq!(first, second);
    app.shut_down().await;
}

#[tokio::test]
async fn a_delta_writes_every_changed_field_and_counts_only_what_changed() {
    let app = spawn_app().await;
    let site = app
        .attach_site(HierarchyConfig::new("HQ", "CHQ", 2207, 40, 21))
        .await;
    let devices = site.source().lock().await.devices_in_scope();
    // Each device changes a different set of columns, so that they are written in different
    // groups; one is sent as it is, one is new.
    let mut renamed = devices[0].clone();
    renamed.device_name = "CHQ-RENAMED-0001".into();
    renamed.serial_number = Some("SN-RENAMED".into());
    renamed.model = Some("Model Z".into());
    let mut client_changed = devices[1].clone();
    client_changed.collections.clear();
    if let Some(client) = client_changed
        .configuration_manager_client_information
        .as_mut()
    {
        client.client_version = Some("5.00.9999.1000".into());
        client.is_blocked = !client.is_blocked;
    }
    let mut cleared = devices[2].clone();
    cleared.user_principal_name = None;
    cleared.user_display_name = None;
    cleared.os_version = Some("10.0.99999.1".into());
    let unchanged = devices[3].clone();
    let mut new = devices[4].clone();
    new.id = "new-device-in-a-delta".into();
    new.device_name = "CHQ-NEW-0001".into();
    let upserts = vec![
        renamed.clone(),
        client_changed.clone(),
        cleared.clone(),
        unchanged.clone(),
        new.clone(),
    ];
    let result = site
        .client()
        .send_delta(
            "delta-fields",
            &DeviceDelta {
                upserts: upserts.clone(),
                removals: Vec::new(),
            },
        )
        .await
        .unwrap();
    assert_eq!(
        result.changed, 4,
        "the device sent as it was is not counted"
    );
    assert_eq!(result.device_count, 41);
    for sent in &upserts {
        let stored: serde_json::Value = app
            .get(&format!("/api/v1/devices/{}", sent.id))
            .await
            .json()
            .await
            .unwrap();
        let sent_json = serde_json::to_value(sent).unwrap();
        for (field, value) in sent_json.as_object().unwrap() {
            assert_eq!(&stored[field], value, "{field} of {}", sent.id);
        }
    }
    // The search index follows the rename.
    let found: Collection<Device> = app
        .get("/api/v1/devices?$search=%22RENAMED-0001%22")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        found
            .value
            .iter()
            .map(|d| d.id.as_str())
            .collect::<Vec<_>>(),
        [renamed.id.as_str()]
    );
    app.shut_down().await;
}

#[tokio::test]
async fn a_batch_sent_again_duplicates_nothing() {
    let app = spawn_app().await;
    let site = app
        .attach_site(HierarchyConfig::new("HQ", "CHQ", 2207, 30, 6))
        .await;
    let devices = site.source().lock().await.devices_in_scope();
    let client = site.client();
    client.put_batch("resend", 0, &devices[..20]).await.unwrap();
    client.put_batch("resend", 0, &devices[..20]).await.unwrap();
    client.put_batch("resend", 1, &devices[20..]).await.unwrap();
    client.put_batch("resend", 1, &devices[20..]).await.unwrap();
    let result = client.complete_full_sync("resend", 2).await.unwrap();
    assert_eq!(result.device_count, 30);
    assert_eq!(devices_of(&app, &connector_id(&site)).await.len(), 30);
    // Completing again is answered the same; a batch for the completed sync is refused.
    assert_eq!(
        client.complete_full_sync("resend", 2).await.unwrap(),
        result
    );
    let late = client
        .put_batch("resend", 2, &devices[..1])
        .await
        .unwrap_err();
    assert_eq!(late.status().map(|s| s.as_u16()), Some(409));
    app.shut_down().await;
}

#[tokio::test]
async fn an_interrupted_full_sync_is_never_visible() {
    let app = spawn_app().await;
    let site = app
        .attach_site(HierarchyConfig::new("HQ", "CHQ", 2207, 40, 7))
        .await;
    let id = connector_id(&site);
    let before = sorted_ids(devices_of(&app, &id).await.into_iter().map(|d| d.id));
    // A new full sync with only half the devices gets one batch of two up, then stops.
    let devices = site.source().lock().await.devices_in_scope();
    site.client()
        .put_batch("cut-short", 0, &devices[..20])
        .await
        .unwrap();
    assert_eq!(
        sorted_ids(devices_of(&app, &id).await.into_iter().map(|d| d.id)),
        before
    );
    // Completing it with a batch missing is refused and changes nothing.
    let error = site
        .client()
        .complete_full_sync("cut-short", 2)
        .await
        .unwrap_err();
    assert_eq!(error.status().map(|s| s.as_u16()), Some(409));
    assert_eq!(
        sorted_ids(devices_of(&app, &id).await.into_iter().map(|d| d.id)),
        before
    );
    // The next full sync supersedes the interrupted one.
    site.full_sync().await.unwrap();
    assert_eq!(
        sorted_ids(devices_of(&app, &id).await.into_iter().map(|d| d.id)),
        before
    );
    let leftovers: i64 = app.rows("sync_batches").await;
    assert_eq!(leftovers, 0);
    app.shut_down().await;
}

#[tokio::test]
async fn a_device_sent_twice_in_one_upload_is_refused_and_nothing_changes() {
    let app = spawn_app().await;
    let site = app
        .attach_site(HierarchyConfig::new("HQ", "CHQ", 2207, 12, 23))
        .await;
    let id = connector_id(&site);
    let devices = site.source().lock().await.devices_in_scope();
    let before: Vec<Device> = devices_of(&app, &id).await;
    let client = site.client();
    let status = |e: site_connector::ProtocolError| e.status().map(|s| s.as_u16());

    // Twice in one batch.
    let mut changed = devices[0].clone();
    changed.model = Some("Changed".into());
    let mut batch = devices.clone();
    batch.push(changed.clone());
    let refused = client.put_batch("twice", 0, &batch).await.unwrap_err();
    assert_eq!(status(refused), Some(400));

    // In two batches of one sync: refused when it completes.
    client.put_batch("split", 0, &devices).await.unwrap();
    client
        .put_batch("split", 1, std::slice::from_ref(&changed))
        .await
        .unwrap();
    let refused = client.complete_full_sync("split", 2).await.unwrap_err();
    let message = refused.to_string();
    assert_eq!(status(refused), Some(409));
    assert!(
        message.contains(&format!("'{}'", changed.id)),
        "the answer names the device: {message}"
    );

    // Twice in a delta's upserts, or in its removals.
    let refused = client
        .send_delta(
            "delta-twice",
            &DeviceDelta {
                upserts: vec![changed.clone(), changed.clone()],
                removals: Vec::new(),
            },
        )
        .await
        .unwrap_err();
    assert_eq!(status(refused), Some(400));
    let refused = client
        .send_delta(
            "removals-twice",
            &DeviceDelta {
                upserts: Vec::new(),
                removals: vec![devices[1].id.clone(), devices[1].id.clone()],
            },
        )
        .await
        .unwrap_err();
    assert_eq!(status(refused), Some(400));

    let after = devices_of(&app, &id).await;
    assert_eq!(
        serde_json::to_value(&after).unwrap(),
        serde_json::to_value(&before).unwrap(),
        "nothing was written"
    );
    app.shut_down().await;
}

#[tokio::test]
async fn changing_the_upload_scope_removes_the_devices_that_fell_out() {
    let app = spawn_app().await;
    let site = app
        .attach_site(HierarchyConfig::new("Europe", "EUR", 2010, 300, 8))
        .await;
    let id = connector_id(&site);
    assert_eq!(devices_of(&app, &id).await.len(), 300);
    let scope = UploadScope::Collection {
        collection_id: "EUR00011".into(),
        collection_name: "Windows 11 Workstations".into(),
        include_child_collections: true,
    };
    site.source().lock().await.set_upload_scope(scope.clone());
    site.report_site().await.unwrap();
    site.full_sync().await.unwrap();
    let in_scope = devices_of(&app, &id).await;
    assert!(
        !in_scope.is_empty() && in_scope.len() < 300,
        "{}",
        in_scope.len()
    );
    let expected = sorted_ids(
        site.source()
            .lock()
            .await
            .devices_in_scope()
            .into_iter()
            .map(|d| d.id),
    );
    assert_eq!(sorted_ids(in_scope.iter().map(|d| d.id.clone())), expected);
    assert!(in_scope.iter().all(|d| d
        .collections
        .iter()
        .any(|c| c.id == "EUR00011" || c.id == "EUR00012" || c.id == "EUR00013")));
    assert_eq!(connector(&app, &id).await.upload_scope, Some(scope));
    app.shut_down().await;
}

#[tokio::test]
async fn a_site_cannot_touch_another_connectors_devices() {
    let app = spawn_app().await;
    let first = app
        .attach_site(HierarchyConfig::new("One", "ONE", 2207, 10, 9))
        .await;
    let second = app
        .attach_site(HierarchyConfig::new("Two", "TWO", 2207, 10, 10))
        .await;
    let theirs = first.source().lock().await.devices_in_scope();
    let before = devices_of(&app, &connector_id(&first)).await;

    let mut renamed = theirs[0].clone();
    renamed.device_name = "HIJACKED".into();
    for delta in [
        DeviceDelta {
            upserts: vec![renamed.clone()],
            removals: vec![],
        },
        DeviceDelta {
            upserts: vec![],
            removals: vec![theirs[1].id.clone()],
        },
    ] {
        let error = second.upload_delta(&delta).await.unwrap_err();
        assert_eq!(error.status().map(|s| s.as_u16()), Some(409));
    }
    let batch = second
        .client()
        .put_batch("steal", 0, &[renamed])
        .await
        .unwrap_err();
    assert_eq!(batch.status().map(|s| s.as_u16()), Some(409));
    assert_eq!(devices_of(&app, &connector_id(&first)).await, before);
    assert_eq!(devices_of(&app, &connector_id(&second)).await.len(), 10);
    app.shut_down().await;
}

/// A site whose clients answer at once, half of them offline.
pub fn quick_site(name: &str, code: &str, version: u32, seed: u64) -> HierarchyConfig {
    let mut config = HierarchyConfig::new(name, code, version, 60, seed);
    config.latency = (Duration::ZERO, Duration::ZERO);
    config.offline_share = 0.5;
    config
}

pub async fn device_in_state(site: &site_connector::SimulatedSite, state: ClientState) -> String {
    site.source()
        .lock()
        .await
        .devices
        .iter()
        .find(|d| d.client == state)
        .map(|d| d.device.id.clone())
        .expect("the simulation has such a client")
}

pub async fn trigger(
    app: &crate::Api,
    device_id: &str,
    action: &str,
    key: Option<&str>,
) -> reqwest::Response {
    let mut request = app
        .client
        .post(format!(
            "{}/api/v1/devices/{device_id}/triggerConfigurationManagerAction",
            app.url
        ))
        .json(&serde_json::json!({"configurationManagerAction": {"action": action}}));
    if let Some(key) = key {
        request = request.header("Idempotency-Key", key);
    }
    request.send().await.unwrap()
}

pub async fn triggered(app: &crate::Api, device_id: &str, action: &str) -> DeviceAction {
    let response = trigger(app, device_id, action, None).await;
    assert_eq!(response.status(), 202);
    let action: DeviceAction = response.json().await.unwrap();
    assert_eq!(action.action_state, ActionState::Pending);
    action
}

pub fn is_action(id: &str, state: &str) -> impl Fn(&serde_json::Value) -> bool {
    let (id, state) = (id.to_owned(), state.to_owned());
    move |data| data["id"] == id.as_str() && data["actionState"] == state.as_str()
}

/// The event that ends action `id`, whichever way it ended: a test then says which it expected,
/// and a wrong ending fails at once with what happened instead of waiting for one that never comes.
pub fn has_ended(id: &str) -> impl Fn(&serde_json::Value) -> bool {
    let id = id.to_owned();
    move |data| {
        let state: Option<admin_api::ActionState> =
            serde_json::from_value(data["actionState"].clone()).ok();
        data["id"] == id.as_str() && state.is_some_and(|state| !state.is_open())
    }
}

#[tokio::test]
async fn actions_reach_done_and_failed_live_through_the_event_stream() {
    let app = spawn_app().await;
    let site = app.attach_site(quick_site("HQ", "CHQ", 2207, 11)).await;
    let online = device_in_state(&site, ClientState::Online).await;
    let offline = device_in_state(&site, ClientState::OfflineFails).await;
    let stop = CancellationToken::new();
    let serving = tokio::spawn(site.serve(stop.clone()));
    let mut events = EventStream::open(&app).await;

    for kind in ["refreshMachinePolicy", "refreshUserPolicy", "appEvaluation"] {
        let action = triggered(&app.api(), &online, kind).await;
        events
            .wait_for("deviceAction", is_action(&action.id, "pending"))
            .await;
        events
            .wait_for("deviceAction", is_action(&action.id, "active"))
            .await;
        let done = events
            .wait_for("deviceAction", is_action(&action.id, "done"))
            .await;
        assert_eq!(done["resultCode"], 0);
        assert_eq!(done["action"], kind);
    }
    let failing = triggered(&app.api(), &offline, "refreshMachinePolicy").await;
    let failed = events
        .wait_for("deviceAction", is_action(&failing.id, "failed"))
        .await;
    assert_eq!(
        failed["resultCode"],
        site_connector::hierarchy::RPC_SERVER_UNAVAILABLE
    );

    let history: Collection<DeviceAction> = app
        .get(&format!("/api/v1/devices/{online}/deviceActions"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(history.value.len(), 3);
    assert!(history
        .value
        .iter()
        .all(|a| a.action_state == ActionState::Done));
    let one: DeviceAction = app
        .get(&format!("/api/v1/deviceActions/{}", failing.id))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(one.action_state, ActionState::Failed);
    stop.cancel();
    assert_eq!(serving.await.unwrap(), Outcome::Stopped);
    app.shut_down().await;
}

#[tokio::test]
async fn an_action_no_client_answers_times_out() {
    // Time enough for the site to take the action (the "active" below) on a loaded machine.
    let app = spawn_app_with(|c| c.action_timeout = Duration::from_secs(3)).await;
    let site = app.attach_site(quick_site("HQ", "CHQ", 2207, 12)).await;
    let silent = device_in_state(&site, ClientState::OfflineSilent).await;
    let stop = CancellationToken::new();
    let serving = tokio::spawn(site.serve(stop.clone()));
    let mut events = EventStream::open(&app).await;
    let action = triggered(&app.api(), &silent, "appEvaluation").await;
    events
        .wait_for("deviceAction", is_action(&action.id, "active"))
        .await;
    let timed_out = events
        .wait_for("deviceAction", is_action(&action.id, "timedOut"))
        .await;
    assert!(timed_out["resultCode"].is_null());
    stop.cancel();
    serving.await.unwrap();
    app.shut_down().await;
}

#[tokio::test]
async fn a_second_request_while_one_is_open_returns_the_same_action() {
    let app = spawn_app().await;
    let site = app.attach_site(quick_site("HQ", "CHQ", 2207, 13)).await;
    let device = device_in_state(&site, ClientState::Online).await;

    let first = triggered(&app.api(), &device, "refreshMachinePolicy").await;
    let second: DeviceAction = trigger(&app.api(), &device, "refreshMachinePolicy", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(second.id, first.id, "a double click makes one action");
    let other = triggered(&app.api(), &device, "refreshUserPolicy").await;
    assert_ne!(
        other.id, first.id,
        "another kind of action is another action"
    );

    let keyed = trigger(&app.api(), &device, "appEvaluation", Some("click-1")).await;
    assert_eq!(keyed.status(), 202);
    let location = keyed.headers()["location"].to_str().unwrap().to_owned();
    let keyed: DeviceAction = keyed.json().await.unwrap();
    assert_eq!(location, format!("/api/v1/deviceActions/{}", keyed.id));
    let again: DeviceAction = trigger(&app.api(), &device, "appEvaluation", Some("click-1"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(again.id, keyed.id);
    let misused = trigger(&app.api(), &device, "refreshMachinePolicy", Some("click-1")).await;
    assert_eq!(error_of(misused, 409).await["code"], "conflict");

    // Once done, the same request makes a new action.
    let stop = CancellationToken::new();
    let serving = tokio::spawn(site.serve(stop.clone()));
    let mut events = EventStream::open(&app).await;
    let state: DeviceAction = app
        .get(&format!("/api/v1/deviceActions/{}", first.id))
        .await
        .json()
        .await
        .unwrap();
    if state.action_state != ActionState::Done {
        events
            .wait_for("deviceAction", is_action(&first.id, "done"))
            .await;
    }
    let later = triggered(&app.api(), &device, "refreshMachinePolicy").await;
    assert_ne!(later.id, first.id);
    stop.cancel();
    serving.await.unwrap();
    let count: i64 = app.rows("device_actions").await;
    assert_eq!(count, 4);
    app.shut_down().await;
}

#[tokio::test]
async fn an_online_2103_site_confirms_offboarding_and_everything_goes() {
    let app = spawn_app().await;
    let site = app.attach_site(quick_site("HQ", "CHQ", 2207, 14)).await;
    let id = connector_id(&site);
    let credential = site.client().credential().unwrap().to_owned();
    let stop = CancellationToken::new();
    let serving = tokio::spawn(site.serve(stop.clone()));
    let mut events = EventStream::open(&app).await;

    let response = app.delete_connector(&id).await;
    assert_eq!(response.status(), 202);
    let offboarding: Connector = response.json().await.unwrap();
    assert_eq!(offboarding.status, ConnectorStatus::Offboarding);
    assert!(offboarding.offboard_requested_date_time.is_some());
    events
        .wait_for("connector", |d| {
            d["id"] == id.as_str() && d["connector"].is_null()
        })
        .await;
    assert_eq!(serving.await.unwrap(), Outcome::Offboarded);

    error_of(app.get(&format!("/api/v1/connectors/{id}")).await, 404).await;
    assert!(devices_of(&app, &id).await.is_empty());
    let revoked = ProtocolClient::new(&app.url, Some(credential))
        .heartbeat()
        .await
        .unwrap_err();
    assert_eq!(revoked.status().map(|s| s.as_u16()), Some(401));
    app.shut_down().await;
}

#[tokio::test]
async fn an_offline_site_is_offboarded_after_the_grace_period_with_its_actions_canceled() {
    // Time enough for the requests below to see the offboarding pending on a loaded machine.
    let app = spawn_app_with(|c| c.offboard_grace = Duration::from_secs(3)).await;
    let site = app.attach_site(quick_site("Old", "OLD", 2002, 15)).await;
    let other = app.attach_site(quick_site("Stays", "STY", 2207, 16)).await;
    let id = connector_id(&site);
    let device = device_in_state(&site, ClientState::Online).await;
    let mut events = EventStream::open(&app).await;
    // The site is not polling: the action waits, and nobody confirms the offboarding.
    let action = triggered(&app.api(), &device, "refreshMachinePolicy").await;
    let response = app.delete_connector(&id).await;
    assert_eq!(response.status(), 202);
    let repeat = app.delete_connector(&id).await;
    assert_eq!(repeat.status(), 202, "repeating the delete is a no-op");
    let blocked = trigger(&app.api(), &device, "refreshUserPolicy", None).await;
    assert_eq!(error_of(blocked, 409).await["code"], "conflict");

    events
        .wait_for("deviceAction", is_action(&action.id, "canceled"))
        .await;
    events
        .wait_for("connector", |d| {
            d["id"] == id.as_str() && d["connector"].is_null()
        })
        .await;
    error_of(app.get(&format!("/api/v1/connectors/{id}")).await, 404).await;
    assert!(devices_of(&app, &id).await.is_empty());
    assert_eq!(
        devices_of(&app, &connector_id(&other)).await.len(),
        60,
        "other hierarchies stay"
    );
    // The contract: on completion its open actions are canceled (the event above) and gone with
    // the hierarchy.
    error_of(
        app.get(&format!("/api/v1/deviceActions/{}", action.id))
            .await,
        404,
    )
    .await;
    app.shut_down().await;
}

#[tokio::test]
async fn bad_input_is_refused_with_the_error_body_and_writes_nothing() {
    let app = spawn_app_with(|c| c.body_limit = 64 * 1024).await;
    let site = app.attach_site(quick_site("HQ", "CHQ", 2207, 17)).await;
    let device = device_in_state(&site, ClientState::Online).await;
    let url = format!(
        "{}/api/v1/devices/{device}/triggerConfigurationManagerAction",
        app.url
    );
    let post = |body: String| {
        app.client
            .post(&url)
            .header("content-type", "application/json")
            .body(body)
            .send()
    };

    for (body, status, code) in [
        (
            r#"{"configurationManagerAction":"#.to_owned(),
            400,
            "badRequest",
        ),
        (
            r#"{"configurationManagerAction":{"action":"reboot"}}"#.to_owned(),
            400,
            "badRequest",
        ),
        (
            r#"{"configurationManagerAction":{"action":"wakeUpClient"}}"#.to_owned(),
            400,
            "notSupported",
        ),
        (
            r#"{"configurationManagerAction":{"action":"appEvaluation"},"extra":true}"#.to_owned(),
            400,
            "badRequest",
        ),
        (
            format!(
                r#"{{"configurationManagerAction":{{"action":"appEvaluation"}},"pad":"{}"}}"#,
                "x".repeat(70_000)
            ),
            413,
            "payloadTooLarge",
        ),
    ] {
        let error = error_of(post(body.clone()).await.unwrap(), status).await;
        assert_eq!(error["code"], code, "{}", &body[..body.len().min(80)]);
    }
    let unknown_device = trigger(&app.api(), "no-such-device", "appEvaluation", None).await;
    assert_eq!(error_of(unknown_device, 404).await["code"], "notFound");
    error_of(app.get("/api/v1/deviceActions/no-such-action").await, 404).await;
    error_of(
        app.get("/api/v1/devices/no-such-device/deviceActions")
            .await,
        404,
    )
    .await;
    error_of(app.get("/api/v1/connectors/no-such-connector").await, 404).await;
    let delete = app
        .client
        .delete(format!("{}/api/v1/connectors/no-such-connector", app.url))
        .send()
        .await
        .unwrap();
    error_of(delete, 404).await;
    let actions: i64 = app.rows("device_actions").await;
    assert_eq!(actions, 0, "nothing was written");

    // The connector protocol: a wrong or missing credential, a bad site report, a bad wait.
    for credential in [
        None,
        Some("nodot"),
        Some("someone.else"),
        Some(&format!("{}.wrong", connector_id(&site))[..]),
    ] {
        let client = ProtocolClient::new(&app.url, credential.map(str::to_owned));
        assert_eq!(
            client
                .heartbeat()
                .await
                .unwrap_err()
                .status()
                .map(|s| s.as_u16()),
            Some(401)
        );
    }
    let bad_site = SiteInfo {
        hierarchy_name: String::new(),
        site_code: "CHQ".into(),
        site_version: "2207".into(),
        service_connection_point: None,
        cloud: None,
        upload_scope: None,
        endpoint_analytics_enabled: None,
        connectivity_checks: None,
        checks_users: None,
    };
    let refused = site.client().report_site(&bad_site).await.unwrap_err();
    assert_eq!(refused.status().map(|s| s.as_u16()), Some(400));
    assert_eq!(
        connector(&app, &connector_id(&site))
            .await
            .hierarchy_name
            .as_deref(),
        Some("HQ"),
        "nothing was written"
    );
    let wait = site.client().poll_actions(61).await.unwrap_err();
    assert_eq!(wait.status().map(|s| s.as_u16()), Some(400));
    let unknown_field = app
        .client
        .put(format!("{}/api/connector/v1/site", app.url))
        .bearer_auth(site.client().credential().unwrap())
        .json(&serde_json::json!({"hierarchyName": "x", "siteCode": "y", "siteVersion": "2207", "color": "red"}))
        .send()
        .await
        .unwrap();
    error_of(unknown_field, 400).await;
    let bad_cloud = app
        .client
        .put(format!("{}/api/connector/v1/site", app.url))
        .bearer_auth(site.client().credential().unwrap())
        .json(&serde_json::json!({"hierarchyName": "x", "siteCode": "y", "siteVersion": "2207", "cloud": "Mars"}))
        .send()
        .await
        .unwrap();
    error_of(bad_cloud, 400).await;
    app.shut_down().await;
}

#[tokio::test]
async fn an_action_poll_answer_lost_on_the_way_is_handed_out_again_and_runs_once() {
    let app = spawn_app().await;
    let site = app.attach_site(quick_site("HQ", "CHQ", 2207, 18)).await;
    let device = device_in_state(&site, ClientState::Online).await;
    let action = triggered(&app.api(), &device, "refreshMachinePolicy").await;
    let client = site.client();

    // The first answer never reaches the site (its connection dropped): the action stays pending.
    let lost = client.poll_actions(0).await.unwrap();
    assert_eq!(lost.actions.len(), 1);
    let again = client.poll_actions(0).await.unwrap();
    assert_eq!(again.actions, lost.actions, "handed out again, not lost");

    // Taking it twice (a retried accept) still makes one active action, and no more polls carry it.
    client.accept_action(&action.id).await.unwrap();
    client.accept_action(&action.id).await.unwrap();
    assert!(client.poll_actions(0).await.unwrap().actions.is_empty());
    let result = admin_api::protocol::ActionResult {
        succeeded: true,
        result_code: 0,
        result_message: None,
        requester_at_site: None,
    };
    client.report_result(&action.id, &result).await.unwrap();
    client.report_result(&action.id, &result).await.unwrap();
    let done: DeviceAction = app
        .get(&format!("/api/v1/deviceActions/{}", action.id))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(done.action_state, ActionState::Done);
    let contrary = admin_api::protocol::ActionResult {
        succeeded: false,
        result_code: 1,
        result_message: None,
        requester_at_site: None,
    };
    let refused = client
        .report_result(&action.id, &contrary)
        .await
        .unwrap_err();
    assert_eq!(refused.status().map(|s| s.as_u16()), Some(409));
    app.shut_down().await;
}

#[tokio::test]
async fn a_waiting_poll_is_woken_by_a_new_action() {
    let app = spawn_app().await;
    let site = app.attach_site(quick_site("HQ", "CHQ", 2207, 19)).await;
    let device = device_in_state(&site, ClientState::Online).await;
    let client = site.client().clone();
    let waiting = tokio::spawn(async move { client.poll_actions(60).await.unwrap() });
    // Whether the poll reaches the server before or after the action, it answers at once, not
    // after its 60 s.
    let mut events = EventStream::open(&app).await;
    let action = triggered(&app.api(), &device, "appEvaluation").await;
    events
        .wait_for("deviceAction", is_action(&action.id, "pending"))
        .await;
    let answer = tokio::time::timeout(Duration::from_secs(10), waiting)
        .await
        .expect("the poll answers long before its 60 s")
        .unwrap();
    assert_eq!(answer.actions.len(), 1);
    assert_eq!(answer.actions[0].id, action.id);
    app.shut_down().await;
}

#[tokio::test]
async fn the_site_reconnects_after_the_server_went_away_and_loses_no_action() {
    let mut app = spawn_app().await;
    let site = app.attach_site(quick_site("HQ", "CHQ", 2207, 20)).await;
    let device = device_in_state(&site, ClientState::Online).await;
    let stop = CancellationToken::new();
    let serving = tokio::spawn(site.serve(stop.clone()));
    // Its waiting poll is cut off, and it finds no server for a while.
    app.restart().await;
    let mut events = EventStream::open(&app).await;
    let action = triggered(&app.api(), &device, "refreshUserPolicy").await;
    events
        .wait_for("deviceAction", is_action(&action.id, "done"))
        .await;
    let history: Collection<DeviceAction> = app
        .get(&format!("/api/v1/devices/{device}/deviceActions"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(history.value.len(), 1, "run once");
    stop.cancel();
    assert_eq!(serving.await.unwrap(), Outcome::Stopped);
    app.shut_down().await;
}

/// `$search` reads a trigram index kept by triggers: it must follow a rename, a new serial number
/// and a removal as they are uploaded, and a full sync that drops a device. Counts are kept per
/// query between changes: they must follow the same changes.
#[tokio::test]
async fn search_and_counts_follow_renames_and_removals() {
    let app = spawn_app().await;
    let site = app
        .attach_site(HierarchyConfig::new("HQ", "CHQ", 2207, 40, 11))
        .await;
    let search = |term: &str| {
        let path = format!("/api/v1/devices?$search=%22{term}%22&$top=100");
        let app = &app;
        async move {
            let page: Collection<Device> = app.get(&path).await.json().await.unwrap();
            sorted_ids(page.value.into_iter().map(|d| d.id))
        }
    };
    // The same count asked again after each change: it is kept only while nothing changes.
    let count = || async {
        let page: Collection<Device> = app
            .get("/api/v1/devices?$top=1&$count=true&$filter=siteCode%20eq%20%27CHQ%27")
            .await
            .json()
            .await
            .unwrap();
        page.count.unwrap()
    };
    assert_eq!((count().await, count().await), (40, 40));
    let devices = site.source().lock().await.devices_in_scope();
    let (renamed, removed) = (devices[0].clone(), devices[1].clone());
    assert_eq!(search(&renamed.device_name).await, vec![renamed.id.clone()]);
    let mut changed = renamed.clone();
    changed.device_name = "Finance-Kiosk-Zeta".into();
    changed.serial_number = Some("QQ-SERIAL-77".into());
    site.upload_delta(&DeviceDelta {
        upserts: vec![changed],
        removals: vec![removed.id.clone()],
    })
    .await
    .unwrap();
    assert_eq!(search(&renamed.device_name).await, Vec::<String>::new());
    assert_eq!(search("kiosk-zeta").await, vec![renamed.id.clone()]);
    assert_eq!(search("qq-serial").await, vec![renamed.id.clone()]);
    assert_eq!(search(&removed.device_name).await, Vec::<String>::new());
    assert_eq!(count().await, 39);
    // A full sync without the renamed device removes it from the index too (the simulated site
    // forgets the removed one as well, or its full sync would bring it back).
    site.source()
        .lock()
        .await
        .devices
        .retain(|d| d.device.id != renamed.id && d.device.id != removed.id);
    site.full_sync().await.unwrap();
    assert_eq!(search("kiosk-zeta").await, Vec::<String>::new());
    assert_eq!(count().await, 38);
    // Every other device is still found by its name.
    let other = &devices[2];
    assert_eq!(search(&other.device_name).await, vec![other.id.clone()]);
}
