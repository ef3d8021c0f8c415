//! The device overview's actions, end to end: a click, a confirmation, a toast, and the state
//! arriving live from the event stream as the site connector runs the action.

use std::time::Duration;

use fantoccini::key::Key;
use site_connector::hierarchy::ClientState;
use site_connector::HierarchyConfig;
use tokio_util::sync::CancellationToken;

use crate::browser::Browser;
use crate::{spawn_app, TestApp};

/// A site whose clients answer at once, half of them offline, serving its actions.
pub async fn serving_site(app: &TestApp) -> (site_connector::SimulatedSite, CancellationToken) {
    let mut config = HierarchyConfig::new("Contoso Branch", "BRA", 2207, 40, 31);
    config.latency = (Duration::ZERO, Duration::ZERO);
    config.offline_share = 0.5;
    let site = app.attach_site(config).await;
    (site, CancellationToken::new())
}

pub async fn device(site: &site_connector::SimulatedSite, state: ClientState) -> (String, String) {
    let hierarchy = site.source();
    let hierarchy = hierarchy.lock().await;
    let device = hierarchy
        .devices
        .iter()
        .find(|d| d.client == state)
        .unwrap();
    (device.device.id.clone(), device.device.device_name.clone())
}

pub fn status_row(action: &str, state: &str) -> String {
    format!(
        "//table[@aria-label='Device action status']//tr[td[1][normalize-space()='{action}'] and .//span[normalize-space()='{state}']]"
    )
}

