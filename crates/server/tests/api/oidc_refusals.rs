//! An ID token that does not hold signs nobody in. The real provider answers the token request;
//! what reaches the admin center is changed on the way as an attacker between the two would
//! change it (the provider script's `tamper`), one respect at a time, and the same sign-in
//! without the change succeeds.

use admin_server::testing::oidc::TestProvider;
use serde_json::json;

use crate::oidc::{
    app_for_provider, app_with_hal, client, me_of, me_status, through_the_provider, to_the_callback,
};

/// The sign-in page's message after a refused callback.
fn sign_in_error(back: &reqwest::Response) -> String {
    assert_eq!(back.status(), 303);
    let location = back.headers()["location"].to_str().unwrap();
    let url = reqwest::Url::parse(&format!("http://admin.center{location}")).unwrap();
    assert_eq!(url.path(), "/signin", "{location}");
    url.query_pairs()
        .find(|(name, _)| name == "signInError")
        .map(|(_, value)| value.into_owned())
        .unwrap_or_else(|| panic!("no signInError in {location}"))
}

/// Each change to the ID token the provider issued is refused with its reason and audited as a
/// failed sign-in by `anonymous` (a token that does not hold names nobody that can be trusted);
/// no account is made and no session starts. Unchanged, the same sign-in succeeds (and the role the tampered token
/// claimed is not held).
#[tokio::test]
async fn an_id_token_changed_on_its_way_signs_nobody_in() {
    let public_url = "http://127.0.0.1:9";
    let keys = tempfile::tempdir().unwrap();
    let key_file = keys.path().join("provider-key.json");
    let (app, port, _secret) = app_for_provider(public_url, |_| {}).await;
    app.store()
        .assign_claim_value(
            admin_api::identity::INTUNE_ADMINISTRATOR,
            "AttachCenter.Administrator",
            &admin_server::store::audit::Actor::command_line(),
            time::OffsetDateTime::now_utc(),
        )
        .await
        .unwrap();
    let accounts =
        json!({ "hal": { "upn": "hal@contoso.example", "roles": ["AttachCenter.HelpDesk"] } });
    let cases = [
        ("issuer", "Invalid issuer"),
        ("audience", "Invalid audiences"),
        ("expired", "ID token expired"),
        ("nonce", "Invalid nonce"),
        ("unknownKey", "No matching key found"),
        ("none", "No signature found"),
        ("hmac", "Disallowed signature algorithm"),
        ("claim", "Crypto error"),
    ];
    for (tamper, reason) in cases {
        let _provider = TestProvider::start_with(
            port,
            client(public_url),
            accounts.clone(),
            json!({ "keyFile": key_file, "tamper": tamper }),
        )
        .await;
        let (back, browser) = through_the_provider(&app.url, public_url, "/", "hal").await;
        let message = sign_in_error(&back);
        assert!(
            message.starts_with("The sign-in did not complete: the ID token was refused: ")
                && message.contains(reason),
            "{tamper}: expected '{reason}' in: {message}"
        );
        assert_eq!(me_status(&app.url, &browser).await, 401, "{tamper}");
    }
    let audit: serde_json::Value = app
        .get("/api/v1/auditEvents?$filter=activity eq 'signIn' and activityResult eq 'failure'")
        .await
        .json()
        .await
        .unwrap();
    let failed = audit["value"].as_array().unwrap();
    assert_eq!(failed.len(), cases.len(), "{failed:?}");
    for entry in failed {
        assert_eq!(entry["actor"], "anonymous");
        let details = entry["details"].as_str().unwrap();
        assert!(
            details.starts_with("Sign-in through Contoso refused: the ID token was refused: "),
            "{details}"
        );
    }
    let users: serde_json::Value = app.get("/api/v1/users").await.json().await.unwrap();
    assert!(
        !users.to_string().contains("hal@contoso.example"),
        "no account was made: {users}"
    );

    // The same sign-in, the token as the provider issued it.
    let _provider = TestProvider::start_with(
        port,
        client(public_url),
        accounts,
        json!({ "keyFile": key_file }),
    )
    .await;
    let (back, browser) = through_the_provider(&app.url, public_url, "/", "hal").await;
    assert_eq!(back.status(), 303);
    assert_eq!(back.headers()["location"], "/");
    let me = me_of(&app.url, &browser).await;
    assert_eq!(me.user_principal_name, "hal@contoso.example");
    assert!(me.roles.is_empty(), "{:?}", me.roles);
    app.shut_down().await;
}

