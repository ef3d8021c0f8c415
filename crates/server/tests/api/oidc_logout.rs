//! The provider ends sessions here (OpenID Connect Back-Channel Logout), against the real
//! provider: its own logout sends the token, and tokens made with its key test every check.

use admin_server::testing::oidc::TestProvider;
use serde_json::json;

use crate::helpers::TestApp;
use crate::oidc::{
    app_for_provider, form_of, me_status, through_the_provider, CLIENT_ID, CLIENT_SECRET,
};

const EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

/// The admin center as the provider's client: the browser comes back to `public_url`, the
/// provider's back-channel logout goes to `backchannel_to` (an instance under test), with the
/// provider's session id in every token.
fn client_posting_to(public_url: &str, backchannel_to: &str) -> serde_json::Value {
    json!([{
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "redirect_uris": [format!("{public_url}/api/v1/session/oidc/callback")],
        "post_logout_redirect_uris": [format!("{public_url}/signin")],
        "backchannel_logout_uri": format!("{backchannel_to}/api/v1/session/oidc/backchannel-logout"),
        "backchannel_logout_session_required": true,
    }])
}

const HAL: &str = "hal@contoso.example";

fn accounts() -> serde_json::Value {
    json!({ "hal": { "upn": HAL } })
}

/// The user signs out on the provider's own page (not through the admin center): its
/// confirmation, answered yes. The provider sends its back-channel logout before it answers.
async fn sign_out_at_the_provider(browser: &reqwest::Client, issuer: &str) {
    let url = reqwest::Url::parse(&format!("{issuer}/session/end")).unwrap();
    let page = browser.get(url.clone()).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let (action, mut fields) = form_of(&page.text().await.unwrap());
    fields.push(("logout".to_owned(), "yes".to_owned()));
    let done = browser
        .post(url.join(&action).unwrap())
        .form(&fields)
        .send()
        .await
        .unwrap();
    assert!(done.status().is_redirection(), "{}", done.status());
}

/// The sign-out audit entries of hal.
async fn hals_sign_outs(app: &TestApp) -> Vec<serde_json::Value> {
    let audit: serde_json::Value = app
        .get(&format!(
            "/api/v1/auditEvents?$filter=activity eq 'signOut' and actor eq '{HAL}'"
        ))
        .await
        .json()
        .await
        .unwrap();
    audit["value"].as_array().unwrap().clone()
}

/// A user signed in twice (two browsers, two sessions at the provider) signs out at the
/// provider in one of them: the provider's back-channel logout ends that session here at once,
/// and only that one (by its `sid`); the sign-out is audited as the provider's.
#[tokio::test]
async fn the_providers_back_channel_logout_ends_that_session_here() {
    let public_url = "http://127.0.0.1:9";
    let (app, port, _secret) = app_for_provider(public_url, |_| {}).await;
    let provider =
        TestProvider::start_on(port, client_posting_to(public_url, &app.url), accounts()).await;
    let (back, first) = through_the_provider(&app.url, public_url, "/", "hal").await;
    assert_eq!(back.status(), 303);
    let (back, second) = through_the_provider(&app.url, public_url, "/", "hal").await;
    assert_eq!(back.status(), 303);
    assert_eq!(me_status(&app.url, &first).await, 200);
    assert_eq!(me_status(&app.url, &second).await, 200);

    sign_out_at_the_provider(&first, &provider.issuer).await;
    assert_eq!(me_status(&app.url, &first).await, 401);
    assert_eq!(
        me_status(&app.url, &second).await,
        200,
        "the other provider session's session lives on"
    );
    let sign_outs = hals_sign_outs(&app).await;
    assert_eq!(sign_outs.len(), 1, "{sign_outs:?}");
    assert_eq!(
        sign_outs[0]["details"],
        "Signed out by Contoso (back-channel logout): 1 session ended."
    );
    assert_eq!(sign_outs[0]["activityResult"], "success");

    sign_out_at_the_provider(&second, &provider.issuer).await;
    assert_eq!(me_status(&app.url, &second).await, 401);
    app.shut_down().await;
}

/// A logout token as the provider would sign it (RS256 with its key, `typ` logout+jwt), with
/// `claims`.
fn signed(key: &serde_json::Value, claims: &serde_json::Value) -> String {
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    header.kid = Some(key["jwk"]["kid"].as_str().unwrap().to_owned());
    header.typ = Some("logout+jwt".to_owned());
    signed_with(key, header, claims)
}

