//! Saved views of All devices (issue 37): saved, shared, opened by another user, changed by their
//! owner for everyone, deleted; checked like the query they make; bounded per user; a view that
//! names what the server no longer takes opens without it and says so.

use admin_api::identity::READ_ONLY_OPERATOR;
use admin_api::views::MAX_VIEWS_PER_USER;
use admin_api::{AuditEvent, Collection, Device, DeviceView};
use admin_server::store::db;
use serde_json::{json, Value};

use crate::{error_of, spawn_app, Api, TestApp};

const READER: &str = "reader@tests.example";

async fn views(api: &Api) -> Vec<DeviceView> {
    let response = api
        .client
        .get(format!("{}/api/v1/deviceViews", api.url))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response
        .json::<Collection<DeviceView>>()
        .await
        .unwrap()
        .value
}

async fn send(api: &Api, method: &str, path: &str, body: Option<Value>) -> reqwest::Response {
    let mut request = api
        .client
        .request(method.parse().unwrap(), format!("{}{path}", api.url));
    if let Some(body) = body {
        request = request.json(&body);
    }
    request.send().await.unwrap()
}

async fn audit(app: &TestApp, activity: &str) -> Vec<AuditEvent> {
    let page: Collection<AuditEvent> = app
        .get(&format!(
            "/api/v1/auditEvents?$filter=activity%20eq%20'{activity}'&$top=100"
        ))
        .await
        .json()
        .await
        .unwrap();
    page.value
}

