//! All devices: sort, search, filter chips, paging, the column chooser, export, bulk actions,
//! back/forward and reload — each checked against the API of the same server.

use std::time::Duration;

use admin_api::{Collection, Device, DeviceAction};
use fantoccini::Locator;
use site_connector::HierarchyConfig;
use tokio_util::sync::CancellationToken;

use crate::browser::Browser;
use crate::{spawn_app, TestApp};

async fn api_page(app: &TestApp, query: &str) -> Collection<Device> {
    app.api()
        .get(app.url(&format!("/api/v1/devices?$top=50&$count=true&{query}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn shown_names(browser: &Browser) -> Vec<String> {
    let cells = browser
        .client
        .find_all(Locator::Css(
            "table[aria-label='All devices'] tbody tr td:nth-child(2)",
        ))
        .await
        .unwrap();
    let mut names = Vec::new();
    for cell in cells {
        names.push(cell.text().await.unwrap());
    }
    names
}

fn names(page: &Collection<Device>) -> Vec<String> {
    page.value.iter().map(|d| d.device_name.clone()).collect()
}

async fn summary_is(browser: &Browser, text: &str) {
    browser
        .wait_for(&format!(
            "//p[contains(@class,'summary') and normalize-space()='{text}']"
        ))
        .await;
}

async fn query_of(browser: &Browser) -> String {
    browser
        .client
        .current_url()
        .await
        .unwrap()
        .query()
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn sorting_by_a_header_matches_the_api_both_ways() {
    let app = spawn_app().await;
    let browser = Browser::signed_in(&app, crate::ADMIN).await;
    browser.open(&app.url("/devices")).await;
    summary_is(&browser, "1–50 of 360 devices").await;
    let header = "//th[button[contains(normalize-space(),'Last check-in')]]";
    browser.click(&format!("{header}/button")).await;
    browser
        .wait_for("//th[@aria-sort='ascending' and button[contains(.,'Last check-in')]]")
        .await;
    assert!(query_of(&browser)
        .await
        .contains("sort=lastSyncDateTime%20asc"));
    let expected = names(&api_page(&app, "$orderby=lastSyncDateTime%20asc").await);
    assert_eq!(shown_names(&browser).await, expected);

    browser.click(&format!("{header}/button")).await;
    browser
        .wait_for("//th[@aria-sort='descending' and button[contains(.,'Last check-in')]]")
        .await;
    let expected = names(&api_page(&app, "$orderby=lastSyncDateTime%20desc").await);
    browser
        .wait_for(&format!(
            "//table[@aria-label='All devices']//tbody/tr[1]/td[2][normalize-space()='{}']",
            expected[0]
        ))
        .await;
    assert_eq!(shown_names(&browser).await, expected);
    browser.finish(app).await;
}

#[tokio::test]
async fn search_and_filter_chips_live_in_the_url_through_reload_and_back() {
    let app = spawn_app().await;
    let browser = Browser::signed_in(&app, crate::ADMIN).await;
    browser.open(&app.url("/devices")).await;
    summary_is(&browser, "1–50 of 360 devices").await;

    let search = browser
        .wait_for("//input[@aria-label='Search devices']")
        .await;
    search.send_keys("CHQ-LT").await.unwrap();
    let by_search = api_page(&app, "$search=%22CHQ-LT%22").await;
    let total = by_search.count.unwrap();
    summary_is(
        &browser,
        &format!("1–{} of {total} devices", by_search.value.len()),
    )
    .await;
    assert!(query_of(&browser).await.contains("search=CHQ-LT"));

    browser.click("//button[normalize-space()='Filter']").await;
    browser
        .click("//fieldset[legend='Managed by']//label[normalize-space()='Co-managed']/input")
        .await;
    browser
        .wait_for("//button[@aria-label='Remove filter Managed by: Co-managed']")
        .await;
    let both = api_page(
        &app,
        "$search=%22CHQ-LT%22&$filter=managedBy%20in%20('coManaged')",
    )
    .await;
    let expected = format!("1–{} of {} devices", both.value.len(), both.count.unwrap());
    summary_is(&browser, &expected).await;
    assert_eq!(shown_names(&browser).await, names(&both));

    // A reload keeps the view.
    browser.client.refresh().await.unwrap();
    summary_is(&browser, &expected).await;
    browser
        .wait_for("//button[@aria-label='Remove filter Managed by: Co-managed']")
        .await;
    let value = browser
        .wait_for("//input[@aria-label='Search devices']")
        .await
        .prop("value")
        .await
        .unwrap();
    assert_eq!(value.as_deref(), Some("CHQ-LT"));

    // Removing the chip widens the view; back brings the chip back.
    browser
        .click("//button[@aria-label='Remove filter Managed by: Co-managed']")
        .await;
    summary_is(
        &browser,
        &format!("1–{} of {total} devices", by_search.value.len()),
    )
    .await;
    browser.client.back().await.unwrap();
    summary_is(&browser, &expected).await;
    browser.client.forward().await.unwrap();
    summary_is(
        &browser,
        &format!("1–{} of {total} devices", by_search.value.len()),
    )
    .await;

    // Nothing matches: the empty state says so.
    browser
        .open(&app.url("/devices?search=no-such-device"))
        .await;
    browser
        .wait_for("//h2[normalize-space()='No devices match']")
        .await;

    // The hierarchy filter offers the attached hierarchies.
    browser.open(&app.url("/devices")).await;
    browser.click("//button[normalize-space()='Filter']").await;
    browser
        .click("//fieldset[legend='Hierarchy']//label[normalize-space()='Contoso Europe']/input")
        .await;
    summary_is(&browser, "1–50 of 120 devices").await;
    browser
        .wait_for("//button[@aria-label='Remove filter Hierarchy: Contoso Europe']")
        .await;
    browser.finish(app).await;
}

#[tokio::test]
async fn pages_follow_the_api_and_back_returns_to_the_first() {
    let app = spawn_app().await;
    let browser = Browser::signed_in(&app, crate::ADMIN).await;
    browser.open(&app.url("/devices")).await;
    summary_is(&browser, "1–50 of 360 devices").await;
    let first = api_page(&app, "").await;
    let token = first
        .next_link
        .as_deref()
        .unwrap()
        .split("$skiptoken=")
        .nth(1)
        .unwrap()
        .to_owned();
    let second = api_page(&app, &format!("$skiptoken={token}")).await;
    browser
        .click("//nav[@aria-label='Pages']//button[normalize-space()='Next']")
        .await;
    browser
        .wait_for(&format!(
            "//table[@aria-label='All devices']//tbody/tr[1]/td[2][normalize-space()='{}']",
            second.value[0].device_name
        ))
        .await;
    assert_eq!(shown_names(&browser).await, names(&second));
    assert!(query_of(&browser).await.contains("page="));
    // The page is in the URL: a reload shows the same page.
    browser.client.refresh().await.unwrap();
    browser
        .wait_for(&format!(
            "//table[@aria-label='All devices']//tbody/tr[1]/td[2][normalize-space()='{}']",
            second.value[0].device_name
        ))
        .await;
    browser.client.back().await.unwrap();
    browser
        .wait_for(&format!(
            "//table[@aria-label='All devices']//tbody/tr[1]/td[2][normalize-space()='{}']",
            first.value[0].device_name
        ))
        .await;
    assert_eq!(shown_names(&browser).await, names(&first));

    // Next twice, then Previous: the position says where, Previous walks back through the pages
    // seen, also after a reload.
    let next = "//nav[@aria-label='Pages']//button[normalize-space()='Next']";
    let previous = "//nav[@aria-label='Pages']//button[normalize-space()='Previous']";
    assert!(!browser.wait_for(previous).await.is_enabled().await.unwrap());
    browser.click(next).await;
    summary_is(&browser, "51–100 of 360 devices").await;
    browser.click(next).await;
    summary_is(&browser, "101–150 of 360 devices").await;
    browser.client.refresh().await.unwrap();
    summary_is(&browser, "101–150 of 360 devices").await;
    browser.click(previous).await;
    summary_is(&browser, "51–100 of 360 devices").await;
    assert_eq!(shown_names(&browser).await, names(&second));
    browser.click(previous).await;
    summary_is(&browser, "1–50 of 360 devices").await;
    assert_eq!(shown_names(&browser).await, names(&first));

    // A page size of 100, kept in the URL.
    let size = browser.wait_for("//nav[@aria-label='Pages']//select").await;
    size.select_by_value("100").await.unwrap();
    summary_is(&browser, "1–100 of 360 devices").await;
    assert!(query_of(&browser).await.contains("size=100"));
    browser.client.refresh().await.unwrap();
    summary_is(&browser, "1–100 of 360 devices").await;
    browser.click(next).await;
    summary_is(&browser, "101–200 of 360 devices").await;
    browser.finish(app).await;
}

#[tokio::test]
async fn chosen_columns_survive_a_reload_and_shape_the_export() {
    let app = spawn_app().await;
    let browser = Browser::signed_in(&app, crate::ADMIN).await;
    browser.open(&app.url("/devices?search=EUR")).await;
    browser.click("//button[normalize-space()='Columns']").await;
    browser
        .click("//section[@aria-label='Columns']//label[normalize-space()='Serial number']/input")
        .await;
    browser
        .click("//section[@aria-label='Columns']//label[normalize-space()='OS version']/input")
        .await;
    browser
        .wait_for("//th/button[normalize-space()='Serial number']")
        .await;
    browser.client.refresh().await.unwrap();
    browser
        .wait_for("//th/button[normalize-space()='Serial number']")
        .await;
    assert!(browser
        .client
        .find(Locator::XPath(
            "//th/button[normalize-space()='OS version']"
        ))
        .await
        .is_err());

    // The browser downloads it, as an operator's would: compressed on the way (Chromium sends
    // Accept-Encoding), saved whole.
    browser.click("//a[normalize-space()='Export']").await;
    let csv = String::from_utf8(browser.downloaded("devices.csv").await).unwrap();
    let mut lines = csv.lines();
    assert_eq!(
        lines.next().unwrap(),
        "deviceName,managedBy,ownerType,complianceState,operatingSystem,userPrincipalName,lastSyncDateTime,serialNumber"
    );
    let matching = api_page(&app, "$search=%22EUR%22").await;
    let rows: Vec<&str> = lines.collect();
    assert_eq!(
        rows.len() as u64,
        matching.count.unwrap(),
        "every matching device, not one page"
    );
    let first = &matching.value[0];
    assert!(
        rows[0].starts_with(&first.device_name)
            && rows[0].ends_with(first.serial_number.as_deref().unwrap())
    );
    browser.finish(app).await;
}

#[tokio::test]
async fn a_bulk_action_gives_each_selected_device_its_own_action() {
    let app = spawn_app().await;
    let mut config = HierarchyConfig::new("Contoso Branch", "BRA", 2207, 20, 41);
    config.latency = (Duration::ZERO, Duration::ZERO);
    config.offline_share = 0.0;
    let site = app.attach_site(config).await;
    let stop = CancellationToken::new();
    let serving = tokio::spawn(site.serve(stop.clone()));
    let browser = Browser::signed_in(&app, crate::ADMIN).await;
    browser.open(&app.url("/devices?search=BRA-")).await;
    summary_is(&browser, "1–20 of 20 devices").await;
    let chosen: Vec<String> = shown_names(&browser).await.into_iter().take(3).collect();
    for name in &chosen {
        browser
            .click(&format!("//input[@aria-label='Select {name}']"))
            .await;
    }
    browser
        .wait_for("//div[@aria-label='Bulk actions']/span[normalize-space()='3 selected']")
        .await;
    browser
        .click("//div[@aria-label='Bulk actions']/button[normalize-space()='Sync Machine Policy']")
        .await;
    browser
        .click(
            "//div[@role='dialog']//button[normalize-space()='Sync Machine Policy on 3 devices']",
        )
        .await;
    browser
        .wait_for("//div[@role='status']//span[normalize-space()='Sync Machine Policy requested for 3 devices']")
        .await;
    let page = api_page(&app, "$search=%22BRA-%22").await;
    for device in page.value.iter() {
        let actions: Collection<DeviceAction> = app
            .api()
            .get(app.url(&format!("/api/v1/devices/{}/deviceActions", device.id)))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let expected = usize::from(chosen.contains(&device.device_name));
        assert_eq!(actions.value.len(), expected, "{}", device.device_name);
    }
    stop.cancel();
    serving.await.unwrap();
    browser.finish(app).await;
}

#[tokio::test]
async fn uploaded_markup_renders_as_text() {
    let app = spawn_app().await;
    let site = app
        .attach_site(HierarchyConfig::new("Contoso Branch", "BRA", 2207, 3, 51))
        .await;
    let evil = "<img src=x onerror=\"window.__xss=1\">";
    let mut device = site.source().lock().await.devices_in_scope()[0].clone();
    device.device_name = evil.into();
    device.model = Some("<script>window.__xss=2</script>".into());
    site.upload_delta(&admin_api::protocol::DeviceDelta {
        upserts: vec![device.clone()],
        removals: vec![],
    })
    .await
    .unwrap();
    let browser = Browser::signed_in(&app, crate::ADMIN).await;
    browser.open(&app.url("/devices?search=onerror")).await;
    summary_is(&browser, "1–1 of 1 devices").await;
    assert_eq!(shown_names(&browser).await, vec![evil.to_owned()]);
    browser
        .open(&app.url(&format!("/devices/{}", device.id)))
        .await;
    let heading = browser.text_of("h1").await;
    assert_eq!(heading, evil);
    browser
        .wait_for("//dd[normalize-space()='<script>window.__xss=2</script>']")
        .await;
    let ran = browser
        .client
        .execute("return window.__xss === undefined", vec![])
        .await
        .unwrap();
    assert_eq!(ran, serde_json::Value::Bool(true), "no uploaded markup ran");
    browser.finish(app).await;
}

/// A live refresh redraws the rows whose content changed and keeps the others as they are (rows
/// are keyed): the row under the keyboard focus is the same element afterwards, still focused,
/// and the changed row shows its new content.
#[tokio::test]
async fn a_live_refresh_redraws_changed_rows_and_keeps_the_rest() {
    let app = spawn_app().await;
    let site = app
        .attach_site(HierarchyConfig::new("Keyed Rows", "KRW", 2207, 4, 52))
        .await;
    let devices = site.source().lock().await.devices_in_scope();
    let (kept, changed) = (&devices[0], &devices[1]);
    let browser = Browser::signed_in(&app, crate::ADMIN).await;
    browser.open(&app.url("/devices?search=KRW-")).await;
    summary_is(&browser, "1–4 of 4 devices").await;
    let marked = browser
        .client
        .execute(
            r#"
            const rows = [...document.querySelectorAll("table[aria-label='All devices'] tbody tr")];
            const row = name => rows.find(r => r.querySelector("a")?.textContent === name);
            row(arguments[0]).dataset.mark = "kept";
            row(arguments[1]).dataset.mark = "changed";
            document.querySelector("tr[data-mark='kept'] input[type=checkbox]").focus();
            return document.activeElement.type;
            "#,
            vec![
                serde_json::json!(kept.device_name),
                serde_json::json!(changed.device_name),
            ],
        )
        .await
        .unwrap();
    assert_eq!(marked, serde_json::json!("checkbox"));

    let mut update = changed.clone();
    update.os_version = Some("10.0.99999.1".into());
    site.upload_delta(&admin_api::protocol::DeviceDelta {
        upserts: vec![update],
        removals: vec![],
    })
    .await
    .unwrap();
    let redrawn = browser
        .wait_for("//table[@aria-label='All devices']//tr[td[normalize-space()='10.0.99999.1']]")
        .await;
    assert_eq!(
        redrawn.attr("data-mark").await.unwrap(),
        None,
        "the changed row is drawn again"
    );
    let kept_as_it_was = browser
        .client
        .execute(
            r#"
            const row = document.querySelector("tr[data-mark='kept']");
            return row !== null && row.querySelector("a").textContent === arguments[0]
                && row.contains(document.activeElement) && document.activeElement.type === "checkbox";
            "#,
            vec![serde_json::json!(kept.device_name)],
        )
        .await
        .unwrap();
    assert_eq!(
        kept_as_it_was,
        serde_json::json!(true),
        "the unchanged row is the same element, still focused"
    );
    browser.finish(app).await;
}
