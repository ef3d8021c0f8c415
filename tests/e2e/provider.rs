//! Signing in through the organization's provider in the browser: its own login page (npm's
//! oidc-provider, a real OpenID Provider) and back to the page asked for.

use admin_server::testing::oidc::{free_port, TestProvider};
use admin_server::testing::{no_wrap, TestServer};
use serde_json::json;

use crate::browser::Browser;

#[tokio::test]
async fn a_user_signs_in_on_the_providers_page_and_comes_back_to_the_page_asked_for() {
    let (app_port, provider_port) = (free_port(), free_port());
    let public_url = format!("http://127.0.0.1:{app_port}");
    let secret = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(secret.path(), "the client's secret").unwrap();
    let provider = TestProvider::start_on(
        provider_port,
        json!([{
            "client_id": "attach-center",
            "client_secret": "the client's secret",
            "redirect_uris": [format!("{public_url}/api/v1/session/oidc/callback")],
            "post_logout_redirect_uris": [format!("{public_url}/signin")],
        }]),
        json!({
            "hal": { "name": "Hal Helpdesk", "upn": "hal@contoso.example", "roles": ["AttachCenter.HelpDesk"] },
            "nora": { "name": "Nora Newcomer", "upn": "nora@contoso.example", "roles": ["Unassigned.Group"] },
        }),
    )
    .await;
    let server = TestServer::start(
        Some(crate::helpers::dist()),
        |config| {
            config.listen = ([127, 0, 0, 1], app_port).into();
            config.oidc_issuer = Some(provider.issuer.clone());
            config.oidc_client_id = Some("attach-center".into());
            config.oidc_client_secret_file = Some(secret.path().to_owned());
            config.public_url = Some(public_url.clone());
            config.oidc_display_name = "Contoso".into();
        },
        no_wrap(),
    )
    .await;
    server
        .server()
        .state
        .store
        .assign_claim_value(
            admin_api::identity::HELP_DESK_OPERATOR,
            "AttachCenter.HelpDesk",
            &admin_server::store::audit::Actor::command_line(),
            time::OffsetDateTime::now_utc(),
        )
        .await
        .unwrap();

    let browser = Browser::start().await;
    browser
        .open(&format!("{public_url}/devices?sort=deviceName"))
        .await;
    // The sign-in page offers the provider above the local form.
    browser
        .click(
            "//a[contains(@class,'sign-in-provider') and normalize-space()='Sign in with Contoso']",
        )
        .await;
    // The provider's own login page, then its consent page.
    let login = browser.wait_for("//input[@name='login']").await;
    login.send_keys("hal").await.unwrap();
    let password = browser.wait_for("//input[@name='password']").await;
    password.send_keys("any password").await.unwrap();
    browser.click("//button[@type='submit']").await;
    browser
        .click("//button[normalize-space()='Continue']")
        .await;
    browser
        .wait_for_url(&format!("{public_url}/devices?sort=deviceName"))
        .await;
    assert_eq!(browser.text_of(".user-name").await, "Hal Helpdesk");
    assert_eq!(
        browser.text_of(".user-roles").await,
        admin_api::identity::HELP_DESK_OPERATOR
    );
    // Signing out ends the provider's session too: its confirmation, then the sign-in page.
    browser
        .click("//button[normalize-space()='Sign out']")
        .await;
    browser
        .click("//button[@name='logout' or normalize-space()='Yes, sign me out']")
        .await;
    browser.wait_for_url(&format!("{public_url}/signin")).await;
    browser.close().await;

    // A user none of whose values is assigned a role is told so plainly, and sees no page.
    let browser = Browser::start().await;
    browser.open(&format!("{public_url}/devices")).await;
    browser
        .click("//a[contains(@class,'sign-in-provider')]")
        .await;
    let login = browser.wait_for("//input[@name='login']").await;
    login.send_keys("nora").await.unwrap();
    let password = browser.wait_for("//input[@name='password']").await;
    password.send_keys("any password").await.unwrap();
    browser.click("//button[@type='submit']").await;
    browser
        .click("//button[normalize-space()='Continue']")
        .await;
    browser.wait_for_url(&format!("{public_url}/devices")).await;
    assert_eq!(
        browser.text_of(".no-role p").await,
        "Your account has no role in Attach Center. Ask a tenant administrator to assign one to a group you are in."
    );
    assert_eq!(browser.text_of(".user-name").await, "Nora Newcomer");
    let page_hidden = browser
        .client
        .execute(
            "return document.querySelector('.content .page').hidden",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(page_hidden, serde_json::Value::Bool(true));
    browser.close().await;
    let mut server = server;
    server.stop().await;
}
