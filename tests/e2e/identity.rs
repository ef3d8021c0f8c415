//! Signing in, roles in the UI, the session ending, and the audit logs, end to end.

use site_connector::hierarchy::ClientState;

use crate::actions::{device, serving_site, status_row};
use crate::browser::Browser;
use crate::{spawn_app, TestApp, HELPDESK, PASSWORD, READER};

/// Fills in the sign-in form and submits it with the keyboard.
async fn sign_in_with_the_form(browser: &Browser, user: &str) {
    let name = browser.wait_for("//input[@id='sign-in-user']").await;
    name.send_keys(user).await.unwrap();
    let password = browser.wait_for("//input[@id='sign-in-password']").await;
    password.send_keys(PASSWORD).await.unwrap();
    password
        .send_keys(&fantoccini::key::Key::Enter.to_string())
        .await
        .unwrap();
}

async fn path_and_query(browser: &Browser) -> String {
    let url = browser.client.current_url().await.unwrap();
    match url.query() {
        Some(query) => format!("{}?{query}", url.path()),
        None => url.path().to_owned(),
    }
}

#[tokio::test]
async fn help_desk_signs_in_runs_an_action_to_succeeded_but_cannot_delete_a_connector() {
    let app = spawn_app().await;
    let (site, stop) = serving_site(&app).await;
    let (id, name) = device(&site, ClientState::Online).await;
    let serving = tokio::spawn(site.serve(stop.clone()));
    let browser = Browser::start().await;
    // A deep link while signed out goes to sign-in, and after it to the same page.
    let overview = format!("/devices/{id}");
    browser.open(&app.url(&overview)).await;
    browser.wait_for("//h1[normalize-space()='Sign in']").await;
    assert!(path_and_query(&browser)
        .await
        .starts_with("/signin?returnTo="));
    sign_in_with_the_form(&browser, "wrong@e2e.example").await;
    browser
        .wait_for(
            "//p[@role='alert' and normalize-space()='The user name or password is incorrect.']",
        )
        .await;
    browser.open(&app.url(&overview)).await;
    sign_in_with_the_form(&browser, HELPDESK).await;
    browser
        .wait_for("//header//span[@class='user-roles' and normalize-space()='Help Desk Operator']")
        .await;
    browser
        .wait_for(&format!("//h1[normalize-space()='{name}']"))
        .await;
    browser.wait_for_url(&app.url(&overview)).await;

    browser
        .click("//section[@aria-labelledby='device-actions']//button[normalize-space()='Sync Machine Policy' and not(@disabled)]")
        .await;
    browser
        .click("//div[@role='dialog']//button[normalize-space()='Sync Machine Policy']")
        .await;
    browser
        .wait_for(&status_row("Sync Machine Policy", "Succeeded"))
        .await;
    let requested_by = browser
        .text_of("table[aria-label='Device action status'] tbody tr td:nth-child(4)")
        .await;
    assert_eq!(requested_by, HELPDESK);

    // Delete is there but disabled, with the reason read with it.
    browser.open(&app.url("/tenant-admin/connectors")).await;
    browser
        .click("//table[@aria-label='Configuration Manager hierarchies']//a[normalize-space()='Contoso Branch']")
        .await;
    let delete = browser
        .wait_for("//section//button[normalize-space()='Delete']")
        .await;
    assert!(!delete.is_enabled().await.unwrap());
    assert_eq!(
        delete.attr("aria-describedby").await.unwrap().as_deref(),
        Some("delete-not-allowed")
    );
    let reason = browser.text_of("#delete-not-allowed").await;
    assert_eq!(reason, "Requires Organization › Delete");
    let token = browser
        .wait_for("//button[normalize-space()='Create onboarding token']")
        .await;
    assert!(!token.is_enabled().await.unwrap());

    // The audit logs show the action the help desk asked for, under their name.
    browser
        .open(&app.url("/tenant-admin/audit-logs?activity=requestConfigurationManagerAction"))
        .await;
    let row = browser
        .wait_for(&format!(
            "//table[@aria-label='Audit events']//tr[td[4][normalize-space()='{HELPDESK}'] and contains(., '{name}')]"
        ))
        .await;
    assert!(row
        .text()
        .await
        .unwrap()
        .contains("ConfigMgr action requested"));
    stop.cancel();
    serving.await.unwrap();
    browser.finish(app).await;
}

