//! The device's pages read live from its site, in Chromium: each tab from the device page (a link
//! that survives a reload), the reading and its time, resource explorer's filter and pages, a
//! CMPivot query run with Ctrl+Enter and its live state, a script run after its confirmation, the
//! reasons a page cannot be shown, hostile text (a query, a script's output) kept as text; light and
//! dark screenshots.

use fantoccini::key::Key;
use fantoccini::Locator;
use site_connector::hierarchy::{ClientState, PRINTER_NAME};
use site_connector::HierarchyConfig;

use crate::actions::{device, serving_site};
use crate::browser::Browser;
use crate::{spawn_app, ADMIN, READER};

fn tab(name: &str) -> String {
    format!("//nav[@aria-label='Device pages']//a[normalize-space()='{name}']")
}

#[tokio::test]
async fn each_page_reads_the_site_live_and_says_why_when_it_cannot() {
    let app = spawn_app().await;
    let (site, stop) = serving_site(&app).await;
    let (id, _) = device(&site, ClientState::Online).await;
    let (silent, _) = device(&site, ClientState::OfflineSilent).await;
    let serving = tokio::spawn(site.serve(stop.clone()));
    let browser = Browser::signed_in(&app, ADMIN).await;

    // Client details: a tab of the device page; its address survives a reload.
    browser.open(&app.url(&format!("/devices/{id}"))).await;
    browser.click(&tab("Client details")).await;
    browser
        .wait_for_url(&app.url(&format!("/devices/{id}?page=clientDetails")))
        .await;
    let online = "//dt[normalize-space()='Online now']/following-sibling::dd[starts-with(normalize-space(), 'Online since')]";
    browser.wait_for(online).await;
    browser
        .wait_for("//nav[@aria-label='Device pages']//a[@aria-current='page' and normalize-space()='Client details']")
        .await;
    browser
        .open(&app.url(&format!("/devices/{id}?page=clientDetails")))
        .await;
    browser.wait_for(online).await;
    browser
        .wait_for("//span[starts-with(normalize-space(), 'Read from the site at')]")
        .await;

    // Resource explorer: a section per class, large ones a page at a time, a filter over rows.
    browser.click(&tab("Resource explorer")).await;
    let software = "//section[@aria-label='Installed Software']";
    browser
        .wait_for(&format!(
            "{software}//span[starts-with(normalize-space(), 'Rows 1–25 of ')]"
        ))
        .await;
    browser
        .click(&format!("{software}//button[normalize-space()='Next']"))
        .await;
    browser
        .wait_for(&format!(
            "{software}//span[starts-with(normalize-space(), 'Rows 26–')]"
        ))
        .await;
    let filter = browser.wait_for("//input[@type='search']").await;
    filter.send_keys("Microsoft Edge").await.unwrap();
    browser
        .wait_for(&format!("{software}//p[normalize-space()='Rows 1–1 of 1']"))
        .await;
    browser
        .wait_for("//section[@aria-label='PC BIOS']//p[normalize-space()='No rows']")
        .await;

    // CMPivot: Ctrl+Enter runs the query; the result as a table; an error in words; the query,
    // hostile as it may be, kept among the recent ones as text.
    browser.click(&tab("CMPivot")).await;
    let query = browser.wait_for("//textarea[@id='cmpivot-query']").await;
    query
        .send_keys("Disk | project DeviceID, FreeSpace")
        .await
        .unwrap();
    query
        .send_keys(&format!(
            "{}{}",
            char::from(Key::Control),
            char::from(Key::Enter)
        ))
        .await
        .unwrap();
    browser
        .wait_for("//table[@aria-label='Query result']//td[normalize-space()='C:']")
        .await;
    let hostile = "OS | where Caption contains '<img src=x onerror=alert(1)>'";
    query.clear().await.unwrap();
    query.send_keys(hostile).await.unwrap();
    browser
        .click("//button[normalize-space()='Run' and not(@disabled)]")
        .await;
    let kept = browser
        .wait_for(&format!(
            "//ul[contains(@class, 'recent-queries')]//code[.=\"{hostile}\"]"
        ))
        .await;
    assert_eq!(kept.text().await.unwrap(), hostile);
    assert!(
        browser
            .client
            .find_all(Locator::Css("ul.recent-queries img"))
            .await
            .unwrap()
            .is_empty(),
        "the query is text, not markup"
    );
    query.clear().await.unwrap();
    query.send_keys("Bogus").await.unwrap();
    browser
        .click("//button[normalize-space()='Run' and not(@disabled)]")
        .await;
    browser
        .wait_for("//p[@role='alert' and contains(., \"could not resolve the entity 'Bogus'\")]")
        .await;

    // Scripts: the site's approved ones; Run asks first (Enter confirms), then the output.
    browser.click(&tab("Scripts")).await;
    browser
        .click(
            "//tr[td[1][normalize-space()='Get free disk space']]//button[normalize-space()='Run']",
        )
        .await;
    browser.wait_for("//div[@role='dialog']").await;
    browser
        .client
        .active_element()
        .await
        .unwrap()
        .send_keys(&char::from(Key::Enter).to_string())
        .await
        .unwrap();
    browser
        .wait_for("//section[@aria-label='Script output']//h3[contains(., 'exit code 0')]")
        .await;
    let output = browser.text_of("section.script-output pre").await;
    assert!(
        output.starts_with("C:  ") && output.contains("GB free of"),
        "{output}"
    );

    // Output that holds markup (a printer a user named so) is shown as the text it is.
    browser
        .click("//tr[td[1][normalize-space()='Show the last print job']]//button[normalize-space()='Run' and not(@disabled)]")
        .await;
    browser.wait_for("//div[@role='dialog']").await;
    browser
        .client
        .active_element()
        .await
        .unwrap()
        .send_keys(&char::from(Key::Enter).to_string())
        .await
        .unwrap();
    browser
        .wait_for(
            "//section[@aria-label='Script output']//h3[contains(., 'Show the last print job')]",
        )
        .await;
    let output = browser.text_of("section.script-output pre").await;
    assert!(
        output.contains(PRINTER_NAME) && output.starts_with("<Event>"),
        "{output}"
    );
    assert!(
        browser
            .client
            .find_all(Locator::Css("section.script-output img"))
            .await
            .unwrap()
            .is_empty(),
        "the output is text, not markup"
    );

    // A device that never answers: the query's live state says it runs on the device.
    browser
        .open(&app.url(&format!("/devices/{silent}?page=cmpivot")))
        .await;
    let query = browser.wait_for("//textarea[@id='cmpivot-query']").await;
    query.send_keys("OS").await.unwrap();
    browser
        .click("//button[normalize-space()='Run' and not(@disabled)]")
        .await;
    browser
        .wait_for("//p[@role='status' and normalize-space()='Running on the device…']")
        .await;
    browser.close().await;

    // A reader: CMPivot says which permission it needs.
    let reader = Browser::signed_in(&app, READER).await;
    reader
        .open(&app.url(&format!("/devices/{id}?page=cmpivot")))
        .await;
    reader
        .wait_for("//textarea[@id='cmpivot-query' and @disabled]")
        .await;
    reader
        .wait_for("//p[@id='cmpivot-not-allowed' and normalize-space()='Requires Remote tasks › Run CMPivot query']")
        .await;
    reader.close().await;

    // A site older than the page needs: said, with both versions.
    let old = app
        .attach_site(HierarchyConfig::new("Contoso Legacy", "OLD", 2002, 5, 9))
        .await;
    let (old_device, _) = device(&old, ClientState::Online).await;
    let browser = Browser::signed_in(&app, ADMIN).await;
    browser
        .open(&app.url(&format!("/devices/{old_device}?page=resourceExplorer")))
        .await;
    browser
        .wait_for("//p[@role='alert' and normalize-space()=\"The device's site runs Configuration Manager 2002; Resource explorer needs version 2006 or later.\"]")
        .await;
    browser.close().await;
    stop.cancel();
    serving.await.unwrap();
    app.shut_down().await;
}

