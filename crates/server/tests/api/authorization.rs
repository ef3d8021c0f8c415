//! The authorization matrix: every admin endpoint × every kind of caller → the expected status,
//! from one table. The table must name every operation of the OpenAPI document, so an endpoint
//! added without a row fails here.

use std::collections::BTreeSet;

use admin_api::identity::{HELP_DESK_OPERATOR, INTUNE_ADMINISTRATOR, READ_ONLY_OPERATOR};
use serde_json::{json, Value};

use crate::protocol::{connector_id, quick_site};
use crate::{client_with_cookie, spawn_app, TestApp, PASSWORD};

/// The callers, in the table's column order. "organizer" holds a custom role of
/// organization.read and organization.update only: it manages connectors, not roles.
const CALLERS: [&str; 6] = [
    "anonymous",
    "reader",
    "help desk",
    "admin",
    "connector",
    "organizer",
];

struct Row {
    method: &'static str,
    /// The OpenAPI path template the row covers.
    template: &'static str,
    /// The path requested: the template with `{device}`, `{action}`, `{connector}`, `{user}`,
    /// `{help desk role}`
    /// filled in from the test tenant.
    path: &'static str,
    /// A JSON body; `{caller}` in it becomes the caller's name.
    body: Option<&'static str>,
    expected: [u16; 6],
}

const fn row(
    method: &'static str,
    template: &'static str,
    path: &'static str,
    body: Option<&'static str>,
    expected: [u16; 6],
) -> Row {
    Row {
        method,
        template,
        path,
        body,
        expected,
    }
}

//                                    anonymous reader help-desk admin connector organizer
const DEVICES_READ: [u16; 6] = [401, 200, 200, 200, 401, 403];
const ORGANIZATION_READ: [u16; 6] = [401, 200, 200, 200, 401, 200];
const AUDIT_READ: [u16; 6] = [401, 200, 200, 200, 401, 403];
const ROLES: [u16; 6] = [401, 403, 403, 200, 401, 403];

