//! Bulk actions on a filter (issue 37): the server takes the filter, counts it as it starts, asks
//! each matching device once, follows the job on the event stream to its end, one job per user,
//! cancellable, bounded; an empty filter is never all devices by accident.

use std::time::Duration;

use admin_api::identity::READ_ONLY_OPERATOR;
use admin_api::{BulkAction, BulkActionState, Collection};
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

use crate::events::EventStream;
use crate::protocol::{connector_id, quick_site};
use crate::{error_of, spawn_app, spawn_app_with, Api, TestApp};

/// `@odata.count` of the collection at `path` (`/api/v1/devices`, `/api/v1/auditEvents`) that
/// `filter` matches.
async fn counted(app: &TestApp, path: &str, filter: &str) -> u64 {
    let page: Collection<Value> = app
        .client
        .get(format!("{}{path}", app.url))
        .query(&[("$filter", filter), ("$count", "true"), ("$top", "1")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    page.count.unwrap()
}

async fn count(app: &TestApp, filter: &str) -> u64 {
    counted(app, "/api/v1/devices", filter).await
}

async fn start(api: &Api, body: Value) -> reqwest::Response {
    api.client
        .post(format!("{}/api/v1/devices/bulkActions", api.url))
        .json(&body)
        .send()
        .await
        .unwrap()
}

async fn audit_count(app: &TestApp, filter: &str) -> u64 {
    counted(app, "/api/v1/auditEvents", filter).await
}

#[tokio::test]
async fn a_bulk_action_reaches_exactly_what_its_filter_matches_and_is_followed_to_its_end() {
    let app = spawn_app().await;
    let mut config = quick_site("HQ", "CHQ", 2207, 71);
    config.offline_share = 0.0;
    let hq = app.attach_site(config).await;
    let hq_id = connector_id(&hq);
    let europe = app.attach_site(quick_site("Europe", "EUR", 2207, 72)).await;
    let mut events = EventStream::open(&app).await;
    let stop = CancellationToken::new();
    let serving = tokio::spawn(hq.serve(stop.clone()));
    let filter = "hierarchyName eq 'HQ'";
    let matching = count(&app, filter).await;
    assert_eq!(matching, 60);

    let response = start(
        &app.api(),
        json!({"action": "refreshMachinePolicy", "filter": filter, "confirmedCount": matching}),
    )
    .await;
    assert_eq!(response.status(), 202);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let job: BulkAction = response.json().await.unwrap();
    assert_eq!(location, format!("/api/v1/bulkActions/{}", job.id));
    assert_eq!(job.matched_count, matching);
    assert_eq!(job.confirmed_count, matching);
    assert_eq!(job.already_open_count, 0);
    assert_eq!(job.state, BulkActionState::Running);
    let c = &job.counts;
    assert_eq!(
        c.pending + c.delivered + c.succeeded + c.failed + c.timed_out + c.canceled,
        matching
    );
    assert_eq!(job.connectors.len(), 1, "only HQ's devices match");
    assert_eq!(job.connectors[0].connector_id, hq_id);
    assert_eq!(job.connectors[0].hierarchy_name.as_deref(), Some("HQ"));

    // Followed on the event stream until every device answered.
    let id = job.id.clone();
    let done = events
        .wait_for("bulkAction", |data| {
            data["id"] == id.as_str() && data["state"] == "completed"
        })
        .await;
    let done: BulkAction = serde_json::from_value(done).unwrap();
    assert_eq!(done.counts.succeeded + done.counts.failed, matching);
    assert_eq!(done.counts.pending + done.counts.delivered, 0);
    let read: BulkAction = app.get(&location).await.json().await.unwrap();
    assert_eq!(read.state, BulkActionState::Completed);
    assert_eq!(read.counts, done.counts);
    // One audit entry for the job, each device's result as for any action.
    assert_eq!(
        audit_count(&app, "activity eq 'requestBulkAction'").await,
        1
    );
    assert_eq!(
        audit_count(&app, "activity eq 'requestConfigurationManagerAction'").await,
        0,
        "the job's devices are not audited one by one when asked"
    );
    assert_eq!(
        audit_count(
            &app,
            &format!("activity eq 'configurationManagerActionResult' and actor eq '{hq_id}'")
        )
        .await,
        matching
    );

    // The same action again: the devices are asked anew (nothing is open), and the count the
    // operator confirmed differing from what matched at start is said.
    let response = start(
        &app.api(),
        json!({"action": "refreshMachinePolicy", "filter": filter, "confirmedCount": 55}),
    )
    .await;
    assert_eq!(response.status(), 202);
    let again: BulkAction = response.json().await.unwrap();
    assert_eq!(again.matched_count, 60);
    assert_eq!(again.confirmed_count, 55);
    let entry: Collection<admin_api::AuditEvent> = app
        .get("/api/v1/auditEvents?$filter=activity%20eq%20'requestBulkAction'&$top=1")
        .await
        .json()
        .await
        .unwrap();
    assert!(
        entry.value[0]
            .details
            .as_deref()
            .unwrap()
            .contains("55 confirmed, 60 matched"),
        "{:?}",
        entry.value[0].details
    );
    stop.cancel();
    serving.await.unwrap();
    drop(europe);
    app.shut_down().await;
}

#[tokio::test]
async fn a_running_job_is_the_users_only_one_and_cancels_what_the_site_has_not_taken() {
    let app = spawn_app().await;
    app.add_user("reader@tests.example", &[READ_ONLY_OPERATOR])
        .await;
    app.add_user(
        "helpdesk@tests.example",
        &[admin_api::identity::HELP_DESK_OPERATOR],
    )
    .await;
    // The site's connector is attached but does not serve: nothing is taken.
    let site = app.attach_site(quick_site("HQ", "CHQ", 2207, 73)).await;
    let mut events = EventStream::open(&app).await;
    let all = count(&app, "deviceName ne ''").await;

    // An empty filter is never all devices by accident.
    for body in [
        json!({"action": "appEvaluation", "confirmedCount": all}),
        json!({"action": "appEvaluation", "filter": " ", "search": "", "confirmedCount": all}),
        json!({"action": "appEvaluation", "allDevices": true, "filter": "deviceName eq 'x'", "confirmedCount": 1}),
    ] {
        let error = error_of(start(&app.api(), body).await, 400).await;
        assert_eq!(error["target"], "allDevices");
    }
    for (body, target) in [
        (
            json!({"action": "wipe", "allDevices": true, "confirmedCount": 1}),
            Value::Null,
        ),
        (
            json!({"action": "appEvaluation", "filter": "password eq 'x'", "confirmedCount": 1}),
            json!("$filter"),
        ),
        (
            json!({"action": "appEvaluation", "allDevices": true, "confirmedCount": 0}),
            json!("confirmedCount"),
        ),
    ] {
        let error = error_of(start(&app.api(), body.clone()).await, 400).await;
        if !target.is_null() {
            assert_eq!(error["target"], target, "{body}");
        }
    }
    // A reader may not start one.
    let reader = app.api_as("reader@tests.example").await;
    error_of(
        start(
            &reader,
            json!({"action": "appEvaluation", "allDevices": true, "confirmedCount": all}),
        )
        .await,
        403,
    )
    .await;
    assert_eq!(app.rows("bulk_actions").await, 0);
    assert_eq!(app.rows("device_actions").await, 0);

    let response = start(
        &app.api(),
        json!({"action": "appEvaluation", "allDevices": true, "confirmedCount": all}),
    )
    .await;
    assert_eq!(response.status(), 202);
    let job: BulkAction = response.json().await.unwrap();
    assert_eq!(job.matched_count, all);
    assert_eq!(job.counts.pending, all);
    // One at a time per user; another user is not held back.
    let error = error_of(
        start(
            &app.api(),
            json!({"action": "refreshUserPolicy", "allDevices": true, "confirmedCount": all}),
        )
        .await,
        409,
    )
    .await;
    assert!(error["message"].as_str().unwrap().contains("still running"));
    let helpdesk = app.api_as("helpdesk@tests.example").await;
    let theirs: BulkAction = start(
        &helpdesk,
        json!({"action": "appEvaluation", "filter": "managedBy eq 'configMgr'", "confirmedCount": 1}),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(
        theirs.already_open_count, theirs.matched_count,
        "the same action already open on each device is not asked again"
    );
    assert_eq!(
        theirs.counts,
        admin_api::bulk::BulkCounts::default(),
        "{theirs:?}"
    );

    // Only who started it cancels it.
    let cancel = |api: &Api, id: &str| {
        api.client
            .post(format!("{}/api/v1/bulkActions/{id}/cancel", api.url))
            .send()
    };
    error_of(cancel(&helpdesk, &job.id).await.unwrap(), 403).await;
    error_of(cancel(&reader, &job.id).await.unwrap(), 403).await;
    error_of(cancel(&app.api(), "no-such-job").await.unwrap(), 404).await;
    let response = cancel(&app.api(), &job.id).await.unwrap();
    assert_eq!(response.status(), 200);
    let canceled: BulkAction = response.json().await.unwrap();
    assert_eq!(canceled.state, BulkActionState::Canceled);
    assert_eq!(canceled.counts.canceled, all);
    assert_eq!(canceled.counts.pending, 0);
    let id = job.id.clone();
    events
        .wait_for("bulkAction", |data| {
            data["id"] == id.as_str() && data["state"] == "canceled"
        })
        .await;
    error_of(cancel(&app.api(), &job.id).await.unwrap(), 409).await;
    assert_eq!(audit_count(&app, "activity eq 'cancelBulkAction'").await, 1);
    assert_eq!(
        audit_count(
            &app,
            "activity eq 'configurationManagerActionResult' and activityResult eq 'failure'"
        )
        .await,
        all,
        "each canceled device's end is audited"
    );
    // Then a new one may start; the site, once it serves, takes them a page at a time.
    let response = start(
        &app.api(),
        json!({"action": "refreshUserPolicy", "allDevices": true, "confirmedCount": all}),
    )
    .await;
    assert_eq!(response.status(), 202);
    drop(site);
    app.shut_down().await;
}

#[tokio::test]
async fn a_filter_matching_more_than_the_bound_is_refused_and_changes_nothing() {
    let app = spawn_app_with(|config| config.bulk_action_limit = 50).await;
    let _site = app.attach_site(quick_site("HQ", "CHQ", 2207, 74)).await;
    let error = error_of(
        start(
            &app.api(),
            json!({"action": "appEvaluation", "allDevices": true, "confirmedCount": 50}),
        )
        .await,
        400,
    )
    .await;
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .starts_with("60 devices match; a bulk action reaches at most 50"),
        "{error}"
    );
    let error = error_of(
        start(
            &app.api(),
            json!({"action": "appEvaluation", "allDevices": true, "confirmedCount": 60}),
        )
        .await,
        400,
    )
    .await;
    assert_eq!(error["target"], "confirmedCount");
    let error = error_of(
        start(
            &app.api(),
            json!({"action": "appEvaluation", "filter": "deviceName eq 'nothing'", "confirmedCount": 1}),
        )
        .await,
        409,
    )
    .await;
    assert!(error["message"]
        .as_str()
        .unwrap()
        .contains("No device matches"));
    assert_eq!(app.rows("bulk_actions").await, 0);
    assert_eq!(app.rows("device_actions").await, 0);
    app.shut_down().await;
}

/// Thousands of actions end in slices (each slice its own transaction): canceled with their job,
/// or timed out while their site's connector is away; the job then ends with every device counted.
#[tokio::test]
async fn thousands_of_actions_end_in_slices_canceled_or_timed_out() {
    let app = spawn_app_with(|config| config.action_timeout = Duration::from_secs(2)).await;
    let mut config = quick_site("HQ", "CHQ", 2207, 75);
    config.devices = 2_500;
    let _site = app.attach_site(config).await;
    let mut events = EventStream::open(&app).await;
    let all = count(&app, "deviceName ne ''").await;
    assert_eq!(all, 2_500);

    let job: BulkAction = start(
        &app.api(),
        json!({"action": "refreshMachinePolicy", "allDevices": true, "confirmedCount": all}),
    )
    .await
    .json()
    .await
    .unwrap();
    let canceled: BulkAction = app
        .client
        .post(format!("{}/api/v1/bulkActions/{}/cancel", app.url, job.id))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(canceled.counts.canceled, all);
    assert_eq!(
        audit_count(
            &app,
            "activity eq 'configurationManagerActionResult' and activityResult eq 'failure'"
        )
        .await,
        all
    );

    // The site's connector never comes for them: each times out, and the job ends.
    let job: BulkAction = start(
        &app.api(),
        json!({"action": "appEvaluation", "allDevices": true, "confirmedCount": all}),
    )
    .await
    .json()
    .await
    .unwrap();
    let id = job.id.clone();
    let ended = events
        .wait_for("bulkAction", |data| {
            data["id"] == id.as_str() && data["state"] == "completed"
        })
        .await;
    let ended: BulkAction = serde_json::from_value(ended).unwrap();
    assert_eq!(ended.counts.timed_out, all, "{ended:?}");
    app.shut_down().await;
}
