//! Abuse: request rates per user and per connector, sign-in throttling per account and per
//! address (429 with Retry-After, no account enumeration), and the security headers.

use std::time::Duration;

use admin_api::identity::READ_ONLY_OPERATOR;
use serde_json::json;

use crate::protocol::quick_site;
use crate::{error_of, spawn_app, spawn_app_with, ADMIN, INDEX_HTML, PASSWORD};

fn retry_after(response: &reqwest::Response) -> u64 {
    response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

#[tokio::test]
async fn a_user_over_the_request_rate_gets_429_and_others_do_not() {
    let app = spawn_app_with(|c| {
        c.user_requests_per_second = 1;
        c.user_request_burst = 3;
    })
    .await;
    app.add_user("other@tests.example", &[READ_ONLY_OPERATOR])
        .await;
    let other = app.signed_in("other@tests.example").await;
    for _ in 0..3 {
        assert_eq!(app.get("/api/v1/devices").await.status(), 200);
    }
    let refused = app.get("/api/v1/devices").await;
    let wait = retry_after(&refused);
    assert!((1..=2).contains(&wait), "{wait}");
    assert_eq!(error_of(refused, 429).await["code"], "tooManyRequests");
    let response = other
        .get(format!("{}/api/v1/devices", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "the limit is per user");
    app.shut_down().await;
}

#[tokio::test]
async fn a_connector_over_the_request_rate_gets_429() {
    let app = spawn_app_with(|c| {
        c.connector_requests_per_second = 1;
        c.connector_request_burst = 50;
    })
    .await;
    // Attaching and the first upload take part of the burst; heartbeats use up the rest.
    let site = app.attach_site(quick_site("HQ", "CHQ", 2207, 61)).await;
    let mut refused = None;
    for _ in 0..60 {
        if let Err(error) = site.client().heartbeat().await {
            refused = Some(error);
            break;
        }
    }
    let error = refused.expect("the connector was throttled within its burst");
    assert_eq!(
        error.status(),
        Some(reqwest::StatusCode::TOO_MANY_REQUESTS),
        "{error}"
    );
    // The admin API is not the connector's limit.
    assert_eq!(app.get("/api/v1/connectors").await.status(), 200);
    app.shut_down().await;
}

async fn sign_in(url: &str, user_name: &str, password: &str) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!("{url}/api/v1/session"))
        .header(admin_api::identity::CSRF_HEADER, "1")
        .json(&json!({"userName": user_name, "password": password}))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn sign_in_attempts_are_throttled_per_account_alike_for_unknown_accounts() {
    let app = spawn_app_with(|c| {
        c.sign_in_account_burst = 3;
        c.sign_in_account_interval = Duration::from_secs(3600);
    })
    .await;
    // spawn_app signed the admin in once already: two more attempts fit.
    for _ in 0..2 {
        assert_eq!(
            sign_in(&app.url, ADMIN, "wrong password").await.status(),
            401
        );
    }
    let known = sign_in(&app.url, ADMIN, PASSWORD).await;
    assert!(retry_after(&known) > 3000, "even the right password waits");
    let known = error_of(known, 429).await;
    for _ in 0..3 {
        assert_eq!(
            sign_in(&app.url, "nobody@tests.example", "guess")
                .await
                .status(),
            401
        );
    }
    let unknown = sign_in(&app.url, "NOBODY@tests.example", "guess").await;
    assert!(retry_after(&unknown) > 3000);
    let unknown = error_of(unknown, 429).await;
    assert_eq!(
        known["message"], unknown["message"],
        "no account enumeration"
    );
    app.shut_down().await;
}

#[tokio::test]
async fn sign_in_attempts_are_throttled_per_address() {
    let app = spawn_app_with(|c| {
        c.sign_in_address_burst = 4;
        c.sign_in_address_interval = Duration::from_secs(60);
    })
    .await;
    for n in 0..3 {
        let response = sign_in(&app.url, &format!("user{n}@tests.example"), "guess").await;
        assert_eq!(response.status(), 401);
    }
    let response = sign_in(&app.url, "user9@tests.example", "guess").await;
    assert!((1..=60).contains(&retry_after(&response)));
    assert_eq!(error_of(response, 429).await["code"], "tooManyRequests");
    app.shut_down().await;
}

#[tokio::test]
async fn every_response_carries_the_security_headers() {
    let app = spawn_app().await;
    for path in [
        "/",
        "/devices/some-id",
        "/api/v1/devices",
        "/api/v1/nothing-here",
        "/api/v1/me",
    ] {
        let response = reqwest::get(format!("{}{path}", app.url)).await.unwrap();
        let headers = response.headers();
        let csp = headers["content-security-policy"].to_str().unwrap();
        for directive in [
            "default-src 'self'",
            "script-src 'self' 'wasm-unsafe-eval'",
            "frame-ancestors 'none'",
            "object-src 'none'",
        ] {
            assert!(csp.contains(directive), "{path}: {csp}");
        }
        assert!(!csp.contains("unsafe-inline"), "{csp}");
        assert_eq!(headers["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(headers["referrer-policy"], "no-referrer", "{path}");
        assert_eq!(headers["x-frame-options"], "DENY", "{path}");
    }
    assert_eq!(
        reqwest::get(format!("{}/", app.url))
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
        INDEX_HTML
    );
    app.shut_down().await;
}

#[tokio::test]
async fn trunks_inline_loader_is_served_as_a_script_file_the_policy_allows() {
    let app = spawn_app().await;
    let dist = app.config_dist();
    std::fs::write(
        dist.join("index.html"),
        "<head><script type=\"module\">\nimport init from '/admin-center-0123456789abcdef.js';\nawait init();\n</script></head><body></body>",
    )
    .unwrap();
    let html = reqwest::get(format!("{}/devices", app.url))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!html.contains("import init"), "no inline script: {html}");
    let src = html
        .split("src=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a script element with src");
    let response = reqwest::get(format!("{}{src}", app.url)).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "text/javascript; charset=utf-8"
    );
    assert!(response.headers()["cache-control"]
        .to_str()
        .unwrap()
        .contains("immutable"));
    assert!(response.text().await.unwrap().contains("await init();"));
    let stale = reqwest::get(format!("{}/boot-0000000000000000.js", app.url))
        .await
        .unwrap();
    assert_eq!(stale.status(), 404);
    app.shut_down().await;
}
