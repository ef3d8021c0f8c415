//! Signing in through the organization's provider in the browser: its own login page (npm's
//! oidc-provider, a real OpenID Provider) and back to the page asked for.

use admin_server::testing::oidc::{free_port, TestProvider};
use admin_server::testing::{no_wrap, TestServer};
use serde_json::json;

use crate::browser::Browser;

/// The admin center on a port of its own, a client of a provider with these `accounts` (its
/// redirect, post-logout and back-channel logout addresses registered); the secret's file lives as
/// long as the server needs it.
struct WithProvider {
    server: TestServer,
    provider: TestProvider,
    public_url: String,
    _secret: tempfile::NamedTempFile,
}

async fn with_provider(accounts: serde_json::Value) -> WithProvider {
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
            "backchannel_logout_uri": format!("{public_url}/api/v1/session/oidc/backchannel-logout"),
            "backchannel_logout_session_required": true,
        }]),
        accounts,
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
    WithProvider {
        server,
        provider,
        public_url,
        _secret: secret,
    }
}

/// On the provider's own pages: its login form as `login` (any password), then its consent.
async fn sign_in_at_provider(browser: &Browser, login: &str) {
    let field = browser.wait_for("//input[@name='login']").await;
    field.send_keys(login).await.unwrap();
    let password = browser.wait_for("//input[@name='password']").await;
    password.send_keys("any password").await.unwrap();
    browser.click("//button[@type='submit']").await;
    browser
        .click("//button[normalize-space()='Continue']")
        .await;
}