#[tokio::test]
async fn a_reader_sees_the_actions_disabled_with_the_reason() {
    let app = spawn_app().await;
    let (site, _stop) = serving_site(&app).await;
    let (id, _) = device(&site, ClientState::Online).await;
    let browser = Browser::signed_in(&app, READER).await;
    browser.open(&app.url(&format!("/devices/{id}"))).await;
    browser
        .wait_for("//p[normalize-space()='No actions were requested for this device yet.']")
        .await;
    for label in [
        "Sync Machine Policy",
        "Sync User Policy",
        "App Evaluation Cycle",
    ] {
        let button = browser
            .wait_for(&format!(
                "//section[@aria-labelledby='device-actions']//button[normalize-space()='{label}']"
            ))
            .await;
        assert!(!button.is_enabled().await.unwrap(), "{label}");
    }
    assert_eq!(
        browser.text_of("#actions-not-allowed").await,
        "Requires Remote tasks › Initiate Configuration Manager action"
    );
    browser.finish(app).await;
}

#[tokio::test]
async fn an_expired_session_returns_to_sign_in_and_then_to_the_same_page() {
    let app: TestApp = spawn_app().await;
    let browser = Browser::signed_in(&app, READER).await;
    let view = "/devices?search=CHQ&sort=deviceName%20desc";
    browser.open(&app.url(view)).await;
    browser
        .wait_for("//table[@aria-label='All devices']//tbody/tr")
        .await;
    // The session ends as the server sees it (past its lifetime), then the page asks for more.
    sqlx::query("UPDATE sessions SET expires_at = '2000-01-01T00:00:00Z'")
        .execute(app.server().store().sqlite_writer().unwrap())
        .await
        .unwrap();
    browser
        .click("//div[@role='toolbar']//button[contains(., 'Refresh')]")
        .await;
    browser.wait_for("//h1[normalize-space()='Sign in']").await;
    let at = path_and_query(&browser).await;
    assert!(at.starts_with("/signin?returnTo="), "{at}");
    sign_in_with_the_form(&browser, READER).await;
    browser
        .wait_for("//table[@aria-label='All devices']//tbody/tr")
        .await;
    browser.wait_for_url(&app.url(view)).await;
    browser.finish(app).await;
}

#[tokio::test]
async fn the_audit_logs_filter_from_the_form_and_the_filter_survives_a_reload() {
    let app = spawn_app().await;
    // The reader signs in once, so the log has one event of theirs.
    app.session_cookie(READER).await;
    let browser = Browser::signed_in(&app, crate::ADMIN).await;
    browser.open(&app.url("/tenant-admin/audit-logs")).await;
    browser
        .wait_for("//table[@aria-label='Audit events']//tbody/tr")
        .await;
    let actor = browser.wait_for("//input[@id='audit-actor']").await;
    actor.send_keys("reader@").await.unwrap();
    actor
        .send_keys(&fantoccini::key::Key::Enter.to_string())
        .await
        .unwrap();
    browser
        .wait_for_url(&app.url("/tenant-admin/audit-logs?actor=reader%40"))
        .await;
    let only_reader = "//p[@role='status' and normalize-space()='1 event']";
    browser.wait_for(only_reader).await;
    let row = browser
        .text_of("table[aria-label='Audit events'] tbody tr")
        .await;
    assert!(row.contains("Sign in") && row.contains(READER), "{row}");
    browser.client.refresh().await.unwrap();
    browser.wait_for(only_reader).await;
    let kept = browser.wait_for("//input[@id='audit-actor']").await;
    assert_eq!(
        kept.prop("value").await.unwrap().as_deref(),
        Some("reader@")
    );
    browser.finish(app).await;
}

/// At 1440 px the audit log fits: connectors read as their hierarchies' names (the id in the
/// tooltip), details read their times as people do, and no column runs off-screen.
#[tokio::test]
async fn the_audit_log_names_connectors_and_fits_the_window() {
    let app = spawn_app().await;
    let browser = Browser::signed_in_with(&app, crate::ADMIN, &["--window-size=1440,900"]).await;
    browser
        .open(&app.url("/tenant-admin/audit-logs?activity=onboardConnector"))
        .await;
    let cell = browser
        .wait_for("//table[@aria-label='Audit events']//tbody/tr/td[4][starts-with(normalize-space(), 'Contoso Headquarters')]")
        .await;
    let tooltip = cell.attr("title").await.unwrap().unwrap();
    assert!(tooltip.starts_with("Connector "), "{tooltip}");
    browser.open(&app.url("/tenant-admin/audit-logs")).await;
    browser
        .wait_for("//table[@aria-label='Audit events']//tbody/tr")
        .await;
    let details = browser
        .text_of("table[aria-label='Audit events'] tbody")
        .await;
    let iso = details.split_whitespace().any(|word| {
        word.len() >= 20
            && word.as_bytes().get(10) == Some(&b'T')
            && word.contains(":")
            && word.trim_end_matches('.').ends_with('Z')
    });
    assert!(!iso, "no raw ISO timestamps: {details}");
    assert!(details.contains("Valid until "), "{details}");
    let overflow = browser
        .client
        .execute(
            "const wrap = document.querySelector(\"table[aria-label='Audit events']\").closest('.table-wrap'); \
             return wrap.scrollWidth - wrap.clientWidth;",
            vec![],
        )
        .await
        .unwrap();
    assert!(
        overflow.as_f64().unwrap() <= 1.0,
        "the table runs {overflow} px past its frame"
    );
    browser.finish(app).await;
}

