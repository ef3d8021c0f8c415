//! Connectors and tokens: the list, details by version, Delete → Offboarding → gone, and
//! onboarding tokens that really attach a site.

use std::time::Duration;

use site_connector::{HierarchyConfig, SimulatedHierarchy, SiteConnector, SiteOptions};
use tokio_util::sync::CancellationToken;

use fantoccini::Locator;

use crate::browser::Browser;
use crate::spawn_app;

const TABLE: &str = "//table[@aria-label='Configuration Manager hierarchies']";

#[tokio::test]
async fn connectors_and_tokens_lists_the_attached_hierarchies() {
    let app = spawn_app().await;
    let browser = Browser::signed_in(&app, crate::ADMIN).await;
    browser.open(&app.url("/tenant-admin/connectors")).await;
    browser
        .wait_for(&format!("{TABLE}//a[normalize-space()='Contoso Europe']"))
        .await;
    let table = browser
        .text_of("table[aria-label='Configuration Manager hierarchies'] tbody")
        .await;
    let rows: Vec<&str> = table.lines().collect();
    assert_eq!(rows.len(), 2, "{table}");
    assert!(
        table.contains("Contoso Headquarters CHQ 2207 Healthy Online"),
        "{table}"
    );
    assert!(
        table.contains("Contoso Europe EUR 2010 Healthy Online"),
        "{table}"
    );
    assert!(
        table.contains(" 240") && table.contains(" 120"),
        "device counts: {table}"
    );
    // The Onboarding tokens card stands apart from the hierarchies' table, as cards do.
    let gap = browser
        .client
        .execute(
            "const list = document.querySelector(\"table[aria-label='Configuration Manager hierarchies']\") \
                 .closest('.table-wrap'); \
             const tokens = document.querySelector(\"section[aria-labelledby='onboarding-tokens']\"); \
             return tokens.getBoundingClientRect().top - list.getBoundingClientRect().bottom;",
            vec![],
        )
        .await
        .unwrap();
    let gap = gap.as_f64().unwrap();
    assert!(gap >= 12.0, "the card sits {gap}px below the table");
    browser.finish(app).await;
}

#[tokio::test]
async fn details_show_every_field_and_say_what_old_sites_leave_out() {
    let app = spawn_app().await;
    app.attach_site(HierarchyConfig::new("Contoso Legacy", "LEG", 2006, 10, 61))
        .await;
    let browser = Browser::signed_in(&app, crate::ADMIN).await;
    browser.open(&app.url("/tenant-admin/connectors")).await;
    browser
        .click(&format!(
            "{TABLE}//a[normalize-space()='Contoso Headquarters']"
        ))
        .await;
    let details = browser
        .text_of("section[aria-labelledby='connector-details']")
        .await;
    for expected in [
        "Site version\n2207",
        "Service connection point\nCHQ-SCP01.chq.contoso.com",
        "Cloud\nAzurePublicCloud",
        "Upload scope\nAll devices",
        "Endpoint analytics\nEnabled",
        "Devices\n240",
    ] {
        assert!(details.contains(expected), "{expected:?} in {details}");
    }
    assert!(!details.contains("isn't available"));
    // The selection is in the URL.
    browser.client.refresh().await.unwrap();
    browser
        .wait_for("//h2[@id='connector-details' and normalize-space()='Contoso Headquarters']")
        .await;

    browser
        .click(&format!("{TABLE}//a[normalize-space()='Contoso Legacy']"))
        .await;
    browser
        .wait_for("//h2[@id='connector-details' and normalize-space()='Contoso Legacy']")
        .await;
    let details = browser
        .text_of("section[aria-labelledby='connector-details']")
        .await;
    assert!(
        details.contains("Some information isn't available"),
        "{details}"
    );
    assert!(details.contains("Service connection point\n—"), "{details}");
    assert!(details.contains("Upload scope\n—"), "{details}");
    browser.finish(app).await;
}

async fn delete_from_details(browser: &Browser, name: &str, devices: u64) {
    browser
        .click(&format!("{TABLE}//a[normalize-space()='{name}']"))
        .await;
    browser
        .click(
            "//section[@aria-labelledby='connector-details']//button[normalize-space()='Delete']",
        )
        .await;
    let dialog = browser.text_of("[role=dialog]").await;
    assert!(dialog.contains(&format!("Delete {name}?")), "{dialog}");
    // The dialog opens on the safe choice: Enter cancels, nothing is deleted.
    let focused = browser.client.active_element().await.unwrap();
    assert_eq!(
        focused.text().await.unwrap(),
        "Cancel",
        "focus is on Cancel"
    );
    focused.send_keys("\u{E007}").await.unwrap();
    browser
        .wait_for("//body[not(.//div[@role='dialog'])]")
        .await;
    assert!(browser
        .client
        .find(Locator::XPath(&format!(
            "//div[@role='status']//span[normalize-space()='Offboarding {name}']"
        )))
        .await
        .is_err());
    browser
        .click(
            "//section[@aria-labelledby='connector-details']//button[normalize-space()='Delete']",
        )
        .await;
    assert!(
        dialog.contains(&format!(
            "its {devices} devices will leave the admin center"
        )),
        "{dialog}"
    );
    browser
        .click("//div[@role='dialog']//button[normalize-space()='Delete']")
        .await;
    browser
        .wait_for(&format!(
            "//div[@role='status']//span[normalize-space()='Offboarding {name}']"
        ))
        .await;
}