fn signed_with(
    key: &serde_json::Value,
    header: jsonwebtoken::Header,
    claims: &serde_json::Value,
) -> String {
    let pem = key["pem"].as_str().unwrap();
    jsonwebtoken::encode(
        &header,
        claims,
        &jsonwebtoken::EncodingKey::from_rsa_pem(pem.as_bytes()).unwrap(),
    )
    .unwrap()
}

fn base64url(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

async fn post_logout(app: &TestApp, body: String) -> reqwest::Response {
    // As a provider posts it: a plain form, no cookie, no CSRF header.
    reqwest::Client::new()
        .post(format!(
            "{}/api/v1/session/oidc/backchannel-logout",
            app.url
        ))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap()
}

fn form(token: &str) -> String {
    form_urlencoded::Serializer::new(String::new())
        .append_pair("logout_token", token)
        .finish()
}

/// A logout token that does not hold is refused with its reason (400, the contract's body, no
/// caching) and ends nothing: each check is shown by a token that differs from a valid one in
/// that one respect, and the valid one then ends the session. A token received again is
/// refused; a token naming no session here is answered 200 and changes nothing.
#[tokio::test]
async fn a_logout_token_that_does_not_hold_ends_nothing() {
    let public_url = "http://127.0.0.1:9";
    let keys = tempfile::tempdir().unwrap();
    let key_file = keys.path().join("provider-key.json");
    let (app, port, _secret) = app_for_provider(public_url, |_| {}).await;
    let provider = TestProvider::start_with(
        port,
        client_posting_to(public_url, "http://127.0.0.1:9"),
        accounts(),
        json!({ "keyFile": key_file }),
    )
    .await;
    let key: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&key_file).unwrap()).unwrap();
    let (back, browser) = through_the_provider(&app.url, public_url, "/", "hal").await;
    assert_eq!(back.status(), 303);

    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let mut serial = 0;
    let mut valid = || {
        serial += 1;
        json!({
            "iss": provider.issuer,
            "aud": CLIENT_ID,
            "iat": now,
            "exp": now + 120,
            "jti": format!("logout-{serial}"),
            "sub": "hal",
            "events": { EVENT: {} },
        })
    };
    let with = |mut claims: serde_json::Value, name: &str, value: serde_json::Value| {
        claims[name] = value;
        claims
    };
    let without = |mut claims: serde_json::Value, name: &str| {
        claims.as_object_mut().unwrap().remove(name);
        claims
    };
    let mut hmac = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    hmac.kid = Some(key["jwk"]["kid"].as_str().unwrap().to_owned());
    hmac.typ = Some("logout+jwt".to_owned());
    let mut untyped = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    untyped.kid = hmac.kid.clone();
    untyped.typ = Some("JWT".to_owned());
    let mut unknown_key = untyped.clone();
    unknown_key.typ = None;
    unknown_key.kid = Some("a-key-the-provider-never-published".to_owned());
    let valid_token = signed(&key, &valid());
    let (head, _, signature) = {
        let mut parts = valid_token.split('.');
        (
            parts.next().unwrap().to_owned(),
            parts.next().unwrap().to_owned(),
            parts.next().unwrap().to_owned(),
        )
    };
    let cases: Vec<(String, &str)> = vec![
        (
            signed(
                &key,
                &with(valid(), "iss", json!("https://elsewhere.example")),
            ),
            "its issuer is not",
        ),
        (
            signed(&key, &with(valid(), "aud", json!("another-client"))),
            "its audience is not this admin center alone",
        ),
        (
            signed(
                &key,
                &with(valid(), "aud", json!([CLIENT_ID, "another-client"])),
            ),
            "its audience is not this admin center alone",
        ),
        (
            signed(&key, &with(valid(), "iat", json!(now - 3600))),
            "issued more than 10 minutes ago",
        ),
        (
            signed(&key, &with(valid(), "exp", json!(now - 3600))),
            "it has expired",
        ),
        (
            signed(&key, &without(valid(), "iat")),
            "it has no issue time",
        ),
        (
            signed(&key, &with(valid(), "nonce", json!("n-0S6_WzA2Mj"))),
            "it carries a nonce",
        ),
        (
            signed(&key, &without(valid(), "events")),
            "its events do not hold",
        ),
        (
            signed(&key, &with(valid(), "events", json!({ EVENT: "yes" }))),
            "its events do not hold",
        ),
        (signed(&key, &without(valid(), "jti")), "it has no token id"),
        (
            signed(&key, &without(valid(), "sub")),
            "names neither a user (sub) nor a session (sid)",
        ),
        (
            signed_with(&key, untyped, &valid()),
            "its type (typ) is not logout+jwt",
        ),
        (
            jsonwebtoken::encode(
                &hmac,
                &valid(),
                &jsonwebtoken::EncodingKey::from_secret(CLIENT_SECRET.as_bytes()),
            )
            .unwrap(),
            "it is signed with HS256; only RS256 is accepted",
        ),
        (
            format!(
                "{}.{}.",
                base64url(br#"{"alg":"none","typ":"logout+jwt"}"#),
                base64url(valid().to_string().as_bytes())
            ),
            "it is signed with none",
        ),
        (
            signed_with(&key, unknown_key, &valid()),
            "signed with a key the provider does not publish",
        ),
        (
            format!(
                "{head}.{}.{signature}",
                base64url(
                    with(valid(), "sub", json!("someone-else"))
                        .to_string()
                        .as_bytes()
                )
            ),
            "its signature does not verify",
        ),
        ("not a token".to_owned(), "it is not a signed JWT"),
        ("a.b.c.d.e".to_owned(), "it is encrypted (JWE)"),
        ("x".repeat(20_000), "too long"),
    ];
    for (token, reason) in cases {
        let refused = post_logout(&app, form(&token)).await;
        assert_eq!(refused.status(), 400, "{reason}");
        assert_eq!(refused.headers()["cache-control"], "no-store");
        let body: admin_api::ErrorBody = refused.json().await.unwrap();
        assert!(
            body.error.message.contains(reason),
            "expected '{reason}' in: {}",
            body.error.message
        );
        assert_eq!(me_status(&app.url, &browser).await, 200, "{reason}");
    }
    let missing = post_logout(&app, "token=abc".to_owned()).await;
    assert_eq!(missing.status(), 400);
    let body: admin_api::ErrorBody = missing.json().await.unwrap();
    assert!(
        body.error.message.contains("posts a logout_token"),
        "{body:?}"
    );

    // A token naming another provider session ends nothing, and is answered as received.
    let elsewhere = post_logout(
        &app,
        form(&signed(
            &key,
            &without(with(valid(), "sid", json!("another-session")), "sub"),
        )),
    )
    .await;
    assert_eq!(elsewhere.status(), 200);
    assert_eq!(me_status(&app.url, &browser).await, 200);
    assert!(hals_sign_outs(&app).await.is_empty());

    // The valid token, without a CSRF header or a cookie: every session of `sub` ends.
    let ended = post_logout(&app, form(&valid_token)).await;
    assert_eq!(ended.status(), 200);
    assert_eq!(ended.headers()["cache-control"], "no-store");
    assert_eq!(me_status(&app.url, &browser).await, 401);
    assert_eq!(hals_sign_outs(&app).await.len(), 1);

    // Received again (a replay), it is refused: its jti was kept.
    let (back, browser) = through_the_provider(&app.url, public_url, "/", "hal").await;
    assert_eq!(back.status(), 303);
    let replayed = post_logout(&app, form(&valid_token)).await;
    assert_eq!(replayed.status(), 400);
    let body: admin_api::ErrorBody = replayed.json().await.unwrap();
    assert!(body.error.message.contains("received before"), "{body:?}");
    assert_eq!(me_status(&app.url, &browser).await, 200);
    drop(provider);
    app.shut_down().await;
}