#[tokio::test]
async fn the_pages_render_in_light_and_dark() {
    let app = spawn_app().await;
    let (site, stop) = serving_site(&app).await;
    let (id, _) = device(&site, ClientState::Online).await;
    let serving = tokio::spawn(site.serve(stop.clone()));
    for (scheme, flag) in [
        ("light", "--blink-settings=preferredColorScheme=1"),
        ("dark", "--blink-settings=preferredColorScheme=0"),
    ] {
        let browser = Browser::signed_in_with(&app, ADMIN, &[flag, "--window-size=1280,900"]).await;
        for (page, ready) in [
            ("clientDetails", "//dt[normalize-space()='Online now']"),
            (
                "resourceExplorer",
                "//section[@aria-label='Installed Software']//table",
            ),
            (
                "scripts",
                "//tr[td[1][normalize-space()='Get free disk space']]",
            ),
        ] {
            browser
                .open(&app.url(&format!("/devices/{id}?page={page}")))
                .await;
            browser.wait_for(ready).await;
            browser
                .screenshot(&format!("device-{page}-{scheme}.png"))
                .await;
        }
        browser
            .open(&app.url(&format!("/devices/{id}?page=cmpivot")))
            .await;
        let query = browser.wait_for("//textarea[@id='cmpivot-query']").await;
        query
            .send_keys("InstalledSoftware | project ProductName, Publisher | take 8")
            .await
            .unwrap();
        browser
            .click("//button[normalize-space()='Run' and not(@disabled)]")
            .await;
        browser
            .wait_for("//table[@aria-label='Query result']//tbody/tr")
            .await;
        browser
            .screenshot(&format!("device-cmpivot-{scheme}.png"))
            .await;
        browser.close().await;
    }
    stop.cancel();
    serving.await.unwrap();
    app.shut_down().await;
}
