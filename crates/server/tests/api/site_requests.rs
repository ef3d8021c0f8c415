//! Site requests over real HTTP against a simulated site served by the real connector work loop:
//! each kind from its request to its answer on the event stream, what a site cannot answer said in
//! words, the bounds (per user, per connector, the answer's size), a connector that answers only its
//! own requests, and hostile text kept as text.

use std::time::Duration;

use admin_api::identity::{HELP_DESK_OPERATOR, READ_ONLY_OPERATOR};
use admin_api::protocol::{SiteRequestOutcome, SiteRequestWork};
use admin_api::site_requests::{QueryResult, Table, MAX_ANSWER_BYTES};
use admin_api::{SiteAnswer, SiteRequest, SiteRequestState};
use serde_json::{json, Value};
use simulated_hierarchy::{ClientState, SCRIPTS};
use tokio_util::sync::CancellationToken;

use crate::events::EventStream;
use crate::protocol::{device_in_state, quick_site};
use crate::{error_of, spawn_app, spawn_app_with, Api};

pub(crate) async fn ask(api: &Api, device: &str, body: Value) -> reqwest::Response {
    api.client
        .post(format!("{}/api/v1/devices/{device}/siteRequests", api.url))
        .json(&body)
        .send()
        .await
        .unwrap()
}

pub(crate) async fn asked(api: &Api, device: &str, body: Value) -> SiteRequest {
    let response = ask(api, device, body).await;
    assert!(
        matches!(response.status().as_u16(), 200 | 202),
        "{}",
        response.text().await.unwrap()
    );
    response.json().await.unwrap()
}