/// The devices a view's query shows, counted through the list as All devices asks for them.
async fn count_of(app: &TestApp, view: &DeviceView) -> u64 {
    let mut conditions: Vec<String> = view
        .query
        .filters
        .iter()
        .map(|f| {
            let values: Vec<String> = f.values.iter().map(|v| format!("'{v}'")).collect();
            format!("{} in ({})", f.field, values.join(", "))
        })
        .collect();
    if conditions.is_empty() {
        conditions.push("deviceName ne ''".into());
    }
    let response = app
        .client
        .get(format!("{}/api/v1/devices", app.url))
        .query(&[
            ("$filter", conditions.join(" and ")),
            ("$count", "true".into()),
            ("$top", "1".into()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response
        .json::<Collection<Device>>()
        .await
        .unwrap()
        .count
        .unwrap()
}

#[tokio::test]
async fn a_view_is_saved_shared_opened_by_another_changed_for_everyone_and_deleted() {
    let app = spawn_app().await;
    app.attach_site(crate::protocol::quick_site("HQ", "CHQ", 2207, 41))
        .await;
    app.add_user(READER, &[READ_ONLY_OPERATOR]).await;
    let admin = app.api();
    let reader = app.api_as(READER).await;
    let query = json!({
        "search": "CHQ-LT, CHQ-DT",
        "filters": [
            {"field": "managedBy", "values": ["configMgr", "coManaged"]},
            {"field": "hierarchyName", "values": ["HQ"]}
        ],
        "lastSyncWithinDays": 7,
        "columns": ["deviceName", "serialNumber", "hierarchyName"],
        "orderBy": {"field": "lastSyncDateTime", "descending": true},
        "pageSize": 100
    });
    let response = send(
        &admin,
        "POST",
        "/api/v1/deviceViews",
        Some(json!({"name": "  Laptops at HQ ", "query": query})),
    )
    .await;
    assert_eq!(response.status(), 201);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let saved: DeviceView = response.json().await.unwrap();
    assert_eq!(location, format!("/api/v1/deviceViews/{}", saved.id));
    assert_eq!(saved.name, "Laptops at HQ");
    assert_eq!(saved.owner, crate::ADMIN);
    assert!(!saved.shared);
    assert_eq!(serde_json::to_value(&saved.query).unwrap(), query);
    assert!(saved.dropped.is_empty());
    assert!(count_of(&app, &saved).await > 0);
    assert!(
        audit(&app, "shareDeviceView").await.is_empty(),
        "a view of one's own is not audited"
    );

    // Another user does not see it until it is shared.
    assert!(views(&reader).await.is_empty());
    error_of(send(&reader, "GET", &location, None).await, 404).await;
    let response = send(&admin, "PATCH", &location, Some(json!({"shared": true}))).await;
    assert_eq!(response.status(), 200);
    let shared = audit(&app, "shareDeviceView").await;
    assert_eq!(shared.len(), 1);
    assert_eq!(shared[0].actor, crate::ADMIN);
    assert_eq!(shared[0].resource_id.as_deref(), Some(saved.id.as_str()));
    assert_eq!(shared[0].resource_type, "deviceView");
    let seen = views(&reader).await;
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].owner, crate::ADMIN);
    assert_eq!(seen[0].query, saved.query);
    let opened: DeviceView = send(&reader, "GET", &location, None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(opened.name, "Laptops at HQ");

    // Only its owner changes or deletes it; the reader may not share one of their own either.
    for (method, body) in [
        ("PATCH", Some(json!({"name": "Mine now"}))),
        ("DELETE", None),
    ] {
        let error = error_of(send(&reader, method, &location, body).await, 403).await;
        assert!(
            error["message"]
                .as_str()
                .unwrap()
                .contains("Only its owner"),
            "{error}"
        );
    }
    let error = error_of(
        send(
            &reader,
            "POST",
            "/api/v1/deviceViews",
            Some(json!({"name": "Everyone's", "shared": true, "query": {}})),
        )
        .await,
        403,
    )
    .await;
    assert!(error["message"]
        .as_str()
        .unwrap()
        .contains("managedDevices.shareViews"));
    // A view of the same name is the reader's own to keep.
    let response = send(
        &reader,
        "POST",
        "/api/v1/deviceViews",
        Some(json!({"name": "Laptops at HQ", "query": {"search": "CHQ"}})),
    )
    .await;
    assert_eq!(response.status(), 201);
    assert_eq!(views(&reader).await.len(), 2);

    // Overwritten by its owner, it changes for everyone.
    let overwrite = json!({"filters": [{"field": "managedBy", "values": ["intune"]}]});
    let response = send(
        &admin,
        "PATCH",
        &location,
        Some(json!({"name": "Intune at HQ", "query": overwrite})),
    )
    .await;
    assert_eq!(response.status(), 200);
    let opened: DeviceView = send(&reader, "GET", &location, None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(opened.name, "Intune at HQ");
    assert_eq!(
        serde_json::to_value(&opened.query).unwrap()["filters"],
        overwrite["filters"]
    );
    assert!(opened.last_modified_date_time >= opened.created_date_time);
    let changes = audit(&app, "shareDeviceView").await;
    assert_eq!(changes.len(), 2);
    assert!(changes[0]
        .details
        .as_deref()
        .unwrap()
        .starts_with("Changed while shared with everyone"));
    // A name the owner already uses is refused.
    send(
        &admin,
        "POST",
        "/api/v1/deviceViews",
        Some(json!({"name": "Other", "query": {}})),
    )
    .await;
    let error = error_of(
        send(&admin, "PATCH", &location, Some(json!({"name": "Other"}))).await,
        409,
    )
    .await;
    assert!(error["message"].as_str().unwrap().contains("already"));

    // Deleted, it is gone for everyone, and the deletion is audited.
    let response = send(&admin, "DELETE", &location, None).await;
    assert_eq!(response.status(), 204);
    error_of(send(&reader, "GET", &location, None).await, 404).await;
    error_of(send(&admin, "DELETE", &location, None).await, 404).await;
    let deleted = audit(&app, "deleteDeviceView").await;
    assert_eq!(deleted.len(), 1);
    assert!(deleted[0]
        .details
        .as_deref()
        .unwrap()
        .starts_with("Deleted while shared with everyone"));
    assert_eq!(views(&reader).await.len(), 1);
    app.shut_down().await;
}

#[tokio::test]
async fn a_view_cannot_hold_what_the_list_would_refuse_and_a_refusal_changes_nothing() {
    let app = spawn_app().await;
    let admin = app.api();
    let long = "x".repeat(101);
    let many: Vec<Value> = (0..21)
        .map(|n| json!({"field": "deviceName", "values": [format!("PC-{n}")]}))
        .collect();
    for (body, target) in [
        (json!({"name": "", "query": {}}), "name"),
        (json!({"name": "   ", "query": {}}), "name"),
        (json!({"name": long, "query": {}}), "name"),
        (json!({"name": "tab\tname", "query": {}}), "name"),
        (
            json!({"name": "v", "query": {"filters": [{"field": "password", "values": ["x"]}]}}),
            "query.filters",
        ),
        (
            json!({"name": "v", "query": {"filters": [{"field": "managedBy", "values": ["wipe"]}]}}),
            "query.filters",
        ),
        (
            json!({"name": "v", "query": {"filters": [{"field": "managedBy", "values": []}]}}),
            "query.filters",
        ),
        (
            json!({"name": "v", "query": {"filters": [
                {"field": "managedBy", "values": ["intune"]},
                {"field": "managedBy", "values": ["configMgr"]}
            ]}}),
            "query.filters",
        ),
        (
            json!({"name": "v", "query": {"filters": many}}),
            "query.filters",
        ),
        (
            json!({"name": "v", "query": {"columns": ["deviceName", "secret"]}}),
            "query.columns",
        ),
        (
            json!({"name": "v", "query": {"orderBy": {"field": "collections"}}}),
            "query.orderBy",
        ),
        (
            json!({"name": "v", "query": {"pageSize": 0}}),
            "query.pageSize",
        ),
        (
            json!({"name": "v", "query": {"pageSize": 1001}}),
            "query.pageSize",
        ),
        (
            json!({"name": "v", "query": {"lastSyncWithinDays": 0}}),
            "query.lastSyncWithinDays",
        ),
        (
            json!({"name": "v", "query": {"search": "x".repeat(300)}}),
            "query.search",
        ),
    ] {
        let error = error_of(
            send(&admin, "POST", "/api/v1/deviceViews", Some(body.clone())).await,
            400,
        )
        .await;
        assert_eq!(error["target"], target, "{body}");
    }
    let error = error_of(
        admin
            .client
            .post(format!("{}/api/v1/deviceViews", app.url))
            .header("content-type", "application/json")
            .body("{\"name\": \"v\", \"query\": ")
            .send()
            .await
            .unwrap(),
        400,
    )
    .await;
    assert!(error["message"].is_string());
    assert!(views(&admin).await.is_empty());
    assert_eq!(app.rows("device_views").await, 0);

    // A change refused leaves the view as it was.
    let saved: DeviceView = send(
        &admin,
        "POST",
        "/api/v1/deviceViews",
        Some(json!({"name": "Kept", "query": {"search": "PC"}})),
    )
    .await
    .json()
    .await
    .unwrap();
    let path = format!("/api/v1/deviceViews/{}", saved.id);
    error_of(
        send(
            &admin,
            "PATCH",
            &path,
            Some(json!({"name": "Changed", "query": {"pageSize": 5000}})),
        )
        .await,
        400,
    )
    .await;
    let kept: DeviceView = send(&admin, "GET", &path, None).await.json().await.unwrap();
    assert_eq!(kept, saved);
    app.shut_down().await;
}

#[tokio::test]
async fn views_are_bounded_per_user() {
    let app = spawn_app().await;
    app.add_user(READER, &[READ_ONLY_OPERATOR]).await;
    let admin = app.api();
    for n in 0..MAX_VIEWS_PER_USER {
        let response = send(
            &admin,
            "POST",
            "/api/v1/deviceViews",
            Some(json!({"name": format!("View {n}"), "query": {}})),
        )
        .await;
        assert_eq!(response.status(), 201);
    }
    let error = error_of(
        send(
            &admin,
            "POST",
            "/api/v1/deviceViews",
            Some(json!({"name": "One too many", "query": {}})),
        )
        .await,
        409,
    )
    .await;
    assert!(error["message"].as_str().unwrap().contains("50"), "{error}");
    assert_eq!(views(&admin).await.len(), MAX_VIEWS_PER_USER);
    // Another user is not held back by it.
    let reader = app.api_as(READER).await;
    let response = send(
        &reader,
        "POST",
        "/api/v1/deviceViews",
        Some(json!({"name": "Mine", "query": {}})),
    )
    .await;
    assert_eq!(response.status(), 201);
    app.shut_down().await;
}

#[tokio::test]
async fn a_view_naming_what_the_server_no_longer_takes_opens_without_it_and_says_so() {
    let app = spawn_app().await;
    let admin = app.api();
    let saved: DeviceView = send(
        &admin,
        "POST",
        "/api/v1/deviceViews",
        Some(json!({"name": "Old", "query": {"search": "PC"}})),
    )
    .await
    .json()
    .await
    .unwrap();
    // As a view saved by an older server would read: fields and a value since retired.
    let stored = json!({
        "search": "PC",
        "filters": [
            {"field": "osBuild", "values": ["22631"]},
            {"field": "managedBy", "values": ["configMgr", "jamf"]}
        ],
        "columns": ["deviceName", "retiredColumn"],
        "orderBy": {"field": "retiredColumn", "descending": false},
        "pageSize": 100
    });
    db::query("UPDATE device_views SET query = ? WHERE id = ?")
        .bind(stored.to_string())
        .bind(&saved.id)
        .execute(app.store().writer())
        .await
        .unwrap();
    let opened: DeviceView = send(
        &admin,
        "GET",
        &format!("/api/v1/deviceViews/{}", saved.id),
        None,
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(
        serde_json::to_value(&opened.query).unwrap(),
        json!({
            "search": "PC",
            "filters": [{"field": "managedBy", "values": ["configMgr"]}],
            "lastSyncWithinDays": null,
            "columns": ["deviceName"],
            "orderBy": null,
            "pageSize": 100
        })
    );
    assert_eq!(opened.dropped.len(), 4, "{:#?}", opened.dropped);
    for named in ["osBuild", "jamf", "retiredColumn"] {
        assert!(
            opened.dropped.iter().any(|d| d.contains(named)),
            "{named}: {:#?}",
            opened.dropped
        );
    }
    // The list says the same.
    assert_eq!(views(&admin).await[0].dropped, opened.dropped);
    app.shut_down().await;
}
