//! The audit log: each audited activity leaves exactly one event with the right actor and result,
//! in the same transaction as the change; `GET /api/v1/auditEvents` filters and pages; nothing
//! can change or delete an event.

use admin_server::store::db;
use std::time::Duration;

use admin_api::identity::{HELP_DESK_OPERATOR, INTUNE_ADMINISTRATOR};
use admin_api::{AuditEvent, Collection};
use serde_json::json;
use site_connector::hierarchy::ClientState;
use site_connector::Outcome;
use tokio_util::sync::CancellationToken;

use crate::events::EventStream;
use crate::protocol::{
    connector_id, device_in_state, has_ended, is_action, quick_site, trigger, triggered,
};
use crate::{error_of, spawn_app, spawn_app_with, TestApp, ADMIN};

async fn audit(app: &TestApp, filter: &str) -> Vec<AuditEvent> {
    let response = app
        .client
        .get(format!("{}/api/v1/auditEvents", app.url))
        .query(&[("$filter", filter), ("$top", "1000")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{filter}");
    response
        .json::<Collection<AuditEvent>>()
        .await
        .unwrap()
        .value
}

/// The one event of `activity` (with the extra condition), checked for actor and result.
async fn the_one(
    app: &TestApp,
    activity: &str,
    and: &str,
    actor: &str,
    result: &str,
) -> AuditEvent {
    let filter = if and.is_empty() {
        format!("activity eq '{activity}'")
    } else {
        format!("activity eq '{activity}' and {and}")
    };
    let events = audit(app, &filter).await;
    assert_eq!(events.len(), 1, "{filter}: {events:#?}");
    let event = events.into_iter().next().unwrap();
    assert_eq!(event.actor, actor, "{filter}");
    assert_eq!(event.activity_result.as_str(), result, "{filter}");
    event
}

#[tokio::test]
async fn sign_ins_sign_outs_and_role_changes_are_recorded_once() {
    let app = spawn_app().await;
    let ok = the_one(
        &app,
        "signIn",
        &format!("actor eq '{ADMIN}'"),
        ADMIN,
        "success",
    )
    .await;
    assert!(ok.request_id.is_some());
    let wrong = reqwest::Client::new()
        .post(format!("{}/api/v1/session", app.url))
        .header(admin_api::identity::CSRF_HEADER, "1")
        .json(&json!({"userName": "mallory@tests.example", "password": "guess"}))
        .send()
        .await
        .unwrap();
    let request_id = wrong.headers()["request-id"].to_str().unwrap().to_owned();
    assert_eq!(wrong.status(), 401);
    let failed = the_one(
        &app,
        "signIn",
        "activityResult eq 'failure'",
        "mallory@tests.example",
        "failure",
    )
    .await;
    assert_eq!(failed.request_id.as_deref(), Some(request_id.as_str()));

    let user = app.add_user("hd@tests.example", &[]).await;
    app.client
        .put(format!("{}/api/v1/users/{}/roles", app.url, user.id))
        .json(&json!({"roles": [HELP_DESK_OPERATOR]}))
        .send()
        .await
        .unwrap();
    let change = the_one(&app, "updateUserRoles", "", ADMIN, "success").await;
    assert_eq!(change.resource_id.as_deref(), Some(user.id.as_str()));
    assert!(change.details.unwrap().contains(HELP_DESK_OPERATOR));
    let role: serde_json::Value = app
        .client
        .post(format!("{}/api/v1/roleDefinitions", app.url))
        .json(&json!({"displayName": "Auditors", "permissions": ["auditData.read"]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    the_one(&app, "createRoleDefinition", "", ADMIN, "success").await;
    app.client
        .delete(format!(
            "{}/api/v1/roleDefinitions/{}",
            app.url,
            role["id"].as_str().unwrap()
        ))
        .send()
        .await
        .unwrap();
    the_one(&app, "deleteRoleDefinition", "", ADMIN, "success").await;

    let client = app.signed_in("hd@tests.example").await;
    client
        .delete(format!("{}/api/v1/session", app.url))
        .send()
        .await
        .unwrap();
    the_one(&app, "signOut", "", "hd@tests.example", "success").await;
    app.shut_down().await;
}

#[tokio::test]
async fn each_action_request_and_result_is_recorded_against_its_device() {
    // Long enough that the answered actions end as their clients said even on a loaded machine
    // (at 1 s the online one once timed out first on PostgreSQL under the whole suite).
    let app = spawn_app_with(|c| c.action_timeout = Duration::from_secs(5)).await;
    app.add_user("hd@tests.example", &[HELP_DESK_OPERATOR])
        .await;
    let helpdesk = app.api_as("hd@tests.example").await;
    let site = app.attach_site(quick_site("HQ", "CHQ", 2207, 51)).await;
    let connector = connector_id(&site);
    let online = device_in_state(&site, ClientState::Online).await;
    let failing = device_in_state(&site, ClientState::OfflineFails).await;
    let silent = device_in_state(&site, ClientState::OfflineSilent).await;
    let stop = CancellationToken::new();
    let serving = tokio::spawn(site.serve(stop.clone()));
    let mut events = EventStream::open(&app).await;

    let done = triggered(&helpdesk, &online, "refreshMachinePolicy").await;
    let failed = triggered(&helpdesk, &failing, "refreshUserPolicy").await;
    let timed_out = triggered(&helpdesk, &silent, "appEvaluation").await;
    // The same request while that one is open returns it and records nothing new.
    let again: admin_api::DeviceAction = trigger(&helpdesk, &silent, "appEvaluation", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(again.id, timed_out.id);
    for (action, expected) in [
        (&done, "done"),
        (&failed, "failed"),
        (&timed_out, "timedOut"),
    ] {
        let ended = events.wait_for("deviceAction", has_ended(&action.id)).await;
        assert_eq!(ended["actionState"], expected, "{ended}");
    }
    for (device, action) in [(&online, &done), (&failing, &failed), (&silent, &timed_out)] {
        let requested = the_one(
            &app,
            "requestConfigurationManagerAction",
            &format!("resourceId eq '{device}'"),
            "hd@tests.example",
            "success",
        )
        .await;
        assert_eq!(requested.resource_type, "device");
        assert!(requested.details.unwrap().contains(&action.id));
    }
    let result = |device: &str| format!("resourceId eq '{device}'");
    let ok = the_one(
        &app,
        "configurationManagerActionResult",
        &result(&online),
        &connector,
        "success",
    )
    .await;
    assert!(ok.details.unwrap().contains("done"));
    let bad = the_one(
        &app,
        "configurationManagerActionResult",
        &result(&failing),
        &connector,
        "failure",
    )
    .await;
    assert!(bad.details.unwrap().contains("0x800706BA"));
    let late = the_one(
        &app,
        "configurationManagerActionResult",
        &result(&silent),
        "system",
        "failure",
    )
    .await;
    assert_eq!(late.actor_type.as_str(), "system");
    assert!(
        late.request_id.is_none(),
        "the server's own work has no request"
    );
    stop.cancel();
    assert_eq!(serving.await.unwrap(), Outcome::Stopped);
    app.shut_down().await;
}

#[tokio::test]
async fn tokens_onboarding_and_offboarding_are_recorded_once_and_refusals_change_nothing() {
    let app = spawn_app().await;
    let site = app.attach_site(quick_site("HQ", "CHQ", 2207, 52)).await;
    let connector = connector_id(&site);
    the_one(&app, "createOnboardingToken", "", ADMIN, "success").await;
    the_one(&app, "onboardConnector", "", &connector, "success").await;
    let silent = device_in_state(&site, ClientState::OfflineSilent).await;
    let open = triggered(&app.api(), &silent, "appEvaluation").await;

    let stop = CancellationToken::new();
    let serving = tokio::spawn(site.serve(stop.clone()));
    let mut events = EventStream::open(&app).await;
    events
        .wait_for("deviceAction", is_action(&open.id, "active"))
        .await;
    let delete = || {
        app.client
            .delete(format!("{}/api/v1/connectors/{connector}", app.url))
            .send()
    };
    assert_eq!(delete().await.unwrap().status(), 202);
    assert_eq!(serving.await.unwrap(), Outcome::Offboarded);
    events
        .wait_for("connector", |c| {
            c["id"] == connector.as_str() && c["connector"].is_null()
        })
        .await;
    let requested = the_one(&app, "deleteConnector", "", ADMIN, "success").await;
    assert_eq!(requested.resource_name.as_deref(), Some("HQ"));
    let completed = the_one(&app, "completeOffboarding", "", &connector, "success").await;
    assert!(completed
        .details
        .unwrap()
        .contains("1 open action(s) canceled"));
    let canceled = the_one(
        &app,
        "configurationManagerActionResult",
        &format!("resourceId eq '{silent}'"),
        &connector,
        "failure",
    )
    .await;
    assert!(canceled.details.unwrap().contains("canceled"));
    // Deleting again (now gone) and an action on a vanished device record nothing.
    assert_eq!(delete().await.unwrap().status(), 404);
    assert_eq!(
        trigger(&app.api(), &silent, "appEvaluation", None)
            .await
            .status(),
        404
    );
    assert_eq!(audit(&app, "activity eq 'deleteConnector'").await.len(), 1);
    assert_eq!(
        audit(&app, "activity eq 'requestConfigurationManagerAction'")
            .await
            .len(),
        1
    );
    stop.cancel();
    app.shut_down().await;
}

#[tokio::test]
async fn the_log_filters_by_actor_activity_resource_and_time_and_pages() {
    let app = spawn_app().await;
    app.add_user("second@tests.example", &[INTUNE_ADMINISTRATOR])
        .await;
    let second = app.signed_in("second@tests.example").await;
    for _ in 0..3 {
        second
            .post(format!("{}/api/v1/connectors/onboardingTokens", app.url))
            .send()
            .await
            .unwrap();
    }
    let mine = audit(&app, "actor eq 'second@tests.example'").await;
    let activities: Vec<&str> = mine.iter().map(|e| e.activity.as_str()).collect();
    assert_eq!(
        activities,
        [
            "createOnboardingToken",
            "createOnboardingToken",
            "createOnboardingToken",
            "signIn"
        ],
        "newest first"
    );
    let now = mine[0].activity_date_time.clone();
    assert_eq!(
        audit(&app, &format!("activityDateTime gt {now}"))
            .await
            .len(),
        0
    );
    assert!(audit(
        &app,
        &format!("activityDateTime le {now} and activity in ('signIn', 'createUser')")
    )
    .await
    .iter()
    .all(|e| matches!(e.activity.as_str(), "signIn" | "createUser")));
    assert_eq!(
        audit(&app, "resourceType eq 'onboardingToken'").await.len(),
        3
    );
    assert_eq!(audit(&app, "startswith(actor, 'second')").await.len(), 4);

    // Paging: one event a page, following nextLink, with the count.
    let mut next = Some(
        "/api/v1/auditEvents?$top=1&$count=true&$filter=actor eq 'second@tests.example'".to_owned(),
    );
    let mut seen = Vec::new();
    while let Some(link) = next {
        let page: Collection<AuditEvent> = app.get(&link).await.json().await.unwrap();
        assert_eq!(page.count, Some(4));
        seen.extend(page.value.into_iter().map(|e| e.id));
        next = page.next_link;
    }
    assert_eq!(seen, mine.iter().map(|e| e.id.clone()).collect::<Vec<_>>());

    for (query, target) in [
        ("$filter=actor eq 'x' and", "$filter"),
        ("$filter=password eq 'x'", "$filter"),
        ("$filter=activity eq 'wipeDevice'", "$filter"),
        ("$filter=activityDateTime ge 'yesterday'", "$filter"),
        ("$orderby=actor", "$orderby"),
        ("$top=0", "$top"),
    ] {
        let error = error_of(app.get(&format!("/api/v1/auditEvents?{query}")).await, 400).await;
        assert_eq!(error["target"], target, "{query}");
    }
    app.shut_down().await;
}

#[tokio::test]
async fn the_store_refuses_to_change_or_delete_an_event() {
    let app = spawn_app().await;
    let pool = app.store().writer();
    let before: i64 = db::query_scalar("SELECT COUNT(*) FROM audit_events")
        .fetch_one(pool)
        .await
        .unwrap();
    assert!(before > 0);
    let update = db::query("UPDATE audit_events SET actor = 'someone else'")
        .execute(pool)
        .await
        .unwrap_err();
    assert!(update.to_string().contains("append-only"), "{update}");
    let delete = db::query("DELETE FROM audit_events")
        .execute(pool)
        .await
        .unwrap_err();
    assert!(delete.to_string().contains("append-only"), "{delete}");
    let after: i64 =
        db::query_scalar("SELECT COUNT(*) FROM audit_events WHERE actor <> 'someone else'")
            .fetch_one(pool)
            .await
            .unwrap();
    assert_eq!(after, before);
    app.shut_down().await;
}
