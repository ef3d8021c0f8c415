//! The audit log as auditors use it (issue 37): each event says where its request came from (the
//! client's address, behind a reverse proxy only when the proxy is named, and its user agent);
//! the log exports as CSV with its filters; events past the retention are removed, in slices, with
//! the removal recorded, and nothing else can remove one.

use admin_api::{AuditEvent, Collection};
use admin_server::store::audit::{Actor, AuditEntry};
use admin_server::store::db;
use serde_json::json;

use crate::{decoded, error_of, spawn_app, spawn_app_with, TestApp};

const PASSWORD: &str = admin_server::testing::PASSWORD;

async fn audit(app: &TestApp, filter: &str) -> Collection<AuditEvent> {
    let response = app
        .client
        .get(format!("{}/api/v1/auditEvents", app.url))
        .query(&[("$filter", filter), ("$top", "1000"), ("$count", "true")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{filter}");
    response.json().await.unwrap()
}

/// Signs `user` in over HTTP with these extra headers; the request id of the sign-in.
async fn sign_in(app: &TestApp, user: &str, headers: &[(&str, &str)]) -> String {
    let mut request = reqwest::Client::new()
        .post(format!("{}/api/v1/session", app.url))
        .header(admin_api::identity::CSRF_HEADER, "1")
        .json(&json!({"userName": user, "password": PASSWORD}));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), 200);
    response.headers()["request-id"]
        .to_str()
        .unwrap()
        .to_owned()
}

/// The one event of the request `request_id`.
async fn event_of(app: &TestApp, request_id: &str) -> AuditEvent {
    let events = audit(app, &format!("requestId eq '{request_id}'"))
        .await
        .value;
    assert_eq!(events.len(), 1, "{events:#?}");
    events.into_iter().next().unwrap()
}

#[tokio::test]
async fn each_event_records_its_requests_address_and_user_agent() {
    let app = spawn_app().await;
    app.add_user("hd@tests.example", &[]).await;
    // No proxy is trusted: a client's own X-Forwarded-For is not believed.
    let id = sign_in(
        &app,
        "hd@tests.example",
        &[
            ("user-agent", "Mozilla/5.0 (auditor) =cmd|' /C calc'!A0"),
            ("x-forwarded-for", "203.0.113.9"),
        ],
    )
    .await;
    let event = event_of(&app, &id).await;
    assert_eq!(event.source_address.as_deref(), Some("127.0.0.1"));
    assert_eq!(
        event.user_agent.as_deref(),
        Some("Mozilla/5.0 (auditor) =cmd|' /C calc'!A0")
    );
    // A long user agent is kept to 512 characters; none is none.
    let long = "A".repeat(3000);
    let id = sign_in(&app, "hd@tests.example", &[("user-agent", &long)]).await;
    assert_eq!(event_of(&app, &id).await.user_agent.unwrap().len(), 512);
    let id = sign_in(&app, "hd@tests.example", &[]).await;
    assert_eq!(event_of(&app, &id).await.user_agent, None);
    // The filter names the address.
    let from_here = audit(&app, "sourceAddress eq '127.0.0.1'").await;
    assert!(from_here.count.unwrap() >= 3);
    assert_eq!(
        audit(&app, "sourceAddress eq '203.0.113.9'").await.count,
        Some(0)
    );
    // The server's own work has no address.
    let created = audit(&app, "activity eq 'createUser'").await.value;
    assert!(created.iter().all(|e| e.source_address.is_none()));
    app.shut_down().await;
}