/// The audit count of `filter` as the API gives it.
async fn audit_count(app: &TestApp, filter: &str) -> u64 {
    let page: admin_api::Collection<admin_api::AuditEvent> = app
        .api()
        .get(app.url("/api/v1/auditEvents"))
        .query(&[("$filter", filter), ("$top", "1"), ("$count", "true")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    page.count.unwrap()
}

/// From a device and from a connector's details, "View in audit log" opens the log filtered to
/// them (a link that survives a reload); the log shows where each request came from, and Export
/// downloads exactly what is filtered.
#[tokio::test]
async fn the_audit_log_opens_from_a_device_and_a_connector_and_exports_what_it_shows() {
    let app = spawn_app().await;
    let devices: admin_api::Collection<admin_api::Device> = app
        .api()
        .get(app.url("/api/v1/devices?$top=1&$orderby=deviceName"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let device = devices.value[0].clone();
    let response = app
        .api()
        .post(app.url(&format!(
            "/api/v1/devices/{}/triggerConfigurationManagerAction",
            device.id
        )))
        .header("user-agent", "Help desk script/1.0")
        .json(
            &serde_json::json!({"configurationManagerAction": {"action": "refreshMachinePolicy"}}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    let browser = Browser::signed_in(&app, crate::ADMIN).await;

    browser
        .open(&app.url(&format!("/devices/{}", device.id)))
        .await;
    browser
        .click("//a[normalize-space()='View in audit log']")
        .await;
    let filtered = app.url(&format!("/tenant-admin/audit-logs?resource={}", device.id));
    browser.wait_for_url(&filtered).await;
    let resource = browser.wait_for("//input[@id='audit-resource']").await;
    assert_eq!(
        resource.prop("value").await.unwrap(),
        Some(device.id.clone())
    );
    let row = browser
        .wait_for("//table[@aria-label='Audit events']//tbody/tr[td[2][normalize-space()='ConfigMgr action requested']]")
        .await;
    // The source column: the address, and the user agent in its tooltip.
    let source = row
        .find(fantoccini::Locator::XPath("td[last()]"))
        .await
        .unwrap();
    assert_eq!(source.text().await.unwrap(), "127.0.0.1");
    assert_eq!(
        source.attr("title").await.unwrap().as_deref(),
        Some("Help desk script/1.0")
    );
    browser.client.refresh().await.unwrap();
    browser
        .wait_for("//table[@aria-label='Audit events']//tbody/tr[td[2][normalize-space()='ConfigMgr action requested']]")
        .await;

    let connectors: admin_api::Collection<admin_api::Connector> = app
        .api()
        .get(app.url("/api/v1/connectors"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let headquarters = connectors
        .value
        .iter()
        .find(|c| c.hierarchy_name.as_deref() == Some("Contoso Headquarters"))
        .unwrap()
        .id
        .clone();
    browser.open(&app.url("/tenant-admin/connectors")).await;
    browser
        .click("//table[@aria-label='Configuration Manager hierarchies']//a[normalize-space()='Contoso Headquarters']")
        .await;
    browser
        .click("//section[@aria-labelledby='connector-details']//a[normalize-space()='View in audit log']")
        .await;
    browser
        .wait_for_url(&app.url(&format!(
            "/tenant-admin/audit-logs?connector={headquarters}"
        )))
        .await;
    let count = audit_count(
        &app,
        &format!("(resourceId eq '{headquarters}' or actor eq '{headquarters}')"),
    )
    .await;
    assert!(count >= 1);
    let status = format!(
        "//p[@role='status' and normalize-space()='{count} event{}']",
        if count == 1 { "" } else { "s" }
    );
    browser.wait_for(&status).await;
    browser
        .wait_for("//table[@aria-label='Audit events']//tbody/tr[td[2][normalize-space()='Hierarchy attached']]")
        .await;

    // Export: what the filter shows, downloaded as the browser does.
    browser.click("//a[normalize-space()='Export']").await;
    let csv = String::from_utf8(browser.downloaded("audit-log.csv").await).unwrap();
    let rows: Vec<&str> = csv.lines().collect();
    assert!(
        rows[0].starts_with("activityDateTime,activity,"),
        "{}",
        rows[0]
    );
    assert_eq!(rows.len() as u64 - 1, count, "{csv}");
    assert!(
        rows.iter()
            .skip(1)
            .any(|r| r.contains(",onboardConnector,")),
        "{csv}"
    );
    browser.finish(app).await;
}