#[tokio::test]
async fn delete_offboards_an_online_site_and_its_devices_leave() {
    let app = spawn_app().await;
    let mut config = HierarchyConfig::new("Contoso Branch", "BRA", 2207, 40, 62);
    config.latency = (Duration::ZERO, Duration::ZERO);
    let site = app.attach_site(config).await;
    let stop = CancellationToken::new();
    let serving = tokio::spawn(site.serve(stop.clone()));
    let browser = Browser::signed_in(&app, crate::ADMIN).await;
    browser.open(&app.url("/tenant-admin/connectors")).await;
    delete_from_details(&browser, "Contoso Branch", 40).await;
    // The site confirms and the row goes, live.
    browser
        .wait_for(&format!(
            "{TABLE}[not(.//a[normalize-space()='Contoso Branch'])]"
        ))
        .await;
    assert_eq!(serving.await.unwrap(), site_connector::Outcome::Offboarded);
    browser.open(&app.url("/devices?search=BRA-")).await;
    browser
        .wait_for("//h2[normalize-space()='No devices match']")
        .await;
    browser.close().await;
    stop.cancel();
    app.shut_down().await;
}

#[tokio::test]
async fn an_offline_site_shows_offboarding_after_delete() {
    let app = spawn_app().await;
    app.attach_site(HierarchyConfig::new("Contoso Legacy", "LEG", 2002, 12, 63))
        .await;
    let browser = Browser::signed_in(&app, crate::ADMIN).await;
    browser.open(&app.url("/tenant-admin/connectors")).await;
    delete_from_details(&browser, "Contoso Legacy", 12).await;
    browser
        .wait_for(&format!("{TABLE}//tr[td/a[normalize-space()='Contoso Legacy'] and .//span[normalize-space()='Offboarding']]"))
        .await;
    browser
        .wait_for("//section[@aria-labelledby='connector-details']//button[normalize-space()='Offboarding…' and @disabled]")
        .await;
    browser.finish(app).await;
}

#[tokio::test]
async fn an_onboarding_token_is_shown_once_and_attaches_a_site_live() {
    let app = spawn_app().await;
    let browser = Browser::signed_in(&app, crate::ADMIN).await;
    browser.open(&app.url("/tenant-admin/connectors")).await;
    browser
        .wait_for(&format!("{TABLE}//a[normalize-space()='Contoso Europe']"))
        .await;
    browser
        .click("//button[normalize-space()='Create onboarding token']")
        .await;
    let token = browser
        .text_of("[aria-label='New onboarding token'] code")
        .await;
    assert!(token.starts_with("cmot_"), "{token}");
    let region = browser.text_of("[aria-label='New onboarding token']").await;
    assert!(
        region.contains("shown only once") && region.contains("Valid until"),
        "{region}"
    );

    let site = SiteConnector::attach(
        &app.server().url(),
        &token,
        SimulatedHierarchy::new(HierarchyConfig::new("Contoso Asia", "ASI", 2207, 8, 64)),
        SiteOptions::default(),
    )
    .await
    .unwrap();
    site.full_sync().await.unwrap();
    // The list follows the event stream: the new hierarchy appears without a reload.
    browser
        .wait_for(&format!(
            "{TABLE}//tr[td/a[normalize-space()='Contoso Asia'] and td[normalize-space()='8']]"
        ))
        .await;
    browser.finish(app).await;
}

