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