/// Two instances over one PostgreSQL: a user signed in through one, the provider's back-channel
/// logout received by the other, and the next request to the first is refused.
#[tokio::test]
async fn a_back_channel_logout_received_by_one_instance_ends_the_session_on_another() {
    let cluster = admin_server::testing::postgres::shared().await;
    let database = cluster.new_database().await.unwrap();
    let public_url = "http://127.0.0.1:9";
    let (first, port, _secret) = app_for_provider(public_url, |config| {
        config.database_url = database.clone();
    })
    .await;
    let second_config = first.harness().config.clone();
    let mut second = admin_server::testing::TestServer::start(
        None,
        move |config| {
            let listen = config.listen;
            *config = second_config;
            config.listen = listen;
        },
        admin_server::testing::no_wrap(),
    )
    .await;
    let provider =
        TestProvider::start_on(port, client_posting_to(public_url, &second.url), accounts()).await;
    let (back, browser) = through_the_provider(&first.url, public_url, "/", "hal").await;
    assert_eq!(back.status(), 303);
    assert_eq!(me_status(&first.url, &browser).await, 200);
    assert_eq!(me_status(&second.url, &browser).await, 200);

    sign_out_at_the_provider(&browser, &provider.issuer).await;
    assert_eq!(me_status(&first.url, &browser).await, 401);
    assert_eq!(hals_sign_outs(&first).await.len(), 1);
    second.stop().await;
    first.shut_down().await;
}
