use admin_server::query::devices::DeviceQuery;
use fantoccini::Locator;

use crate::browser::Browser;
use crate::spawn_app;

/// An XPath string literal for `text` (device names have no quotes of both kinds).
fn literal(text: &str) -> String {
    if text.contains('\'') {
        format!("\"{text}\"")
    } else {
        format!("'{text}'")
    }
}

#[tokio::test]
async fn all_devices_lists_the_devices_in_the_database() {
    let app = spawn_app().await;
    let stored = app
        .server()
        .store()
        .list_devices(&DeviceQuery::default(), None, 50, true)
        .await
        .unwrap();
    assert_eq!(stored.devices.len(), 50);

    let browser = Browser::signed_in(&app, crate::ADMIN).await;
    browser.open(&app.url("/devices")).await;
    browser
        .text_of("table.grid[aria-label='All devices'] tbody tr")
        .await;
    let rows = browser
        .client
        .find_all(Locator::Css(
            "table.grid[aria-label='All devices'] tbody tr td:nth-child(2)",
        ))
        .await
        .unwrap();
    let mut shown = Vec::new();
    for cell in rows {
        shown.push(cell.text().await.unwrap());
    }
    let expected: Vec<String> = stored
        .devices
        .iter()
        .map(|d| d.device_name.clone())
        .collect();
    assert_eq!(shown, expected, "the first page, in the server's order");
    let summary = browser.text_of(".summary").await;
    assert_eq!(
        summary,
        format!("1–50 of {} devices", stored.count.unwrap())
    );

    browser.finish(app).await;
}

#[tokio::test]
async fn a_device_deep_link_renders_on_a_fresh_load() {
    let app = spawn_app().await;
    let device = app
        .server()
        .store()
        .list_devices(&DeviceQuery::default(), None, 7, false)
        .await
        .unwrap()
        .devices
        .pop()
        .unwrap();

    let browser = Browser::signed_in(&app, crate::ADMIN).await;
    browser
        .open(&app.url(&format!("/devices/{}", device.id)))
        .await;
    browser
        .wait_for(&format!(
            "//h1[normalize-space()={}]",
            literal(&device.device_name)
        ))
        .await;
    let essentials = browser.text_of("section.essentials").await;
    assert!(
        essentials.contains(device.serial_number.as_deref().unwrap()),
        "{essentials}"
    );
    assert!(
        essentials.contains(device.hierarchy_name.as_deref().unwrap()),
        "{essentials}"
    );
    let crumb = browser.text_of(".breadcrumb li[aria-current='page']").await;
    assert_eq!(crumb, device.device_name);
    assert_eq!(
        browser.client.title().await.unwrap(),
        format!("{} · Attach Center", device.device_name)
    );

    browser.finish(app).await;
}

#[tokio::test]
async fn an_unknown_device_shows_a_not_found_page() {
    let app = spawn_app().await;
    let browser = Browser::signed_in(&app, crate::ADMIN).await;
    browser.open(&app.url("/devices/no-such-device")).await;
    browser
        .wait_for("//h1[normalize-space()='Device not found']")
        .await;
    let text = browser.text_of(".empty-state").await;
    assert!(text.contains("no-such-device"), "{text}");

    browser.open(&app.url("/no/such/page")).await;
    browser
        .wait_for("//h1[normalize-space()='Page not found']")
        .await;

    browser.finish(app).await;
}

#[tokio::test]
async fn a_row_opens_the_device_overview_and_back_returns_to_the_list() {
    let app = spawn_app().await;
    let first = app
        .server()
        .store()
        .list_devices(&DeviceQuery::default(), None, 1, false)
        .await
        .unwrap()
        .devices
        .remove(0);
    let browser = Browser::signed_in(&app, crate::ADMIN).await;
    browser.open(&app.url("/devices")).await;
    browser
        .click(&format!(
            "//table//a[normalize-space()={}]",
            literal(&first.device_name)
        ))
        .await;
    browser
        .wait_for(&format!(
            "//h1[normalize-space()={}]",
            literal(&first.device_name)
        ))
        .await;
    browser
        .wait_for_url(&app.url(&format!("/devices/{}", first.id)))
        .await;
    browser.client.back().await.unwrap();
    browser
        .wait_for("//h1[normalize-space()='All devices']")
        .await;
    browser.finish(app).await;
}
