//! What a hostile connector or caller tried, each refused with the contract's error body and
//! nothing changed: sizes and counts it sends, other connectors' syncs, unrepresentable dates.

use admin_api::protocol::MAX_BATCHES;
use admin_api::{Collection, Device};
use admin_server::store::db;
use site_connector::HierarchyConfig;

use crate::protocol::connector_id;
use crate::{error_of, spawn_app, TestApp};

async fn device_ids_of(app: &TestApp, connector: &str) -> Vec<String> {
    let mut ids: Vec<String> = crate::protocol::devices_of(app, connector)
        .await
        .into_iter()
        .map(|d| d.id)
        .collect();
    ids.sort();
    ids
}

/// A raw protocol call with the site's credential, for bodies the typed client cannot send.
async fn call(
    app: &TestApp,
    site: &site_connector::SimulatedSite,
    path: &str,
    body: serde_json::Value,
) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!(
            "{}{}{path}",
            app.url,
            admin_api::protocol::CONNECTOR_API_BASE
        ))
        .bearer_auth(site.client().credential().unwrap())
        .json(&body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_batch_count_beyond_what_was_staged_is_refused_briefly() {
    let app = spawn_app().await;
    let site = app
        .attach_site(HierarchyConfig::new("One", "ONE", 2207, 30, 1))
        .await;
    let devices = site.source().lock().await.devices_in_scope();
    site.client()
        .put_batch("big", 0, &devices[..10])
        .await
        .unwrap();
    let complete = |count: u64| {
        call(
            &app,
            &site,
            "/syncs/big/complete",
            serde_json::json!({"batchCount": count}),
        )
    };
    for count in [
        0_u64,
        u64::from(MAX_BATCHES) + 1,
        10_000_000,
        u64::from(u32::MAX),
    ] {
        let response = complete(count).await;
        let error = error_of(response, 400).await;
        assert_eq!(error["target"], "batchCount", "{count}");
    }
    for count in [2_u32, 1_000, MAX_BATCHES] {
        let response = complete(u64::from(count)).await;
        let error = error_of(response, 409).await;
        let message = error["message"].as_str().unwrap();
        assert!(
            message.contains(&format!("missing {} of its {count}", count - 1)),
            "{message}"
        );
        assert!(message.contains(": 1"), "{message}");
        // The answer as received (not its Content-Length, which a response may go without).
        let length = error.to_string().len();
        assert!(length < 1024, "a short answer: {length} bytes");
    }
    // A batch index beyond the maximum is refused as it arrives.
    let error = site
        .client()
        .put_batch("big", MAX_BATCHES, &devices[..1])
        .await
        .unwrap_err();
    assert_eq!(error.status().map(|s| s.as_u16()), Some(400));
    // Nothing of the staged sync became visible; with the right count it completes.
    assert_eq!(device_ids_of(&app, &connector_id(&site)).await.len(), 30);
    let done = site.client().complete_full_sync("big", 1).await.unwrap();
    assert_eq!(done.device_count, 10);
    app.shut_down().await;
}

#[tokio::test]
async fn a_connector_cannot_stage_into_or_squat_another_connectors_sync() {
    let app = spawn_app().await;
    let first = app
        .attach_site(HierarchyConfig::new("One", "ONE", 2207, 10, 2))
        .await;
    let second = app
        .attach_site(HierarchyConfig::new("Two", "TWO", 2207, 10, 3))
        .await;
    let (a, b) = (connector_id(&first), connector_id(&second));
    let first_devices = first.source().lock().await.devices_in_scope();
    let second_devices = second.source().lock().await.devices_in_scope();
    let before_b = device_ids_of(&app, &b).await;

    // The first stages a sync; the second writes a batch of the same id and index, and
    // completes a sync id the first will use next.
    first
        .client()
        .put_batch("shared", 0, &first_devices[..5])
        .await
        .unwrap();
    let mut intruder = second_devices[0].clone();
    intruder.id = "planted-device".into();
    second
        .client()
        .put_batch("shared", 0, &[intruder])
        .await
        .unwrap();
    second
        .client()
        .put_batch("next", 0, &second_devices)
        .await
        .unwrap();
    second.client().complete_full_sync("next", 1).await.unwrap();

    // The first's sync is its own: its five devices, nothing planted.
    let done = first
        .client()
        .complete_full_sync("shared", 1)
        .await
        .unwrap();
    assert_eq!(done.device_count, 5);
    let mut expected: Vec<String> = first_devices[..5].iter().map(|d| d.id.clone()).collect();
    expected.sort();
    assert_eq!(device_ids_of(&app, &a).await, expected);
    // And the id the second used is still free for the first.
    first
        .client()
        .put_batch("next", 0, &first_devices)
        .await
        .unwrap();
    let done = first.client().complete_full_sync("next", 1).await.unwrap();
    assert_eq!(done.device_count, 10);
    // The second's staged batch never became anyone's device.
    assert_eq!(device_ids_of(&app, &b).await, before_b);
    let planted = app.get("/api/v1/devices/planted-device").await;
    error_of(planted, 404).await;
    app.shut_down().await;
}

#[tokio::test]
async fn a_date_no_year_can_hold_and_a_nul_in_a_search_are_bad_requests() {
    let app = spawn_app().await;
    app.attach_site(HierarchyConfig::new("One", "ONE", 2207, 10, 4))
        .await;
    for date in ["0000-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"] {
        for (path, field) in [
            ("/api/v1/devices", "lastSyncDateTime"),
            ("/api/v1/auditEvents", "activityDateTime"),
        ] {
            let query = format!("{path}?$filter={field}%20ge%20{}", date.replace('+', "%2B"));
            let error = error_of(app.get(&query).await, 400).await;
            assert_eq!(error["target"], "$filter", "{query}");
            assert!(
                error["message"].as_str().unwrap().contains(date),
                "the message names the value: {error}"
            );
        }
    }
    // The edges that can be held still work.
    let edge = app
        .get("/api/v1/devices?$filter=lastSyncDateTime%20ge%200000-01-01T01:00:00%2B01:00")
        .await;
    assert_eq!(edge.status(), 200);
    for search in ["%22abc%00def%22", "%22abc%0Adef%22", "%00"] {
        let error = error_of(
            app.get(&format!("/api/v1/devices?$search={search}")).await,
            400,
        )
        .await;
        assert_eq!(error["target"], "$search");
    }
    app.shut_down().await;
}

#[tokio::test]
async fn a_device_name_that_is_a_formula_is_exported_as_text() {
    let app = spawn_app().await;
    let site = app
        .attach_site(HierarchyConfig::new("One", "ONE", 2207, 5, 5))
        .await;
    let devices = site.source().lock().await.devices_in_scope();
    let names = [
        "=HYPERLINK(\"http://evil.example\",\"open\")",
        "+1+cmd|' /C calc'!A0",
        "-2+3",
        "@SUM(1,2)",
    ];
    let upserts = devices
        .iter()
        .zip(names)
        .map(|(device, name)| {
            let mut device = device.clone();
            device.device_name = name.to_owned();
            device
        })
        .collect();
    site.upload_delta(&admin_api::protocol::DeviceDelta {
        upserts,
        removals: vec![],
    })
    .await
    .unwrap();
    let text = app
        .get("/api/v1/devices/export?$select=deviceName")
        .await
        .text()
        .await
        .unwrap();
    let mut cells: Vec<String> = csv::Reader::from_reader(text.as_bytes())
        .records()
        .map(|r| r.unwrap()[0].to_owned())
        .collect();
    assert_eq!(cells.len(), 5);
    cells.retain(|cell| cell.starts_with('\''));
    cells.sort();
    let mut expected: Vec<String> = names.iter().map(|n| format!("'{n}")).collect();
    expected.sort();
    assert_eq!(cells, expected);
    // The API itself returns the names as the site sent them.
    let page: Collection<Device> = app.get("/api/v1/devices").await.json().await.unwrap();
    assert!(page.value.iter().any(|d| d.device_name == names[0]));
    app.shut_down().await;
}

#[tokio::test]
async fn onboarding_checks_the_token_first_never_waits_for_the_writer_and_is_throttled() {
    let app = crate::spawn_app_with(|c| {
        c.onboard_address_burst = 4;
        c.onboard_address_interval = std::time::Duration::from_secs(3600);
    })
    .await;
    let token = app.onboarding_token().await;
    let onboard = |credential: &str, body: &str| {
        reqwest::Client::builder()
            // A request that waited for the writer would take its 120 s wait: far beyond this.
            .timeout(std::time::Duration::from_secs(20))
            .build()
            .unwrap()
            .post(format!(
                "{}{}/onboard",
                app.url,
                admin_api::protocol::CONNECTOR_API_BASE
            ))
            .bearer_auth(credential)
            .header("content-type", "application/json")
            .body(body.to_owned())
            .send()
    };
    // The writer is busy (a long upload, say) while wrong tokens arrive: each is refused at
    // once, without its body being read (a malformed one is still a 401, not a 400).
    let mut writer = app.store().begin().await.unwrap();
    db::query("UPDATE connectors SET id = id")
        .execute(&mut writer)
        .await
        .unwrap();
    for body in [r#"{"hierarchyId":"x"}"#, "{not json"] {
        let response = onboard("wrong-token", body)
            .await
            .expect("answered at once");
        assert_eq!(error_of(response, 401).await["code"], "unauthenticated");
    }
    writer.rollback().await.unwrap();
    // A live token with a bad body is refused for the body, and stays live.
    let response = onboard(&token, r#"{"hierarchyId":""}"#).await.unwrap();
    assert_eq!(error_of(response, 400).await["target"], "hierarchyId");
    let response = onboard(&token, r#"{"hierarchyId":"HIER-1"}"#)
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    // Four attempts from this address were allowed; the fifth is throttled, even with a live token.
    let another = app.onboarding_token().await;
    let response = onboard(&another, r#"{"hierarchyId":"HIER-2"}"#)
        .await
        .unwrap();
    assert_eq!(error_of(response, 429).await["code"], "tooManyRequests");
    app.shut_down().await;
}

/// Every field a site sends is checked before anything is written: the refusal names the field.
#[tokio::test]
async fn a_site_cannot_store_what_would_break_a_reader() {
    let app = spawn_app().await;
    let site = app
        .attach_site(HierarchyConfig::new("One", "ONE", 2207, 10, 6))
        .await;
    let id = connector_id(&site);
    let before = device_ids_of(&app, &id).await;
    let devices = site.source().lock().await.devices_in_scope();
    let put = |device: serde_json::Value| {
        let client = reqwest::Client::new();
        let url = format!(
            "{}{}/syncs/bad/batches/0",
            app.url,
            admin_api::protocol::CONNECTOR_API_BASE
        );
        let credential = site.client().credential().unwrap().to_owned();
        async move {
            client
                .put(url)
                .bearer_auth(credential)
                .json(&serde_json::json!({ "devices": [device] }))
                .send()
                .await
                .unwrap()
        }
    };
    let good = serde_json::to_value(&devices[0]).unwrap();
    let with = |field: &str, value: serde_json::Value| {
        let mut device = good.clone();
        device[field] = value;
        device
    };
    for (device, target) in [
        (
            with("lastActiveDateTime", "2026-11-21T09:3é00Z".into()),
            "devices[0].lastActiveDateTime",
        ),
        (
            with("enrolledDateTime", "0000-01-01T00:00:00+01:00".into()),
            "devices[0].enrolledDateTime",
        ),
        (
            with("lastPolicyRequestDateTime", "yesterday".into()),
            "devices[0].lastPolicyRequestDateTime",
        ),
        (with("id", "".into()), "devices[0].id"),
        (with("id", "   ".into()), "devices[0].id"),
        (with("id", "PC\u{0}01".into()), "devices[0].id"),
        (with("id", "x".repeat(201).into()), "devices[0].id"),
        (
            with("deviceName", "n".repeat(257).into()),
            "devices[0].deviceName",
        ),
        (with("model", "line\nbreak".into()), "devices[0].model"),
        (
            with(
                "collections",
                serde_json::json!([{"id": "", "name": "All Systems"}]),
            ),
            "devices[0].collections[0].id",
        ),
    ] {
        let error = error_of(put(device).await, 400).await;
        assert_eq!(error["target"], target, "{error}");
    }
    // A delta's removals and upserts are checked the same way.
    let response = call(
        &app,
        &site,
        "/syncs/bad-delta/delta",
        serde_json::json!({"upserts": [], "removals": ["ok", "\u{0}"]}),
    )
    .await;
    assert_eq!(error_of(response, 400).await["target"], "removals[1]");
    // A site's report: a 5 MB service connection point is refused.
    let response = reqwest::Client::new()
        .put(format!(
            "{}{}/site",
            app.url,
            admin_api::protocol::CONNECTOR_API_BASE
        ))
        .bearer_auth(site.client().credential().unwrap())
        .json(&serde_json::json!({
            "hierarchyName": "One", "siteCode": "ONE", "siteVersion": "2207",
            "serviceConnectionPoint": "s".repeat(5 * 1024 * 1024),
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_of(response, 400).await["target"],
        "serviceConnectionPoint"
    );
    // Nothing was staged or written.
    let error = site
        .client()
        .complete_full_sync("bad", 1)
        .await
        .unwrap_err();
    assert_eq!(error.status().map(|s| s.as_u16()), Some(409));
    assert_eq!(device_ids_of(&app, &id).await, before);
    let connector: admin_api::Connector = app
        .get(&format!("/api/v1/connectors/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(connector.hierarchy_name.as_deref(), Some("One"));
    // A date in another offset is stored in UTC.
    let mut shifted = devices[0].clone();
    shifted.last_active_date_time = Some("2026-11-21T10:30:00+01:00".into());
    site.upload_delta(&admin_api::protocol::DeviceDelta {
        upserts: vec![shifted],
        removals: vec![],
    })
    .await
    .unwrap();
    let stored: Device = app
        .get(&format!("/api/v1/devices/{}", devices[0].id))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        stored.last_active_date_time.as_deref(),
        Some("2026-11-21T09:30:00Z")
    );
    app.shut_down().await;
}