#[tokio::test]
async fn a_named_proxy_is_believed_and_only_for_the_hops_it_vouches_for() {
    let app = spawn_app_with(|config| {
        config.trusted_proxy = vec!["127.0.0.1".parse().unwrap(), "10.0.0.0/8".parse().unwrap()];
    })
    .await;
    app.add_user("hd@tests.example", &[]).await;
    for (forwarded, client) in [
        // The proxy appended the client it was reached from.
        ("198.51.100.7", "198.51.100.7"),
        // A client wrote its own header first: the proxy's hop is the one believed.
        ("192.0.2.66, 198.51.100.7", "198.51.100.7"),
        // Behind two proxies, both trusted: the first address no trusted proxy vouches for.
        ("198.51.100.7, 10.1.2.3", "198.51.100.7"),
        ("2001:db8::7", "2001:db8::7"),
        // What does not parse is not believed.
        ("198.51.100.7, not-an-address", "127.0.0.1"),
        ("", "127.0.0.1"),
    ] {
        let id = sign_in(&app, "hd@tests.example", &[("x-forwarded-for", forwarded)]).await;
        assert_eq!(
            event_of(&app, &id).await.source_address.as_deref(),
            Some(client),
            "X-Forwarded-For: {forwarded}"
        );
    }
    // Two headers are one list, in order.
    let response = reqwest::Client::new()
        .post(format!("{}/api/v1/session", app.url))
        .header(admin_api::identity::CSRF_HEADER, "1")
        .header("x-forwarded-for", "192.0.2.66")
        .header("x-forwarded-for", "198.51.100.8")
        .json(&json!({"userName": "hd@tests.example", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    let id = response.headers()["request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        event_of(&app, &id).await.source_address.as_deref(),
        Some("198.51.100.8")
    );
    app.shut_down().await;
}

/// The export's body with `Accept-Encoding: gzip`, as a browser downloads it, read as CSV records.
async fn export(app: &TestApp, filter: Option<&str>) -> Vec<Vec<String>> {
    let mut request = app
        .client
        .get(format!("{}/api/v1/auditEvents/export", app.url))
        .header("accept-encoding", "gzip");
    if let Some(filter) = filter {
        request = request.query(&[("$filter", filter)]);
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "text/csv; charset=utf-8"
    );
    assert_eq!(
        response.headers()["content-disposition"],
        "attachment; filename=\"audit-log.csv\""
    );
    assert_eq!(response.headers()["content-encoding"], "gzip");
    let text = decoded("gzip", &response.bytes().await.unwrap());
    csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(text.as_bytes())
        .records()
        .map(|record| record.unwrap().iter().map(str::to_owned).collect())
        .collect()
}

#[tokio::test]
async fn the_log_exports_as_csv_with_its_filters_and_hostile_text_stays_text() {
    let app = spawn_app().await;
    // Hostile text a client controls: the account name of a failed sign-in, and a user agent.
    let hostile = "=HYPERLINK(\"http://evil.example\",\"x\")";
    let refused = reqwest::Client::new()
        .post(format!("{}/api/v1/session", app.url))
        .header(admin_api::identity::CSRF_HEADER, "1")
        .header("user-agent", "@SUM(1+1)*cmd|' /C calc'!A0")
        .json(&json!({"userName": hostile, "password": "wrong, \"quoted\"\nline"}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    // Enough events for several of the export's pages (1,000 each).
    let now = time::OffsetDateTime::now_utc();
    let actor = Actor::user("bulk@tests.example");
    for n in 0..2_345 {
        let entry =
            AuditEntry::new(admin_api::AuditActivity::SignOut, &actor).details(format!("bulk {n}"));
        app.store().append_audit(&entry, now).await.unwrap();
    }

    let all = export(&app, None).await;
    assert_eq!(
        all[0],
        [
            "activityDateTime",
            "activity",
            "activityResult",
            "actorType",
            "actor",
            "resourceType",
            "resourceId",
            "resourceName",
            "details",
            "requestId",
            "sourceAddress",
            "userAgent"
        ]
    );
    let listed = audit(&app, "activityDateTime ge 2000-01-01T00:00:00Z").await;
    assert_eq!(all.len() as u64 - 1, listed.count.unwrap());
    assert!(all.iter().skip(1).all(|row| row.len() == 12));
    // Newest first, as the list: the list's first page is the export's first rows.
    let first_ids: Vec<_> = listed.value.iter().map(|e| e.details.clone()).collect();
    let exported: Vec<_> = all[1..=first_ids.len()]
        .iter()
        .map(|row| Some(row[8].clone()).filter(|d| !d.is_empty()))
        .collect();
    assert_eq!(first_ids, exported);

    let failures = export(&app, Some("activityResult eq 'failure'")).await;
    assert_eq!(failures.len(), 2, "{failures:?}");
    let row = &failures[1];
    assert_eq!(row[1], "signIn");
    assert_eq!(row[4], format!("'{hostile}"), "a formula is neutralized");
    assert_eq!(row[10], "127.0.0.1");
    assert_eq!(row[11], "'@SUM(1+1)*cmd|' /C calc'!A0");
    let bulk = export(&app, Some("actor eq 'bulk@tests.example'")).await;
    assert_eq!(bulk.len(), 2_346);
    assert_eq!(bulk[1][8], "bulk 2344");
    assert_eq!(bulk[2_345][8], "bulk 0");

    // A bad filter is refused in the error body before any CSV, and a reader may not export.
    let error = error_of(
        app.get("/api/v1/auditEvents/export?$filter=password eq 'x'")
            .await,
        400,
    )
    .await;
    assert_eq!(error["target"], "$filter");
    let error = error_of(app.get("/api/v1/auditEvents/export?$top=5").await, 400).await;
    assert_eq!(error["target"], "$top");
    app.add_user("nobody@tests.example", &[]).await;
    let nobody = app.signed_in("nobody@tests.example").await;
    let response = nobody
        .get(format!("{}/api/v1/auditEvents/export", app.url))
        .send()
        .await
        .unwrap();
    error_of(response, 403).await;
    app.shut_down().await;
}

/// Appends a sign-out by `user` at `at`.
async fn event_at(app: &TestApp, user: &str, at: time::OffsetDateTime) {
    let actor = Actor::user(user);
    app.store()
        .append_audit(
            &AuditEntry::new(admin_api::AuditActivity::SignOut, &actor),
            at,
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn retention_removes_exactly_what_is_older_in_recorded_slices() {
    let app = spawn_app_with(|config| {
        config.audit_retention = std::time::Duration::from_secs(30 * 24 * 3600);
    })
    .await;
    let now = time::OffsetDateTime::now_utc();
    let day = time::Duration::days(1);
    for n in 0..5 {
        event_at(&app, "old@tests.example", now - day * (40 + n)).await;
    }
    event_at(
        &app,
        "edge@tests.example",
        now - day * 30 - time::Duration::minutes(5),
    )
    .await;
    event_at(
        &app,
        "kept@tests.example",
        now - day * 30 + time::Duration::minutes(5),
    )
    .await;
    event_at(&app, "kept@tests.example", now - day * 2).await;
    let before = audit(&app, "activityDateTime ge 2000-01-01T00:00:00Z")
        .await
        .count
        .unwrap();

    let removed = admin_server::sweeper::remove_old_audit_events_in_slices(app.state(), 4)
        .await
        .unwrap();
    assert_eq!(removed, 6);
    let old = audit(
        &app,
        "actor eq 'old@tests.example' or actor eq 'edge@tests.example'",
    )
    .await;
    assert_eq!(old.count, Some(0), "{:#?}", old.value);
    assert_eq!(
        audit(&app, "actor eq 'kept@tests.example'").await.count,
        Some(2)
    );
    // Two slices (4, then 2), each recorded by the server with how many and up to when.
    let records = audit(&app, "activity eq 'removeAuditEvents'").await.value;
    assert_eq!(records.len(), 2, "{records:#?}");
    for record in &records {
        assert_eq!(record.actor_type.as_str(), "system");
        assert_eq!(record.resource_type, "auditLog");
        assert_eq!(record.source_address, None);
    }
    assert!(records[0]
        .details
        .as_deref()
        .unwrap()
        .starts_with("Removed 2 audit events older than the retention of 30days"));
    assert!(records[1]
        .details
        .as_deref()
        .unwrap()
        .starts_with("Removed 4 audit events"));
    let after = audit(&app, "activityDateTime ge 2000-01-01T00:00:00Z")
        .await
        .count
        .unwrap();
    assert_eq!(after, before - 6 + 2);

    // Nothing is left to remove, and nothing more is recorded.
    assert_eq!(
        admin_server::sweeper::remove_old_audit_events(app.state())
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        audit(&app, "activity eq 'removeAuditEvents'")
            .await
            .value
            .len(),
        2
    );
    // The log is still append-only: not even an old event goes outside the retention's work.
    event_at(&app, "old@tests.example", now - day * 400).await;
    let pool = app.store().writer();
    let refused = db::query("DELETE FROM audit_events WHERE actor = 'old@tests.example'")
        .execute(pool)
        .await
        .unwrap_err();
    assert!(refused.to_string().contains("append-only"), "{refused}");
    let refused =
        db::query("UPDATE audit_events SET actor = 'x' WHERE actor = 'old@tests.example'")
            .execute(pool)
            .await
            .unwrap_err();
    assert!(refused.to_string().contains("append-only"), "{refused}");
    assert_eq!(app.rows("audit_retention_cutoff").await, 0);
    app.shut_down().await;
}