pub(crate) async fn read(api: &Api, id: &str) -> SiteRequest {
    let response = api
        .client
        .get(format!("{}/api/v1/siteRequests/{id}", api.url))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

/// The event that ends request `id`, whichever way it ended.
pub(crate) fn ended(id: &str) -> impl Fn(&Value) -> bool {
    let id = id.to_owned();
    move |data| {
        let state: Option<SiteRequestState> = serde_json::from_value(data["state"].clone()).ok();
        data["id"] == id.as_str() && state.is_some_and(|state| !state.is_open())
    }
}

/// Asks, follows the request on the event stream to its end, and reads it with its answer.
pub(crate) async fn outcome(
    api: &Api,
    events: &mut EventStream,
    device: &str,
    body: Value,
) -> SiteRequest {
    let request = asked(api, device, body).await;
    if request.state.is_open() {
        let end = events.wait_for("siteRequest", ended(&request.id)).await;
        for kept in ["answer", "query", "scriptId", "requesterAtSite"] {
            assert!(end.get(kept).is_none(), "events carry no {kept}: {end}");
        }
    }
    read(api, &request.id).await
}

#[tokio::test]
async fn each_page_asks_the_site_and_gets_its_answer() {
    let app = spawn_app().await;
    let site = app.attach_site(quick_site("HQ", "CHQ", 2207, 61)).await;
    let device = device_in_state(&site, ClientState::Online).await;
    let uploaded = site.source().lock().await.device(&device).unwrap().clone();
    let stop = CancellationToken::new();
    let serving = tokio::spawn(site.serve(stop.clone()));
    let mut events = EventStream::open(&app).await;
    let api = app.api();

    // Client details: queued, running at the site, answered.
    let asked_details = asked(&api, &device, json!({"kind": "clientDetails"})).await;
    assert_eq!(asked_details.state, SiteRequestState::Queued);
    events
        .wait_for("siteRequest", |d| {
            d["id"] == asked_details.id.as_str() && d["state"] == "running"
        })
        .await;
    events
        .wait_for("siteRequest", ended(&asked_details.id))
        .await;
    let details = read(&api, &asked_details.id).await;
    assert_eq!(details.state, SiteRequestState::Answered, "{details:?}");
    let Some(SiteAnswer::ClientDetails(details_answer)) = &details.answer else {
        panic!("{details:?}")
    };
    assert_eq!(details_answer.online, Some(true));
    assert_eq!(
        details_answer.client_version,
        uploaded
            .device
            .configuration_manager_client_information
            .as_ref()
            .unwrap()
            .client_version
    );
    assert_eq!(details_answer.collections, uploaded.device.collections);
    assert_eq!(
        details_answer.management_point.as_deref(),
        Some("CHQ-MP01.chq.contoso.com")
    );

    // A reading answered a moment ago is shown again (200, the same request); refresh asks anew.
    let again = ask(&api, &device, json!({"kind": "clientDetails"})).await;
    assert_eq!(again.status(), 200);
    let again: SiteRequest = again.json().await.unwrap();
    assert_eq!(again.id, details.id);
    assert!(again.answer.is_some());
    let fresh = asked(
        &api,
        &device,
        json!({"kind": "clientDetails", "refresh": true}),
    )
    .await;
    assert_ne!(fresh.id, details.id);

    // Resource explorer: the classes the site holds.
    let inventory = outcome(&api, &mut events, &device, json!({"kind": "inventory"})).await;
    let Some(SiteAnswer::Inventory(inventory)) = inventory.answer else {
        panic!("{inventory:?}")
    };
    let names: Vec<&str> = inventory
        .classes
        .iter()
        .map(|c| c.display_name.as_str())
        .collect();
    for class in [
        "Computer System",
        "Operating System",
        "PC BIOS",
        "Processor",
        "Physical Memory",
        "Logical Disk",
        "Network Adapter Configuration",
        "Installed Software",
    ] {
        assert!(names.contains(&class), "{class} in {names:?}");
    }
    let bios = inventory
        .classes
        .iter()
        .find(|c| c.display_name == "PC BIOS")
        .unwrap();
    assert_eq!(bios.table.rows[0][2], uploaded.device.serial_number);

    // The site's scripts, then one run on the device.
    let scripts = outcome(&api, &mut events, &device, json!({"kind": "scripts"})).await;
    let Some(SiteAnswer::Scripts(scripts)) = scripts.answer else {
        panic!("{scripts:?}")
    };
    assert_eq!(scripts.scripts.len(), SCRIPTS.len());
    let disk_space = &scripts.scripts[0];
    let run = outcome(
        &api,
        &mut events,
        &device,
        json!({"kind": "runScript", "scriptId": disk_space.id}),
    )
    .await;
    let Some(SiteAnswer::RunScript(run)) = run.answer else {
        panic!("{run:?}")
    };
    assert_eq!(run.script_name, "Get free disk space");
    assert_eq!(run.exit_code, Some(0));
    assert!(run.output.starts_with("C:  "), "{}", run.output);

    // A failing script still answers, with its exit code.
    let repair = SCRIPTS
        .iter()
        .find(|s| s.1 == "Repair WMI repository")
        .unwrap()
        .0;
    let failing = outcome(
        &api,
        &mut events,
        &device,
        json!({"kind": "runScript", "scriptId": repair}),
    )
    .await;
    let Some(SiteAnswer::RunScript(failing)) = failing.answer else {
        panic!("{failing:?}")
    };
    assert_eq!(failing.exit_code, Some(1));

    // CMPivot: a table; an error in the query comes back in words.
    let query = "Disk | project DeviceID, FreeSpace";
    let pivot = outcome(
        &api,
        &mut events,
        &device,
        json!({"kind": "cmPivot", "query": query}),
    )
    .await;
    assert_eq!(pivot.query.as_deref(), Some(query));
    let Some(SiteAnswer::CmPivot(result)) = pivot.answer else {
        panic!("{pivot:?}")
    };
    assert_eq!(result.table.columns, ["DeviceID", "FreeSpace"]);
    assert_eq!(result.table.rows[0][0].as_deref(), Some("C:"));
    let wrong = outcome(
        &api,
        &mut events,
        &device,
        json!({"kind": "cmPivot", "query": "Bogus | take 1"}),
    )
    .await;
    assert_eq!(wrong.state, SiteRequestState::Failed);
    assert!(
        wrong
            .failure_message
            .as_deref()
            .unwrap()
            .contains("could not resolve the entity 'Bogus'"),
        "{wrong:?}"
    );

    // The user's recent queries, the latest first; the audit log has each run and its result.
    let recent: Value = api
        .client
        .get(format!("{}/api/v1/me/cmPivotQueries", api.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(recent["value"], json!(["Bogus | take 1", query]));
    let audit: Value = app
        .get("/api/v1/auditEvents?$filter=activity%20eq%20'runCMPivotQuery'%20or%20activity%20eq%20'cmPivotQueryResult'%20or%20activity%20eq%20'scriptResult'")
        .await
        .json()
        .await
        .unwrap();
    let details: Vec<&str> = audit["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["details"].as_str().unwrap())
        .collect();
    assert!(
        details
            .iter()
            .any(|d| d.contains(query) && d.starts_with("CMPivot query run")),
        "{details:?}"
    );
    assert!(
        details
            .iter()
            .any(|d| d.starts_with("CMPivot query answered with 1 row(s)")),
        "{details:?}"
    );
    assert!(
        details
            .iter()
            .any(|d| d.starts_with("Script 'Repair WMI repository' ran, exit code 1")),
        "{details:?}"
    );
    assert!(audit["value"]
        .as_array()
        .unwrap()
        .iter()
        .all(|e| e["resourceId"] == device.as_str()));

    stop.cancel();
    serving.await.unwrap();
    app.shut_down().await;
}

#[tokio::test]
async fn what_the_site_cannot_answer_is_said_in_words() {
    let app = spawn_app_with(|c| c.site_request_timeout = Duration::from_secs(3)).await;
    let api = app.api();
    let mut events = EventStream::open(&app).await;

    // A 2002 site that reported its version: the server refuses the pages that need 2006 at once;
    // CMPivot (2002) goes to the site.
    let old = app.attach_site(quick_site("Old", "OLD", 2002, 62)).await;
    let old_device = device_in_state(&old, ClientState::Online).await;
    let refused = error_of(
        ask(&api, &old_device, json!({"kind": "inventory"})).await,
        409,
    )
    .await;
    assert_eq!(
        refused["message"],
        "The device's site runs Configuration Manager 2002; Resource explorer needs version 2006 or later."
    );
    // A 2002 site that never reports its version: its connector says so itself.
    let mut silent_config = quick_site("Quiet", "QUI", 2002, 63);
    silent_config.reports_site_info = false;
    let quiet = app.attach_site(silent_config).await;
    let quiet_device = device_in_state(&quiet, ClientState::Online).await;
    // It has sent nothing that says it is alive yet (its first poll may come later).
    quiet.client().heartbeat().await.unwrap();
    let stop = CancellationToken::new();
    let serving_quiet = tokio::spawn(quiet.serve(stop.clone()));
    let said = outcome(
        &api,
        &mut events,
        &quiet_device,
        json!({"kind": "clientDetails"}),
    )
    .await;
    assert_eq!(said.state, SiteRequestState::Failed);
    assert_eq!(
        said.failure_message.as_deref(),
        Some("The device's site runs Configuration Manager 2002; Client details needs version 2006 or later.")
    );

    // Offline clients: one the site cannot reach fails in words, one that never answers times out.
    let site = app.attach_site(quick_site("HQ", "CHQ", 2207, 64)).await;
    let unreachable = device_in_state(&site, ClientState::OfflineFails).await;
    let silent = device_in_state(&site, ClientState::OfflineSilent).await;
    let serving = tokio::spawn(site.serve(stop.clone()));
    let failed = outcome(
        &api,
        &mut events,
        &unreachable,
        json!({"kind": "cmPivot", "query": "OS"}),
    )
    .await;
    assert_eq!(failed.state, SiteRequestState::Failed);
    assert!(
        failed
            .failure_message
            .as_deref()
            .unwrap()
            .contains("is offline"),
        "{failed:?}"
    );
    let timed_out = outcome(
        &api,
        &mut events,
        &silent,
        json!({"kind": "cmPivot", "query": "OS"}),
    )
    .await;
    assert_eq!(timed_out.state, SiteRequestState::TimedOut);
    assert_eq!(
        timed_out.failure_message.as_deref(),
        Some("The device did not answer in time.")
    );
    // Client details of an offline device are the site's to give.
    let details = outcome(&api, &mut events, &silent, json!({"kind": "clientDetails"})).await;
    let Some(SiteAnswer::ClientDetails(details)) = details.answer else {
        panic!("{details:?}")
    };
    assert_eq!(details.online, Some(false));

    // A device without a client.
    let mut clientless = site_device("no-client", "CHQ-KIOSK-01");
    clientless.configuration_manager_client_information = None;
    stop.cancel();
    serving.await.unwrap();
    serving_quiet.await.unwrap();
    let app_site = app.attach_site(quick_site("Kiosk", "KSK", 2207, 65)).await;
    app_site
        .upload_delta(&admin_api::protocol::DeviceDelta {
            upserts: vec![clientless],
            removals: Vec::new(),
        })
        .await
        .unwrap();
    let none = error_of(
        ask(&api, "no-client", json!({"kind": "clientDetails"})).await,
        409,
    )
    .await;
    assert_eq!(
        none["message"],
        "CHQ-KIOSK-01 has no Configuration Manager client: Client details needs one."
    );
    error_of(
        ask(&api, "no-such-device", json!({"kind": "clientDetails"})).await,
        404,
    )
    .await;
    app.shut_down().await;
}

fn site_device(id: &str, name: &str) -> admin_api::protocol::SiteDevice {
    serde_json::from_value(json!({
        "id": id, "deviceName": name, "managedBy": "configMgr", "ownerType": "company",
        "complianceState": "configManager", "clientHealthState": "unknown", "collections": [],
    }))
    .unwrap()
}

#[tokio::test]
async fn a_site_that_does_not_know_the_requester_refuses_and_an_offline_connector_is_named() {
    let app = spawn_app().await;
    let api = app.api();
    let mut events = EventStream::open(&app).await;
    let mut config = quick_site("HQ", "CHQ", 2207, 66);
    config.discovered_users = Some(Vec::new());
    let site = app.attach_site(config).await;
    let device = device_in_state(&site, ClientState::Online).await;
    let stop = CancellationToken::new();
    let serving = tokio::spawn(site.serve(stop.clone()));
    let refused = outcome(
        &api,
        &mut events,
        &device,
        json!({"kind": "cmPivot", "query": "OS"}),
    )
    .await;
    assert_eq!(refused.state, SiteRequestState::Failed);
    assert!(
        refused
            .failure_message
            .as_deref()
            .unwrap()
            .contains("has not discovered"),
        "{refused:?}"
    );
    stop.cancel();
    serving.await.unwrap();
    app.shut_down().await;

    // Nothing heard from the connector within the online window: refused, naming since when.
    let app = spawn_app_with(|c| c.online_window = Duration::ZERO).await;
    let site = app.attach_site(quick_site("HQ", "CHQ", 2207, 67)).await;
    let device = site.source().lock().await.devices[0].device.id.clone();
    let offline = error_of(
        ask(&app.api(), &device, json!({"kind": "clientDetails"})).await,
        409,
    )
    .await;
    assert!(
        offline["message"]
            .as_str()
            .unwrap()
            .starts_with("The device's site connector has been offline since 20"),
        "{offline}"
    );
    assert_eq!(app.rows("site_requests").await, 0);
    app.shut_down().await;
}

#[tokio::test]
async fn bad_requests_and_missing_permissions_are_refused_and_change_nothing() {
    let app = spawn_app().await;
    let site = app.attach_site(quick_site("HQ", "CHQ", 2207, 68)).await;
    let device = site.source().lock().await.devices[0].device.id.clone();
    let api = app.api();
    for (body, target) in [
        (json!({"kind": "cmPivot"}), "query"),
        (json!({"kind": "cmPivot", "query": "  "}), "query"),
        (
            json!({"kind": "cmPivot", "query": "x".repeat(4001)}),
            "query",
        ),
        (json!({"kind": "cmPivot", "query": "OS\u{0}"}), "query"),
        (json!({"kind": "clientDetails", "query": "OS"}), "query"),
        (json!({"kind": "runScript"}), "scriptId"),
        (
            json!({"kind": "runScript", "scriptId": "../../etc"}),
            "scriptId",
        ),
        (json!({"kind": "inventory", "scriptId": "ABC"}), "scriptId"),
    ] {
        let error = error_of(ask(&api, &device, body.clone()).await, 400).await;
        assert_eq!(error["target"], target, "{body}: {error}");
    }
    for body in [
        json!({"kind": "timeline"}),
        json!({"kind": "inventory", "extra": 1}),
        json!([]),
    ] {
        error_of(ask(&api, &device, body).await, 400).await;
    }
    app.add_user("reader@tests.example", &[READ_ONLY_OPERATOR])
        .await;
    app.add_user("helpdesk@tests.example", &[HELP_DESK_OPERATOR])
        .await;
    let reader = app.api_as("reader@tests.example").await;
    let help_desk = app.api_as("helpdesk@tests.example").await;
    let error = error_of(
        ask(&reader, &device, json!({"kind": "cmPivot", "query": "OS"})).await,
        403,
    )
    .await;
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("remoteTasks.runCMPivot (Remote tasks › Run CMPivot query)"),
        "{error}"
    );
    let error = error_of(
        ask(
            &help_desk,
            &device,
            json!({"kind": "runScript", "scriptId": SCRIPTS[0].0}),
        )
        .await,
        403,
    )
    .await;
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("remoteTasks.runScript"),
        "{error}"
    );
    assert_eq!(app.rows("site_requests").await, 0);
    assert_eq!(app.rows("cmpivot_queries").await, 0);

    // The help desk runs CMPivot; a reader reads client details but not the help desk's query.
    let pivot = asked(
        &help_desk,
        &device,
        json!({"kind": "cmPivot", "query": "OS"}),
    )
    .await;
    asked(&reader, &device, json!({"kind": "clientDetails"})).await;
    let response = reader
        .client
        .get(format!("{}/api/v1/siteRequests/{}", reader.url, pivot.id))
        .send()
        .await
        .unwrap();
    error_of(response, 403).await;
    app.shut_down().await;
}

#[tokio::test]
async fn one_user_cannot_flood_a_site_and_the_others_still_get_through() {
    let app = spawn_app_with(|c| {
        c.site_requests_per_user = 3;
        c.site_requests_per_connector = 5;
    })
    .await;
    // Not served: every request stays queued.
    let site = app.attach_site(quick_site("HQ", "CHQ", 2207, 69)).await;
    let device = site.source().lock().await.devices[0].device.id.clone();
    let api = app.api();
    for n in 0..3 {
        asked(
            &api,
            &device,
            json!({"kind": "cmPivot", "query": format!("OS | take {n}")}),
        )
        .await;
    }
    let response = ask(&api, &device, json!({"kind": "cmPivot", "query": "OS"})).await;
    assert!(response.headers().contains_key("retry-after"));
    let error = error_of(response, 429).await;
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .starts_with("You have 3 requests to sites in progress"),
        "{error}"
    );

    app.add_user("second@tests.example", &[HELP_DESK_OPERATOR])
        .await;
    let second = app.api_as("second@tests.example").await;
    asked(&second, &device, json!({"kind": "cmPivot", "query": "OS"})).await;
    asked(
        &second,
        &device,
        json!({"kind": "cmPivot", "query": "Bios"}),
    )
    .await;
    let full = error_of(
        ask(
            &second,
            &device,
            json!({"kind": "cmPivot", "query": "Disk"}),
        )
        .await,
        429,
    )
    .await;
    assert!(
        full["message"]
            .as_str()
            .unwrap()
            .starts_with("The device's site has 5 requests in progress"),
        "{full}"
    );
    assert_eq!(app.rows("site_requests").await, 5);
    app.shut_down().await;
}

#[tokio::test]
async fn a_connector_answers_only_its_own_requests_within_the_bounds_and_hostile_text_stays_text() {
    let app = spawn_app().await;
    let site = app.attach_site(quick_site("HQ", "CHQ", 2207, 70)).await;
    let other = app.attach_site(quick_site("Branch", "BR1", 2207, 71)).await;
    let device = site.source().lock().await.devices[0].device.id.clone();
    let api = app.api();
    let request = asked(
        &api,
        &device,
        json!({"kind": "cmPivot", "query": "OS | where Caption contains '<script>'"}),
    )
    .await;

    // The other site's connector neither sees nor answers it.
    let theirs = other.client().poll_actions(0).await.unwrap();
    assert!(theirs.requests.is_empty());
    let table = |cells: Vec<Option<String>>, rows: u64| {
        SiteAnswer::CmPivot(QueryResult {
            table: Table {
                columns: vec!["Caption".into()],
                rows: vec![cells],
                row_count: rows,
            },
        })
    };
    let hostile = "<img src=x onerror=alert(1)>\"'&";
    let answer = SiteRequestOutcome::answered(table(vec![Some(hostile.into())], 1), None);
    let status = other
        .client()
        .answer_request(&request.id, &answer)
        .await
        .unwrap_err()
        .status();
    assert_eq!(status, Some(reqwest::StatusCode::NOT_FOUND));

    // Its own: handed out with who asked; refused when malformed, too large, of another kind.
    let mine = site.client().poll_actions(0).await.unwrap();
    let work: &SiteRequestWork = &mine.requests[0];
    assert_eq!(work.id, request.id);
    assert_eq!(
        work.requested_by.as_ref().unwrap().user_principal_name,
        crate::ADMIN
    );
    let client = site.client();
    for (outcome, status) in [
        (
            SiteRequestOutcome {
                answer: None,
                failure: None,
                requester_at_site: None,
            },
            400,
        ),
        (
            SiteRequestOutcome {
                failure: Some("no".into()),
                ..answer.clone()
            },
            400,
        ),
        (
            SiteRequestOutcome::answered(table(vec![None, None], 1), None),
            400,
        ),
        (
            SiteRequestOutcome::answered(table(vec![Some("a".into())], 0), None),
            400,
        ),
        (
            SiteRequestOutcome::answered(table(vec![Some("\u{0}".into())], 1), None),
            400,
        ),
        (
            SiteRequestOutcome::answered(table(vec![Some("x".repeat(MAX_ANSWER_BYTES))], 1), None),
            413,
        ),
        (
            SiteRequestOutcome::answered(SiteAnswer::Scripts(Default::default()), None),
            400,
        ),
    ] {
        let refused = client
            .answer_request(&request.id, &outcome)
            .await
            .unwrap_err();
        assert_eq!(
            refused.status().map(|s| s.as_u16()),
            Some(status),
            "{outcome:?}: {refused}"
        );
    }
    assert_eq!(
        read(&api, &request.id).await.state,
        SiteRequestState::Queued
    );

    client.accept_request(&request.id).await.unwrap();
    client.answer_request(&request.id, &answer).await.unwrap();
    client.answer_request(&request.id, &answer).await.unwrap();
    let answered = read(&api, &request.id).await;
    let Some(SiteAnswer::CmPivot(result)) = answered.answer else {
        panic!("{answered:?}")
    };
    assert_eq!(
        result.table.rows[0][0].as_deref(),
        Some(hostile),
        "kept as the site sent it"
    );
    let changed = SiteRequestOutcome::failed("changed my mind");
    let conflict = client
        .answer_request(&request.id, &changed)
        .await
        .unwrap_err();
    assert_eq!(conflict.status(), Some(reqwest::StatusCode::CONFLICT));
    app.shut_down().await;
}

#[tokio::test]
async fn offboarding_cancels_the_open_requests() {
    let app = spawn_app().await;
    let site = app.attach_site(quick_site("HQ", "CHQ", 2207, 72)).await;
    let device = site.source().lock().await.devices[0].device.id.clone();
    let mut events = EventStream::open(&app).await;
    let request = asked(
        &app.api(),
        &device,
        json!({"kind": "cmPivot", "query": "OS"}),
    )
    .await;
    let connector = crate::protocol::connector_id(&site);
    assert_eq!(app.delete_connector(&connector).await.status(), 202);
    site.client().acknowledge_offboard().await.unwrap();
    let canceled = events.wait_for("siteRequest", ended(&request.id)).await;
    assert_eq!(canceled["state"], "canceled");
    assert_eq!(canceled["failureMessage"], "The hierarchy was offboarded.");
    app.shut_down().await;
}