/// Every admin endpoint. `DELETE /session` comes last: it ends the caller's session.
const TABLE: &[Row] = &[
    row(
        "GET",
        "/api/v1/devices",
        "/api/v1/devices",
        None,
        DEVICES_READ,
    ),
    row(
        "GET",
        "/api/v1/devices/export",
        "/api/v1/devices/export",
        None,
        DEVICES_READ,
    ),
    row(
        "GET",
        "/api/v1/devices/{id}",
        "/api/v1/devices/{device}",
        None,
        DEVICES_READ,
    ),
    row(
        "POST",
        "/api/v1/devices/{id}/triggerConfigurationManagerAction",
        "/api/v1/devices/{device}/triggerConfigurationManagerAction",
        Some(r#"{"configurationManagerAction":{"action":"refreshMachinePolicy"}}"#),
        [401, 403, 202, 202, 401, 403],
    ),
    row(
        "POST",
        "/api/v1/devices/{id}/siteRequests",
        "/api/v1/devices/{device}/siteRequests",
        Some(r#"{"kind":"clientDetails"}"#),
        [401, 202, 202, 202, 401, 403],
    ),
    row(
        "POST",
        "/api/v1/devices/{id}/siteRequests",
        "/api/v1/devices/{device}/siteRequests",
        Some(r#"{"kind":"cmPivot","query":"OS"}"#),
        [401, 403, 202, 202, 401, 403],
    ),
    row(
        "POST",
        "/api/v1/devices/{id}/siteRequests",
        "/api/v1/devices/{device}/siteRequests",
        Some(r#"{"kind":"runScript","scriptId":"A9D04C3B-62F1-47E5-8B1D-E7F35A0C9B44"}"#),
        [401, 403, 403, 202, 401, 403],
    ),
    // A CMPivot request: reading it needs remoteTasks.runCMPivot too.
    row(
        "GET",
        "/api/v1/siteRequests/{id}",
        "/api/v1/siteRequests/{site request}",
        None,
        [401, 403, 200, 200, 401, 403],
    ),
    row(
        "GET",
        "/api/v1/me/cmPivotQueries",
        "/api/v1/me/cmPivotQueries",
        None,
        [401, 403, 200, 200, 401, 403],
    ),
    row(
        "GET",
        "/api/v1/devices/{id}/deviceActions",
        "/api/v1/devices/{device}/deviceActions",
        None,
        DEVICES_READ,
    ),
    row(
        "GET",
        "/api/v1/deviceActions/{id}",
        "/api/v1/deviceActions/{action}",
        None,
        DEVICES_READ,
    ),
    row(
        "GET",
        "/api/v1/connectors",
        "/api/v1/connectors",
        None,
        ORGANIZATION_READ,
    ),
    row(
        "GET",
        "/api/v1/connectors/{id}",
        "/api/v1/connectors/{connector}",
        None,
        ORGANIZATION_READ,
    ),
    // A connector that does not exist: past the permission check it is a 404, so the row
    // offboards nothing the other rows need.
    row(
        "DELETE",
        "/api/v1/connectors/{id}",
        "/api/v1/connectors/no-such-connector",
        None,
        [401, 403, 403, 404, 401, 403],
    ),
    row(
        "POST",
        "/api/v1/connectors/onboardingTokens",
        "/api/v1/connectors/onboardingTokens",
        None,
        [401, 403, 403, 201, 401, 201],
    ),
    row(
        "GET",
        "/api/v1/events",
        "/api/v1/events",
        None,
        [401, 200, 200, 200, 401, 200],
    ),
    row(
        "GET",
        "/api/v1/auditEvents",
        "/api/v1/auditEvents",
        None,
        AUDIT_READ,
    ),
    row(
        "GET",
        "/api/v1/auditEvents/export",
        "/api/v1/auditEvents/export",
        None,
        AUDIT_READ,
    ),
    // A filter that matches nothing: past the permission check it is a 409, so the row queues
    // nothing the other rows see.
    row(
        "POST",
        "/api/v1/devices/bulkActions",
        "/api/v1/devices/bulkActions",
        Some(
            r#"{"action":"appEvaluation","filter":"deviceName eq 'none of {caller}'","confirmedCount":1}"#,
        ),
        [401, 403, 409, 409, 401, 403],
    ),
    row(
        "GET",
        "/api/v1/bulkActions/{id}",
        "/api/v1/bulkActions/no-such-job",
        None,
        [401, 404, 404, 404, 401, 403],
    ),
    row(
        "POST",
        "/api/v1/bulkActions/{id}/cancel",
        "/api/v1/bulkActions/no-such-job/cancel",
        None,
        [401, 403, 404, 404, 401, 403],
    ),
    row(
        "GET",
        "/api/v1/deviceViews",
        "/api/v1/deviceViews",
        None,
        DEVICES_READ,
    ),
    // A view of one's own needs only to read devices; a shared one, managedDevices.shareViews.
    row(
        "POST",
        "/api/v1/deviceViews",
        "/api/v1/deviceViews",
        Some(r#"{"name":"Matrix view of {caller}","query":{"search":"CHQ"}}"#),
        [401, 201, 201, 201, 401, 403],
    ),
    row(
        "POST",
        "/api/v1/deviceViews",
        "/api/v1/deviceViews",
        Some(r#"{"name":"Shared view of {caller}","shared":true,"query":{}}"#),
        [401, 403, 403, 201, 401, 403],
    ),
    row(
        "GET",
        "/api/v1/deviceViews/{id}",
        "/api/v1/deviceViews/no-such-view",
        None,
        [401, 404, 404, 404, 401, 403],
    ),
    row(
        "PATCH",
        "/api/v1/deviceViews/{id}",
        "/api/v1/deviceViews/no-such-view",
        Some(r#"{"name":"Renamed by {caller}"}"#),
        [401, 404, 404, 404, 401, 403],
    ),
    row(
        "PATCH",
        "/api/v1/deviceViews/{id}",
        "/api/v1/deviceViews/no-such-view",
        Some(r#"{"shared":true}"#),
        [401, 403, 403, 404, 401, 403],
    ),
    row(
        "DELETE",
        "/api/v1/deviceViews/{id}",
        "/api/v1/deviceViews/no-such-view",
        None,
        [401, 404, 404, 404, 401, 403],
    ),
    row(
        "GET",
        "/api/v1/roleDefinitions",
        "/api/v1/roleDefinitions",
        None,
        ROLES,
    ),
    row(
        "POST",
        "/api/v1/roleDefinitions",
        "/api/v1/roleDefinitions",
        Some(r#"{"displayName":"Matrix role of {caller}","permissions":["managedDevices.read"]}"#),
        [401, 403, 403, 201, 401, 403],
    ),
    row(
        "DELETE",
        "/api/v1/roleDefinitions/{id}",
        "/api/v1/roleDefinitions/no-such-role",
        None,
        [401, 403, 403, 404, 401, 403],
    ),
    row(
        "GET",
        "/api/v1/roleDefinitions/{id}/assignments",
        "/api/v1/roleDefinitions/{help desk role}/assignments",
        None,
        ROLES,
    ),
    // Only an admin may assign the Help Desk role (the organizer lacks its permissions).
    row(
        "PUT",
        "/api/v1/roleDefinitions/{id}/assignments",
        "/api/v1/roleDefinitions/{help desk role}/assignments",
        Some(r#"{"claimValues":["AttachCenter.HelpDesk"]}"#),
        ROLES,
    ),
    row("GET", "/api/v1/users", "/api/v1/users", None, ROLES),
    row(
        "PUT",
        "/api/v1/users/{id}/roles",
        "/api/v1/users/{user}/roles",
        Some(r#"{"roles":["Read Only Operator"]}"#),
        ROLES,
    ),
    row(
        "GET",
        "/api/v1/openapi.json",
        "/api/v1/openapi.json",
        None,
        [200; 6],
    ),
    row(
        "GET",
        "/api/v1/me",
        "/api/v1/me",
        None,
        [401, 200, 200, 200, 401, 200],
    ),
    // Signing in is open to anyone; the body is a real account's (see `bystander`).
    row(
        "POST",
        "/api/v1/session",
        "/api/v1/session",
        Some(r#"{"userName":"bystander@tests.example","password":"{password}"}"#),
        [200; 6],
    ),
    row(
        "DELETE",
        "/api/v1/session",
        "/api/v1/session",
        None,
        [204; 6],
    ),
    // How to sign in is open to anyone (the sign-in page reads it).
    row(
        "GET",
        "/api/v1/session/options",
        "/api/v1/session/options",
        None,
        [200; 6],
    ),
    // Sign-in through a provider is open to anyone; this server has none (tests/api/oidc.rs
    // signs in through one).
    row(
        "GET",
        "/api/v1/session/oidc/start",
        "/api/v1/session/oidc/start",
        None,
        [404; 6],
    ),
    row(
        "GET",
        "/api/v1/session/oidc/callback",
        "/api/v1/session/oidc/callback",
        None,
        [404; 6],
    ),
    // The provider's back-channel logout is posted server to server, with no session and no
    // CSRF header; its signed token is its proof (tests/api/oidc_logout.rs).
    row(
        "POST",
        "/api/v1/session/oidc/backchannel-logout",
        "/api/v1/session/oidc/backchannel-logout",
        Some("logout_token=x"),
        [404; 6],
    ),
];

#[test]
fn the_table_has_one_row_per_endpoint() {
    // An endpoint whose permission depends on its body has a row per body.
    let rows: Vec<(&str, &str, Option<&str>)> = TABLE
        .iter()
        .map(|r| (r.method, r.template, r.body))
        .collect();
    let unique: BTreeSet<_> = rows.iter().collect();
    assert_eq!(unique.len(), rows.len(), "a row is repeated");
}

#[tokio::test]
async fn every_endpoint_answers_each_caller_as_the_table_says() {
    let app = spawn_app().await;
    let site = app.attach_site(quick_site("HQ", "CHQ", 2207, 41)).await;
    let connector = connector_id(&site);
    let device = site.source().lock().await.devices[0].device.id.clone();
    let action: Value = app
        .client
        .post(format!(
            "{}/api/v1/devices/{device}/triggerConfigurationManagerAction",
            app.url
        ))
        .json(&json!({"configurationManagerAction": {"action": "appEvaluation"}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let site_request: Value = app
        .client
        .post(format!("{}/api/v1/devices/{device}/siteRequests", app.url))
        .json(&json!({"kind": "cmPivot", "query": "Device"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    app.add_user("bystander@tests.example", &[]).await;
    let target = app
        .add_user("target@tests.example", &[READ_ONLY_OPERATOR])
        .await;

    let help_desk_role = app
        .store()
        .role_definitions()
        .await
        .unwrap()
        .into_iter()
        .find(|role| role.display_name == HELP_DESK_OPERATOR)
        .unwrap()
        .id;

    assert_table_covers_the_openapi_document(&app).await;

    let clients = callers(&app, site.client().credential().unwrap()).await;
    let mut mismatches = Vec::new();
    for (caller, client) in CALLERS.iter().zip(&clients) {
        for row in TABLE {
            let expected = row.expected[CALLERS.iter().position(|c| c == caller).unwrap()];
            let path = row
                .path
                .replace("{device}", &device)
                .replace("{action}", action["id"].as_str().unwrap())
                .replace("{site request}", site_request["id"].as_str().unwrap())
                .replace("{connector}", &connector)
                .replace("{user}", &target.id)
                .replace("{help desk role}", &help_desk_role);
            let mut request =
                client.request(row.method.parse().unwrap(), format!("{}{path}", app.url));
            if let Some(body) = row.body {
                let body = body
                    .replace("{caller}", caller)
                    .replace("{password}", PASSWORD);
                request = request
                    .header("content-type", "application/json")
                    .body(body);
            }
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            if status != expected {
                mismatches.push(format!(
                    "{caller}: {} {path} → {status}, expected {expected}",
                    row.method
                ));
            } else if status == 403 {
                let error = crate::error_of(response, 403).await;
                assert_eq!(error["code"], "forbidden");
                assert!(
                    error["message"].as_str().unwrap().contains('.')
                        && admin_api::Permission::ALL
                            .iter()
                            .any(|p| error["message"].as_str().unwrap().contains(p.as_str())),
                    "a 403 names the missing permission: {error}"
                );
            } else if status == 401 {
                assert_eq!(
                    crate::error_of(response, 401).await["code"],
                    "unauthenticated"
                );
            }
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
    app.shut_down().await;
}

/// One client per column: no credential, a session per built-in role, a connector credential.
async fn callers(app: &TestApp, connector_credential: &str) -> Vec<reqwest::Client> {
    app.add_user("reader@tests.example", &[READ_ONLY_OPERATOR])
        .await;
    app.add_user("helpdesk@tests.example", &[HELP_DESK_OPERATOR])
        .await;
    app.add_user("another-admin@tests.example", &[INTUNE_ADMINISTRATOR])
        .await;
    app.add_role(
        ORGANIZER_ROLE,
        &["organization.read", "organization.update"],
    )
    .await;
    app.add_user("organizer@tests.example", &[ORGANIZER_ROLE])
        .await;
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        "authorization",
        format!("Bearer {connector_credential}").parse().unwrap(),
    );
    headers.insert(admin_api::identity::CSRF_HEADER, "1".parse().unwrap());
    let mut anonymous = reqwest::header::HeaderMap::new();
    anonymous.insert(admin_api::identity::CSRF_HEADER, "1".parse().unwrap());
    vec![
        reqwest::Client::builder()
            .default_headers(anonymous)
            .build()
            .unwrap(),
        client_with_cookie(&app.session_cookie("reader@tests.example").await),
        client_with_cookie(&app.session_cookie("helpdesk@tests.example").await),
        client_with_cookie(&app.session_cookie("another-admin@tests.example").await),
        reqwest::Client::builder()
            .default_headers(headers)
            .build()
            .unwrap(),
        client_with_cookie(&app.session_cookie("organizer@tests.example").await),
    ]
}

const ORGANIZER_ROLE: &str = "Organization editor";

async fn assert_table_covers_the_openapi_document(app: &TestApp) {
    let document: Value = app.get("/api/v1/openapi.json").await.json().await.unwrap();
    let mut documented = BTreeSet::new();
    for (path, operations) in document["paths"].as_object().unwrap() {
        for method in operations.as_object().unwrap().keys() {
            documented.insert((method.to_uppercase(), path.clone()));
        }
    }
    let tabled: BTreeSet<(String, String)> = TABLE
        .iter()
        .map(|r| (r.method.to_owned(), r.template.to_owned()))
        .collect();
    let missing: Vec<_> = documented.difference(&tabled).collect();
    let stale: Vec<_> = tabled.difference(&documented).collect();
    assert!(
        missing.is_empty() && stale.is_empty(),
        "endpoints without a row: {missing:?}; rows without an endpoint: {stale:?}"
    );
}

#[tokio::test]
async fn the_connector_protocol_takes_no_session_and_the_admin_api_no_connector_credential() {
    let app = spawn_app().await;
    let site = app.attach_site(quick_site("HQ", "CHQ", 2207, 42)).await;
    // The admin's session cookie on the connector protocol: refused.
    let response = app
        .client
        .post(format!("{}/api/connector/v1/heartbeat", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(
        crate::error_of(response, 401).await["code"],
        "unauthenticated"
    );
    // The connector's credential on the admin API, as a bearer token or as the cookie: refused.
    let credential = site.client().credential().unwrap().to_owned();
    for (name, value) in [
        ("authorization", format!("Bearer {credential}")),
        (
            "cookie",
            format!("{}={credential}", admin_server::auth::SESSION_COOKIE),
        ),
    ] {
        let response = reqwest::Client::new()
            .get(format!("{}/api/v1/devices", app.url))
            .header(name, value)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 401, "{name}");
    }
    app.shut_down().await;
}

/// Role management: organization.update alone makes no role; nobody grants a permission they do
/// not hold or changes their own roles; the last account holding every permission keeps it.
#[tokio::test]
async fn nobody_grants_what_they_do_not_hold() {
    let app = spawn_app().await;
    // The escalation once possible: organization.update made a role of every permission and
    // assigned it to its holder.
    app.add_role(
        ORGANIZER_ROLE,
        &["organization.read", "organization.update"],
    )
    .await;
    let organizer = app
        .add_user("organizer@tests.example", &[ORGANIZER_ROLE])
        .await;
    let organizer_api = app.api_as("organizer@tests.example").await;
    let every: Vec<&str> = admin_api::Permission::ALL
        .iter()
        .map(|p| p.as_str())
        .collect();
    let response = organizer_api
        .client
        .post(format!("{}/api/v1/roleDefinitions", app.url))
        .json(&json!({"displayName": "Everything", "permissions": every}))
        .send()
        .await
        .unwrap();
    crate::error_of(response, 403).await;
    let response = organizer_api
        .client
        .put(format!("{}/api/v1/users/{}/roles", app.url, organizer.id))
        .json(&json!({"roles": [INTUNE_ADMINISTRATOR]}))
        .send()
        .await
        .unwrap();
    crate::error_of(response, 403).await;

    // A role manager with some permissions grants only those.
    app.add_role(
        "Role manager",
        &["roles.read", "roles.update", "managedDevices.read"],
    )
    .await;
    let manager = app
        .add_user("manager@tests.example", &["Role manager"])
        .await;
    let manager_api = app.api_as("manager@tests.example").await;
    let create = |name: &str, permissions: &[&str]| {
        manager_api
            .client
            .post(format!("{}/api/v1/roleDefinitions", app.url))
            .json(&json!({"displayName": name, "permissions": permissions}))
            .send()
    };
    let error = crate::error_of(
        create("Deleter", &["managedDevices.read", "organization.delete"])
            .await
            .unwrap(),
        403,
    )
    .await;
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("organization.delete"),
        "{error}"
    );
    assert_eq!(
        create("Device reader", &["managedDevices.read"])
            .await
            .unwrap()
            .status(),
        201
    );
    let set_roles = |user: &str, roles: &[&str]| {
        manager_api
            .client
            .put(format!("{}/api/v1/users/{user}/roles", app.url))
            .json(&json!({ "roles": roles }))
            .send()
    };
    let plain = app.add_user("plain@tests.example", &[]).await;
    assert_eq!(
        set_roles(&plain.id, &["Device reader"])
            .await
            .unwrap()
            .status(),
        200
    );
    crate::error_of(
        set_roles(&plain.id, &[INTUNE_ADMINISTRATOR]).await.unwrap(),
        403,
    )
    .await;
    // Nor take away what they could not give: the organizer's role holds permissions the
    // manager lacks.
    crate::error_of(set_roles(&organizer.id, &[]).await.unwrap(), 403).await;
    // Nor change their own roles, even to fewer.
    let error = crate::error_of(
        set_roles(&manager.id, &["Device reader"]).await.unwrap(),
        403,
    )
    .await;
    assert!(
        error["message"].as_str().unwrap().contains("your own"),
        "{error}"
    );

    // An administrator cannot strip their own roles either.
    let me: admin_api::Collection<admin_api::User> =
        app.get("/api/v1/users").await.json().await.unwrap();
    let admin = me
        .value
        .iter()
        .find(|u| u.user_principal_name == crate::ADMIN)
        .unwrap()
        .clone();
    let response = app
        .client
        .put(format!("{}/api/v1/users/{}/roles", app.url, admin.id))
        .json(&json!({"roles": []}))
        .send()
        .await
        .unwrap();
    crate::error_of(response, 403).await;
    // And the last account holding every permission keeps it, even from the command line's path.
    let refused = app
        .store()
        .set_user_roles(
            &admin.id,
            &[],
            None,
            &admin_server::store::audit::Actor::command_line(),
            time::OffsetDateTime::now_utc(),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(refused, admin_server::store::error::StoreError::Conflict(_)),
        "{refused}"
    );
    // With a second such account, the first may lose its roles (changed by the other).
    let second = app
        .add_user("second-admin@tests.example", &[INTUNE_ADMINISTRATOR])
        .await;
    let second_api = app.api_as("second-admin@tests.example").await;
    let response = second_api
        .client
        .put(format!("{}/api/v1/users/{}/roles", app.url, admin.id))
        .json(&json!({"roles": [READ_ONLY_OPERATOR]}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let _ = second;
    app.shut_down().await;
}