#[tokio::test]
async fn a_user_signs_in_on_the_providers_page_and_comes_back_to_the_page_asked_for() {
    let WithProvider {
        server,
        provider,
        public_url,
        _secret,
    } = with_provider(json!({
        "hal": { "name": "Hal Helpdesk", "upn": "hal@contoso.example", "roles": ["AttachCenter.HelpDesk"] },
        "nora": { "name": "Nora Newcomer", "upn": "nora@contoso.example", "roles": ["Unassigned.Group"] },
    }))
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
    sign_in_at_provider(&browser, "hal").await;
    browser
        .wait_for_url(&format!("{public_url}/devices?sort=deviceName"))
        .await;
    assert_eq!(browser.text_of(".user-name").await, "Hal Helpdesk");
    assert_eq!(
        browser.text_of(".user-roles").await,
        admin_api::identity::HELP_DESK_OPERATOR
    );
    assert_eq!(
        browser.text_of(".user-provider").await,
        "Signed in through Contoso"
    );
    // Signing out at the provider itself (as from another application) ends the session here
    // by the provider's back-channel logout: the next page asks to sign in.
    browser
        .open(&format!("{}/session/end", provider.issuer))
        .await;
    browser
        .click("//button[@name='logout' or normalize-space()='Yes, sign me out']")
        .await;
    browser
        .wait_for("//h1[normalize-space()='Sign-out Success']")
        .await;
    browser.open(&format!("{public_url}/devices")).await;
    browser
        .click("//a[contains(@class,'sign-in-provider')]")
        .await;
    // The provider's session ended too: its login page again.
    sign_in_at_provider(&browser, "hal").await;
    browser.wait_for_url(&format!("{public_url}/devices")).await;
    assert_eq!(browser.text_of(".user-name").await, "Hal Helpdesk");
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
    sign_in_at_provider(&browser, "nora").await;
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

/// With local sign-in off, the sign-in page offers the provider alone: no password form.
#[tokio::test]
async fn with_local_sign_in_off_the_page_offers_the_provider_alone() {
    let provider_port = free_port();
    let secret = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(secret.path(), "the client's secret").unwrap();
    let server = TestServer::start(
        Some(crate::helpers::dist()),
        |config| {
            config.oidc_issuer = Some(format!("http://127.0.0.1:{provider_port}"));
            config.oidc_client_id = Some("attach-center".into());
            config.oidc_client_secret_file = Some(secret.path().to_owned());
            config.public_url = Some("http://127.0.0.1:9".into());
            config.oidc_display_name = "Contoso".into();
            config.local_sign_in = admin_server::config::Switch::Off;
        },
        no_wrap(),
    )
    .await;
    let browser = Browser::start().await;
    browser.open(&format!("{}/signin", server.url)).await;
    browser
        .wait_for(
            "//a[contains(@class,'sign-in-provider') and normalize-space()='Sign in with Contoso']",
        )
        .await;
    let password_fields = browser
        .client
        .execute(
            "return [...document.querySelectorAll('input[type=password]')].filter(i => i.offsetParent !== null).length",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(password_fields, serde_json::json!(0));
    browser.close().await;
    let mut server = server;
    server.stop().await;
}

/// Tenant administration › Roles: an administrator makes a custom role from permissions they
/// hold, assigns it to a claim value (pressing Enter), and a user whose token carries that value
/// holds it at their next sign-in; a refusal (a role of the same name) is shown in the server's
/// words, and deleting a role still assigned is refused and said.
#[tokio::test]
async fn the_roles_view_makes_a_role_that_a_claim_value_then_grants() {
    // The provider stays up (it stops when dropped) while the user signs in through it.
    let WithProvider {
        server,
        provider: _provider,
        public_url,
        _secret,
    } = with_provider(json!({
        "ivy": { "name": "Ivy Inspector", "upn": "ivy@contoso.example", "roles": ["AttachCenter.SiteHelpers"] },
    }))
    .await;
    server
        .add_user(
            "root@contoso.example",
            "Root Admin",
            &[admin_api::identity::INTUNE_ADMINISTRATOR],
        )
        .await;

    let browser = Browser::start().await;
    browser
        .open(&format!("{public_url}/tenant-admin/roles"))
        .await;
    let name = browser.wait_for("//input[@id='sign-in-user']").await;
    name.send_keys("root@contoso.example").await.unwrap();
    let password = browser.wait_for("//input[@id='sign-in-password']").await;
    password
        .send_keys(admin_server::testing::PASSWORD)
        .await
        .unwrap();
    password
        .send_keys(&fantoccini::key::Key::Enter.to_string())
        .await
        .unwrap();
    browser
        .wait_for_url(&format!("{public_url}/tenant-admin/roles"))
        .await;
    browser
        .wait_for("//table[@aria-label='Roles']//a[normalize-space()='Help Desk Operator']")
        .await;

    // A custom role from two permissions.
    create_role(
        &browser,
        "Site Helpers",
        &[
            "Managed devices › Read",
            "Remote tasks › Initiate Configuration Manager action",
        ],
    )
    .await;
    browser
        .wait_for("//h2[@id='role-details' and contains(normalize-space(),'Site Helpers')]")
        .await;
    browser
        .wait_for("//ul[@class='permission-list']/li[normalize-space()='Remote tasks › Initiate Configuration Manager action']")
        .await;

    // Assigned to a claim value, with Enter in the field.
    let value = browser.wait_for("//input[@id='claim-value']").await;
    value.send_keys("AttachCenter.SiteHelpers").await.unwrap();
    value
        .send_keys(&fantoccini::key::Key::Enter.to_string())
        .await
        .unwrap();
    browser
        .wait_for("//ul[@aria-label='Claim values']/li/code[normalize-space()='AttachCenter.SiteHelpers']")
        .await;

    // The server's refusals, in its words.
    create_role(&browser, "Site Helpers", &["Managed devices › Read"]).await;
    let refusal = browser
        .wait_for("//p[@class='form-error' and starts-with(normalize-space(),'The role was not created:')]")
        .await
        .text()
        .await
        .unwrap();
    assert!(refusal.contains("Site Helpers"), "{refusal}");
    browser
        .click("//button[normalize-space()='Delete role']")
        .await;
    browser
        .click("//div[@role='dialog']//button[normalize-space()='Delete']")
        .await;
    browser
        .wait_for("//*[contains(@class,'toast') and contains(normalize-space(),'Site Helpers was not deleted:')]")
        .await;
    browser.screenshot("roles-view").await;
    browser
        .client
        .execute("window.scrollTo(0, 0)", vec![])
        .await
        .unwrap();
    browser.screenshot("roles-view-top").await;
    browser.close().await;

    // Ivy's token carries the value: she holds the role from her sign-in.
    let browser = Browser::start().await;
    browser.open(&format!("{public_url}/devices")).await;
    browser
        .click("//a[contains(@class,'sign-in-provider')]")
        .await;
    sign_in_at_provider(&browser, "ivy").await;
    browser.wait_for_url(&format!("{public_url}/devices")).await;
    assert_eq!(browser.text_of(".user-roles").await, "Site Helpers");
    browser.close().await;
    let mut server = server;
    server.stop().await;
}

/// Fills the Roles view's custom-role form (name, then each permission by its label) and submits it.
async fn create_role(browser: &Browser, name: &str, permissions: &[&str]) {
    let field = browser.wait_for("//input[@id='role-name']").await;
    field.send_keys(name).await.unwrap();
    for permission in permissions {
        browser
            .click(&format!("//label[normalize-space()='{permission}']"))
            .await;
    }
    browser
        .click("//button[@type='submit' and normalize-space()='Create role']")
        .await;
}
