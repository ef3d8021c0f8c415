//! The views in light and dark, and All devices on a narrow window: rendered, checked, and
//! saved as screenshots (under the tests' target folder; `docs/` has copies that were looked at).

use admin_server::query::devices::DeviceQuery;
use fantoccini::Locator;

use crate::browser::Browser;
use crate::spawn_app;

/// The page's background brightness (0–255), from its computed style.
async fn background_brightness(browser: &Browser) -> f64 {
    let color = browser
        .client
        .execute(
            "return getComputedStyle(document.documentElement).backgroundColor",
            vec![],
        )
        .await
        .unwrap();
    let color = color.as_str().unwrap().to_owned();
    let channels: Vec<f64> = color
        .trim_start_matches("rgba(")
        .trim_start_matches("rgb(")
        .trim_end_matches(')')
        .split(',')
        .take(3)
        .map(|c| c.trim().parse().unwrap())
        .collect();
    channels.iter().sum::<f64>() / 3.0
}

#[tokio::test]
async fn the_views_render_in_light_and_dark_and_on_a_narrow_window() {
    let app = spawn_app().await;
    let device = app
        .server()
        .store()
        .list_devices(&DeviceQuery::default(), None, 1, false)
        .await
        .unwrap()
        .devices
        .remove(0);
    let views = [
        (
            "all-devices",
            "/devices".to_owned(),
            "//table[@aria-label='All devices']//tbody/tr".to_owned(),
        ),
        (
            "device-overview",
            format!("/devices/{}", device.id),
            format!("//h1[normalize-space()='{}']", device.device_name),
        ),
        (
            "connectors",
            "/tenant-admin/connectors?id=".to_owned() + &connector_id(&app).await,
            "//section[@aria-labelledby='connector-details']".to_owned(),
        ),
        (
            "audit-logs",
            "/tenant-admin/audit-logs".to_owned(),
            "//table[@aria-label='Audit events']//tbody/tr".to_owned(),
        ),
    ];
    for (scheme, flag, dark) in [
        ("light", "--blink-settings=preferredColorScheme=1", false),
        ("dark", "--blink-settings=preferredColorScheme=0", true),
    ] {
        let browser = Browser::signed_in_with(&app, crate::ADMIN, &[flag]).await;
        for (name, path, ready) in &views {
            browser.open(&app.url(path)).await;
            browser.wait_for(ready).await;
            let brightness = background_brightness(&browser).await;
            assert_eq!(
                brightness < 100.0,
                dark,
                "{name} in {scheme}: background {brightness}"
            );
            browser.screenshot(&format!("{name}-{scheme}.png")).await;
        }
        browser.close().await;
    }

    let narrow = Browser::signed_in_with(&app, crate::ADMIN, &["--window-size=420,860"]).await;
    narrow.open(&app.url("/devices")).await;
    narrow
        .wait_for("//table[@aria-label='All devices']//tbody/tr")
        .await;
    let nav = narrow.client.find(Locator::Id("left-nav")).await.unwrap();
    assert!(
        !nav.is_displayed().await.unwrap(),
        "the navigation folds away"
    );
    narrow
        .click("//button[@aria-label='Show navigation']")
        .await;
    assert!(
        nav.is_displayed().await.unwrap(),
        "the menu button opens it"
    );
    narrow.screenshot("all-devices-narrow.png").await;
    narrow.close().await;

    let signed_out = Browser::start().await;
    signed_out.open(&app.url("/devices")).await;
    signed_out
        .wait_for("//h1[normalize-space()='Sign in']")
        .await;
    signed_out.screenshot("sign-in.png").await;
    signed_out.close().await;
    app.shut_down().await;
}

async fn connector_id(app: &crate::TestApp) -> String {
    app.server()
        .store()
        .connectors(time::OffsetDateTime::now_utc(), time::Duration::minutes(1))
        .await
        .unwrap()
        .into_iter()
        .find(|c| c.site_code.as_deref() == Some("CHQ"))
        .unwrap()
        .id
}
