//! Small things an operator notices on every load: a favicon, disabled labels that can be read,
//! and lists whose names are not all underlined.

use crate::browser::Browser;
use crate::spawn_app;

/// The contrast ratio (WCAG) of the element's text on its background, computed in the page; an
/// element's opacity fades its text toward its background.
const CONTRAST: &str = r#"
    const element = arguments[0];
    const style = getComputedStyle(element);
    const channels = (color) => color.match(/[\d.]+/g).slice(0, 3).map(Number);
    const opacity = Number(style.opacity);
    const background = channels(style.backgroundColor);
    const text = channels(style.color).map((c, i) => background[i] + (c - background[i]) * opacity);
    const luminance = (rgb) => {
        const [r, g, b] = rgb.map((c) => {
            const s = c / 255;
            return s <= 0.03928 ? s / 12.92 : Math.pow((s + 0.055) / 1.055, 2.4);
        });
        return 0.2126 * r + 0.7152 * g + 0.0722 * b;
    };
    const [a, b] = [luminance(text), luminance(background)];
    return (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
"#;

#[tokio::test]
async fn a_favicon_readable_disabled_labels_and_quiet_links() {
    let app = spawn_app().await;
    for (scheme, flag) in [
        ("light", "--blink-settings=preferredColorScheme=1"),
        ("dark", "--blink-settings=preferredColorScheme=0"),
    ] {
        let browser = Browser::signed_in_with(&app, crate::READER, &[flag]).await;
        browser.open(&app.url("/tenant-admin/connectors")).await;
        let button = browser
            .wait_for("//button[normalize-space()='Create onboarding token']")
            .await;
        assert!(!button.is_enabled().await.unwrap(), "a reader cannot");
        let ratio = browser
            .client
            .execute(CONTRAST, vec![serde_json::to_value(&button).unwrap()])
            .await
            .unwrap()
            .as_f64()
            .unwrap();
        assert!(
            ratio >= 4.5,
            "{scheme}: a disabled label's contrast is {ratio:.2}"
        );

        // The page names its icon, and the icon is served.
        let icon = browser
            .client
            .execute(
                "return document.querySelector('link[rel=icon]')?.href ?? null",
                vec![],
            )
            .await
            .unwrap();
        let icon = icon.as_str().expect("a link rel=icon");
        let response = app.api().get(icon).send().await.unwrap();
        assert_eq!(response.status(), 200, "{icon}");
        assert_eq!(response.headers()["content-type"], "image/svg+xml");

        // Device names are links, underlined only where pointed at.
        browser.open(&app.url("/devices")).await;
        let link = browser.wait_for("//table//tbody//td//a").await;
        let decoration = browser
            .client
            .execute(
                "return getComputedStyle(arguments[0]).textDecorationLine",
                vec![serde_json::to_value(&link).unwrap()],
            )
            .await
            .unwrap();
        assert_eq!(decoration, "none", "{scheme}");
        browser.close().await;
    }
    app.shut_down().await;
}