/// A hierarchy that never reported its details reads as "Unknown hierarchy" with its id and the
/// reason; selected, its outlined Unknown badge still stands out; the list comes before the
/// onboarding tokens.
#[tokio::test]
async fn an_unknown_hierarchy_says_so_and_the_list_comes_first() {
    let app = spawn_app().await;
    let mut silent = HierarchyConfig::new("Never Reports", "NEV", 2002, 5, 63);
    silent.reports_site_info = false;
    let hierarchy_id = silent.hierarchy_id.clone();
    app.attach_site(silent).await;
    let browser = Browser::signed_in(&app, crate::ADMIN).await;
    browser.open(&app.url("/tenant-admin/connectors")).await;
    let row = format!("{TABLE}//tr[.//a[normalize-space()='Unknown hierarchy']]");
    browser.wait_for(&row).await;
    let text = browser.wait_for(&row).await.text().await.unwrap();
    assert!(text.contains(&hierarchy_id), "{text}");
    assert!(text.contains("not reported"), "{text}");
    browser
        .click(&format!("{row}//a[normalize-space()='Unknown hierarchy']"))
        .await;
    browser
        .wait_for("//h2[@id='connector-details' and normalize-space()='Unknown hierarchy']")
        .await;
    let badge = browser
        .wait_for(&format!(
            "{TABLE}//tr[contains(@class,'selected')]//span[contains(@class,'status-unknown')]"
        ))
        .await;
    let outlined = browser
        .client
        .execute(
            "const badge = getComputedStyle(arguments[0]); \
             const row = getComputedStyle(arguments[0].closest('tr')); \
             return badge.borderTopStyle === 'solid' && badge.borderTopWidth !== '0px' \
                 && badge.borderTopColor !== row.backgroundColor \
                 && badge.backgroundColor !== row.backgroundColor;",
            vec![serde_json::to_value(&badge).unwrap()],
        )
        .await
        .unwrap();
    assert_eq!(
        outlined,
        serde_json::Value::Bool(true),
        "the badge stands out on the selected row"
    );
    // The hierarchies come first, the tokens after them.
    let order = browser
        .client
        .execute(
            "const list = document.querySelector(\"table[aria-label='Configuration Manager hierarchies']\"); \
             const tokens = document.querySelector(\"section[aria-labelledby='onboarding-tokens']\"); \
             return !!(list.compareDocumentPosition(tokens) & Node.DOCUMENT_POSITION_FOLLOWING);",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        order,
        serde_json::Value::Bool(true),
        "tokens follow the list"
    );
    browser.finish(app).await;
}

#[tokio::test]
async fn the_connectivity_checks_a_site_reported_show_in_its_details() {
    use admin_api::{CheckResult, ConnectivityCheck};
    let app = spawn_app().await;
    let site = app
        .attach_site(HierarchyConfig::new("Contoso Plant", "PLT", 2207, 5, 62))
        .await;
    let check = |check: &str, result, message: Option<&str>| ConnectivityCheck {
        check: check.into(),
        result,
        checked_date_time: "2026-11-30T09:15:00Z".into(),
        message: message.map(str::to_owned),
    };
    let mut info = site.source().lock().await.site_info();
    info.connectivity_checks = Some(vec![
        check(
            "AdminService reachable over HTTPS",
            CheckResult::Passed,
            None,
        ),
        check(
            "Account may run client notifications",
            CheckResult::Failed,
            Some("None of the account's security roles grants Notify Resource on collections."),
        ),
        check(
            "Site version 1910 or later",
            CheckResult::Skipped,
            Some("Not checked: the site could not be read."),
        ),
    ]);
    site.client().report_site(&info).await.unwrap();

    let browser = Browser::signed_in(&app, crate::ADMIN).await;
    browser.open(&app.url("/tenant-admin/connectors")).await;
    browser
        .click(&format!("{TABLE}//a[normalize-space()='Contoso Plant']"))
        .await;
    browser
        .wait_for("//table[@aria-label='Connectivity checks']")
        .await;
    let rows = browser
        .text_of("table[aria-label='Connectivity checks'] tbody")
        .await;
    let rows: Vec<&str> = rows.lines().collect();
    assert_eq!(rows.len(), 3, "{rows:?}");
    assert!(
        rows[0].starts_with("AdminService reachable over HTTPS Passed") && rows[0].ends_with('—'),
        "{rows:?}"
    );
    assert!(
        rows[1].starts_with("Account may run client notifications Failed")
            && rows[1].ends_with("grants Notify Resource on collections."),
        "{rows:?}"
    );
    assert!(rows[2].contains("Not checked"), "{rows:?}");
    // The time reads as the details' other times do.
    assert!(rows[0].contains("2026-11-30 09:15 UTC"), "{rows:?}");
    // A site that reports none shows no checks.
    browser
        .click(&format!(
            "{TABLE}//a[normalize-space()='Contoso Headquarters']"
        ))
        .await;
    browser
        .wait_for("//h2[@id='connector-details' and normalize-space()='Contoso Headquarters']")
        .await;
    assert!(browser
        .client
        .find_all(Locator::Css("table[aria-label='Connectivity checks']"))
        .await
        .unwrap()
        .is_empty());
    browser.finish(app).await;
}