/// A token whose groups did not fit (Entra ID's group overage: `_claim_names` points elsewhere
/// instead of listing them) is refused with a message that says to use app roles; the user's
/// name is in the audit entry.
#[tokio::test]
async fn a_group_overage_is_refused_with_what_to_do() {
    let public_url = "http://127.0.0.1:9";
    let (app, port, _secret) = app_for_provider(public_url, |config| {
        config.oidc_roles_claim = admin_server::config::RolesClaim::Groups;
    })
    .await;
    let _provider = TestProvider::start_on(
        port,
        client(public_url),
        json!({ "hal": {
            "upn": "hal@contoso.example",
            "_claim_names": { "groups": "src1" },
            "_claim_sources": { "src1": { "endpoint": "https://graph.microsoft.com/v1.0/users/hal/getMemberObjects" } },
        } }),
    )
    .await;
    let (back, browser) = through_the_provider(&app.url, public_url, "/", "hal").await;
    let message = sign_in_error(&back);
    assert!(
        message.contains("group overage") && message.contains("app roles"),
        "{message}"
    );
    assert_eq!(me_status(&app.url, &browser).await, 401);
    let audit: serde_json::Value = app
        .get("/api/v1/auditEvents?$filter=activity eq 'signIn' and actor eq 'hal@contoso.example'")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(audit["value"][0]["activityResult"], "failure");
    app.shut_down().await;
}

/// A code used once cannot be used again, even with the flow cookie of its sign-in (as one
/// stolen from the browser would be): the provider refuses to redeem it, and no second session
/// starts.
#[tokio::test]
async fn a_replayed_code_is_refused() {
    let public_url = "http://127.0.0.1:9";
    let (app, _provider, _secret) = app_with_hal(public_url).await;
    let (callback, browser, flow_cookie) = to_the_callback(&app.url, public_url, "/", "hal").await;
    assert!(!flow_cookie.is_empty());
    let first = browser.get(&callback).send().await.unwrap();
    assert_eq!(first.status(), 303);
    assert_eq!(first.headers()["location"], "/");

    let attacker = crate::oidc::browser();
    let replayed = attacker
        .get(&callback)
        .header("cookie", &flow_cookie)
        .send()
        .await
        .unwrap();
    let message = sign_in_error(&replayed);
    assert!(
        message.contains("the provider did not redeem the code")
            && message.contains("invalid_grant"),
        "{message}"
    );
    assert_eq!(me_status(&app.url, &attacker).await, 401);
    app.shut_down().await;
}

/// A provider that cannot be reached is said in words on the sign-in page, not a blank page or
/// a 500: when the sign-in starts, and when it stops answering between the login there and the
/// callback here.
#[tokio::test]
async fn an_unreachable_provider_is_said_in_words_on_the_sign_in_page() {
    let public_url = "http://127.0.0.1:9";
    let (app, port, _secret) = app_for_provider(public_url, |_| {}).await;
    let start = crate::oidc::browser()
        .get(format!(
            "{}/api/v1/session/oidc/start?returnTo=/devices",
            app.url
        ))
        .send()
        .await
        .unwrap();
    let message = sign_in_error(&start);
    assert!(
        message.starts_with(&format!(
            "The sign-in provider at http://127.0.0.1:{port} could not be reached: "
        )),
        "{message}"
    );

    let provider = TestProvider::start_on(port, client(public_url), json!({ "hal": {} })).await;
    let (callback, browser, _) = to_the_callback(&app.url, public_url, "/", "hal").await;
    drop(provider);
    // The provider is gone once its port refuses connections.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_ok()
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the provider did not stop"
        );
        tokio::task::yield_now().await;
    }
    let back = browser.get(&callback).send().await.unwrap();
    let message = sign_in_error(&back);
    assert!(
        message.starts_with("The sign-in did not complete: the provider did not redeem the code: "),
        "{message}"
    );
    app.shut_down().await;
}
