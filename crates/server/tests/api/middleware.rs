//! Routes of the tests' own behind the server's middleware: panics and JSON rejections must answer
//! with the contract's error body too.

use admin_server::error::AppJson;
use admin_server::{outer_layers, with_middleware, Config};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;

use crate::error_of;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Sample {
    #[allow(dead_code)]
    name: String,
}

async fn spawn_test_routes() -> String {
    let mut config = Config::for_test(String::new(), std::env::temp_dir());
    config.body_limit = 256;
    let routes = Router::new()
        .route(
            "/api/v1/test/panic",
            get(|| async { panic!("a bug in a handler") as &str }),
        )
        .route(
            "/api/v1/test/sample",
            post(|AppJson(sample): AppJson<Sample>| async move { Json(format!("{sample:?}")) }),
        );
    let app = outer_layers(with_middleware(routes, &config), &config);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

#[tokio::test]
async fn a_panic_answers_500_with_the_error_body() {
    let url = spawn_test_routes().await;
    let response = reqwest::get(format!("{url}/api/v1/test/panic"))
        .await
        .unwrap();
    let error = error_of(response, 500).await;
    assert_eq!(error["code"], "internalError");
    assert!(
        !error["message"].as_str().unwrap().contains("a bug"),
        "no internals leak"
    );
    // The server still serves after a panic.
    assert_eq!(
        reqwest::get(format!("{url}/api/v1/test/sample"))
            .await
            .unwrap()
            .status(),
        405
    );
}

#[tokio::test]
async fn json_rejections_answer_with_the_error_body() {
    let url = spawn_test_routes().await;
    let client = reqwest::Client::new();
    let post = |body: &'static str, content_type: &'static str| {
        client
            .post(format!("{url}/api/v1/test/sample"))
            .header("content-type", content_type)
            .body(body)
            .send()
    };

    let ok = post(r#"{"name":"PC-0042"}"#, "application/json")
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);

    let error = error_of(post(r#"{"name":"#, "application/json").await.unwrap(), 400).await;
    assert_eq!(error["code"], "badRequest");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("not valid JSON"),
        "{error}"
    );

    let error = error_of(
        post(r#"{"name":"x","color":"red"}"#, "application/json")
            .await
            .unwrap(),
        400,
    )
    .await;
    assert!(
        error["message"].as_str().unwrap().contains("color"),
        "{error}"
    );

    let error = error_of(post(r#"{"name":"x"}"#, "text/plain").await.unwrap(), 415).await;
    assert_eq!(error["code"], "unsupportedMediaType");

    let oversized: &'static str =
        Box::leak(format!(r#"{{"name":"{}"}}"#, "x".repeat(1024)).into_boxed_str());
    let error = error_of(post(oversized, "application/json").await.unwrap(), 413).await;
    assert_eq!(error["code"], "payloadTooLarge");
}