#[tokio::test]
async fn each_action_is_confirmed_toasted_and_reaches_succeeded_live() {
    let app = spawn_app().await;
    let (site, stop) = serving_site(&app).await;
    let (id, name) = device(&site, ClientState::Online).await;
    let serving = tokio::spawn(site.serve(stop.clone()));
    let browser = Browser::signed_in(&app, crate::ADMIN).await;
    browser.open(&app.url(&format!("/devices/{id}"))).await;
    browser
        .wait_for("//p[normalize-space()='No actions were requested for this device yet.']")
        .await;

    for label in [
        "Sync Machine Policy",
        "Sync User Policy",
        "App Evaluation Cycle",
    ] {
        browser.click(&format!("//section[@aria-labelledby='device-actions']//button[normalize-space()='{label}' and not(@disabled)]")).await;
        browser
            .click(&format!(
                "//div[@role='dialog']//button[normalize-space()='{label}']"
            ))
            .await;
        browser
            .wait_for(&format!(
                "//div[@role='status']//span[normalize-space()='{label} requested for {name}']"
            ))
            .await;
        browser.wait_for(&status_row(label, "Succeeded")).await;
    }
    let rows = browser
        .client
        .find_all(fantoccini::Locator::Css(
            "table[aria-label='Device action status'] tbody tr",
        ))
        .await
        .unwrap();
    assert_eq!(rows.len(), 3, "one action each, newest first");
    assert_eq!(
        rows[0]
            .find(fantoccini::Locator::Css("td"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
        "App Evaluation Cycle"
    );

    // The history survives a reload.
    browser.client.refresh().await.unwrap();
    browser
        .wait_for(&status_row("Sync User Policy", "Succeeded"))
        .await;
    stop.cancel();
    serving.await.unwrap();
    browser.finish(app).await;
}

#[tokio::test]
async fn an_offline_client_shows_failed_with_its_return_code() {
    let app = spawn_app().await;
    let (site, stop) = serving_site(&app).await;
    let (id, _) = device(&site, ClientState::OfflineFails).await;
    let serving = tokio::spawn(site.serve(stop.clone()));
    let browser = Browser::signed_in(&app, crate::ADMIN).await;
    browser.open(&app.url(&format!("/devices/{id}"))).await;
    browser.click("//section[@aria-labelledby='device-actions']//button[normalize-space()='Sync Machine Policy' and not(@disabled)]").await;
    browser
        .click("//div[@role='dialog']//button[normalize-space()='Sync Machine Policy']")
        .await;
    browser
        .wait_for(&status_row("Sync Machine Policy", "Failed (0x800706BA)"))
        .await;
    stop.cancel();
    serving.await.unwrap();
    browser.finish(app).await;
}

async fn active_text(browser: &Browser) -> String {
    browser
        .client
        .active_element()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

async fn press(browser: &Browser, key: Key) {
    browser
        .client
        .active_element()
        .await
        .unwrap()
        .send_keys(&char::from(key).to_string())
        .await
        .unwrap();
}

#[tokio::test]
async fn an_action_runs_with_the_keyboard_alone() {
    let app = spawn_app().await;
    let (site, stop) = serving_site(&app).await;
    let (id, name) = device(&site, ClientState::Online).await;
    let serving = tokio::spawn(site.serve(stop.clone()));
    let browser = Browser::signed_in(&app, crate::ADMIN).await;
    browser.open(&app.url(&format!("/devices/{id}"))).await;
    browser
        .wait_for("//section[@aria-labelledby='device-actions']//button[normalize-space()='App Evaluation Cycle' and not(@disabled)]")
        .await;

    // Tab from the top of the page to the button.
    let mut reached = false;
    for _ in 0..40 {
        press(&browser, Key::Tab).await;
        if active_text(&browser).await == "App Evaluation Cycle" {
            reached = true;
            break;
        }
    }
    assert!(reached, "Tab reaches the App Evaluation Cycle button");
    press(&browser, Key::Enter).await;
    browser.wait_for("//div[@role='dialog']").await;
    assert_eq!(
        active_text(&browser).await,
        "App Evaluation Cycle",
        "focus moves to the confirmation"
    );
    // Tab stays in the dialog.
    press(&browser, Key::Tab).await;
    assert_eq!(active_text(&browser).await, "Cancel");
    press(&browser, Key::Tab).await;
    assert_eq!(active_text(&browser).await, "App Evaluation Cycle");
    // Escape closes it and gives focus back; nothing was requested.
    press(&browser, Key::Escape).await;
    assert!(browser
        .client
        .find(fantoccini::Locator::Css("[role=dialog]"))
        .await
        .is_err());
    assert_eq!(active_text(&browser).await, "App Evaluation Cycle");
    press(&browser, Key::Enter).await;
    browser.wait_for("//div[@role='dialog']").await;
    press(&browser, Key::Enter).await;
    browser
        .wait_for(&format!("//div[@role='status']//span[normalize-space()='App Evaluation Cycle requested for {name}']"))
        .await;
    browser
        .wait_for(&status_row("App Evaluation Cycle", "Succeeded"))
        .await;
    stop.cancel();
    serving.await.unwrap();
    browser.finish(app).await;
}

#[tokio::test]
async fn an_offboarding_hierarchys_devices_take_no_actions_and_say_why() {
    let app = spawn_app().await;
    let site = app
        .attach_site(HierarchyConfig::new("Contoso Legacy", "LEG", 2002, 5, 32))
        .await;
    let (id, _) = device(&site, ClientState::Online).await;
    let connector = site
        .client()
        .credential()
        .unwrap()
        .split('.')
        .next()
        .unwrap()
        .to_owned();
    let response = app
        .api()
        .delete(app.url(&format!("/api/v1/connectors/{connector}")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    let browser = Browser::signed_in(&app, crate::ADMIN).await;
    browser.open(&app.url(&format!("/devices/{id}"))).await;
    browser
        .wait_for("//p[@role='note' and contains(., 'being offboarded')]")
        .await;
    for label in [
        "Sync Machine Policy",
        "Sync User Policy",
        "App Evaluation Cycle",
    ] {
        browser
            .wait_for(&format!(
                "//section[@aria-labelledby='device-actions']//button[normalize-space()='{label}' and @disabled]"
            ))
            .await;
    }
    browser.finish(app).await;
}

/// The overview as Intune lays it out: Essentials right under the actions bar (above the fold
/// however many actions ran), the latest five actions with "View all", times to the second; and a
/// Sync Machine Policy moves the device's last policy request, live.
#[tokio::test]
async fn essentials_come_first_and_a_policy_sync_moves_the_last_policy_request() {
    let app = spawn_app().await;
    let (site, stop) = serving_site(&app).await;
    let (id, _) = device(&site, ClientState::Online).await;
    let serving = tokio::spawn(site.serve(stop.clone()));
    let browser = Browser::signed_in(&app, crate::ADMIN).await;
    browser.open(&app.url(&format!("/devices/{id}"))).await;
    let policy = "//section[@aria-labelledby='essentials']//div[dt[normalize-space()='Last policy request']]/dd";
    let before = browser.wait_for(policy).await.text().await.unwrap();

    browser.click("//section[@aria-labelledby='device-actions']//button[normalize-space()='Sync Machine Policy' and not(@disabled)]").await;
    browser
        .click("//div[@role='dialog']//button[normalize-space()='Sync Machine Policy']")
        .await;
    browser
        .wait_for(&status_row("Sync Machine Policy", "Succeeded"))
        .await;
    // The client's policy request reaches the page without a reload.
    browser
        .wait_for(&format!("{policy}[normalize-space()!='{before}']"))
        .await;
    let after = browser.wait_for(policy).await.text().await.unwrap();
    assert!(
        after.ends_with(" UTC") && after.len() == "2026-11-21 09:30:59 UTC".len(),
        "{after}"
    );

    // Eleven more actions, each run to its end.
    let kinds = ["refreshUserPolicy", "appEvaluation", "refreshMachinePolicy"];
    for n in 0..11 {
        let action: serde_json::Value = app
            .api()
            .post(app.url(&format!(
                "/api/v1/devices/{id}/triggerConfigurationManagerAction"
            )))
            .header(admin_api::identity::CSRF_HEADER, "1")
            .json(&serde_json::json!({"configurationManagerAction": {"action": kinds[n % 3]}}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let action_id = action["id"].as_str().unwrap().to_owned();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let state: serde_json::Value = app
                .api()
                .get(app.url(&format!("/api/v1/deviceActions/{action_id}")))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            if state["actionState"] == "done" {
                break;
            }
            assert!(tokio::time::Instant::now() < deadline, "{state}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    browser.client.refresh().await.unwrap();
    browser
        .wait_for("//p[contains(normalize-space(), 'The latest 5 of 12 actions')]")
        .await;
    let rows = "table[aria-label='Device action status'] tbody tr";
    let count = |browser: &Browser| {
        let client = browser.client.clone();
        async move {
            client
                .find_all(fantoccini::Locator::Css(rows))
                .await
                .unwrap()
                .len()
        }
    };
    assert_eq!(count(&browser).await, 5);
    let essentials_top = browser
        .client
        .execute(
            "const box = document.querySelector('section.essentials').getBoundingClientRect(); \
             return box.top < window.innerHeight && box.top < document.querySelector('[aria-labelledby=action-status]').getBoundingClientRect().top;",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        essentials_top,
        serde_json::Value::Bool(true),
        "Essentials above the fold and the status"
    );
    // Times to the second, the full timestamp as the tooltip.
    let cell = browser
        .wait_for("//table[@aria-label='Device action status']//tbody/tr[1]/td[3]")
        .await;
    let title = cell.attr("title").await.unwrap().unwrap();
    let text = cell.text().await.unwrap();
    assert!(
        text.starts_with(&format!("{} {} UTC", &title[..10], &title[11..19])),
        "{text} / {title}"
    );
    assert!(text.contains("ago") || text.contains("just now"), "{text}");

    browser
        .click("//button[normalize-space()='View all']")
        .await;
    browser
        .wait_for("//p[contains(normalize-space(), 'All 12 actions')]")
        .await;
    assert_eq!(count(&browser).await, 12);
    stop.cancel();
    serving.await.unwrap();
    browser.finish(app).await;
}
