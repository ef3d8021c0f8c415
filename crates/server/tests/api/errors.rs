use crate::{error_of, spawn_app};

#[tokio::test]
async fn unknown_api_routes_answer_with_the_error_body() {
    let app = spawn_app().await;
    for path in ["/api/v1/nothing-here", "/api/v2/devices", "/api", "/api/v1"] {
        let error = error_of(app.get(path).await, 404).await;
        assert_eq!(error["code"], "notFound", "{path}");
    }
    app.shut_down().await;
}

#[tokio::test]
async fn a_method_a_route_does_not_take_answers_with_the_error_body() {
    let app = spawn_app().await;
    let response = app
        .client
        .delete(format!("{}/api/v1/devices", app.url))
        .send()
        .await
        .unwrap();
    let error = error_of(response, 405).await;
    assert_eq!(error["code"], "methodNotAllowed");
    app.shut_down().await;
}

#[tokio::test]
async fn a_client_request_id_is_echoed_and_a_fresh_one_made_otherwise() {
    let app = spawn_app().await;
    let response = app
        .client
        .get(format!("{}/api/v1/devices/missing", app.url))
        .header("client-request-id", "support-case-1234")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["request-id"], "support-case-1234");
    let error = error_of(response, 404).await;
    assert_eq!(error["requestId"], "support-case-1234");

    let first = app.get("/api/v1/devices").await;
    let second = app.get("/api/v1/devices").await;
    let (a, b) = (
        &first.headers()["request-id"],
        &second.headers()["request-id"],
    );
    assert!(!a.is_empty());
    assert_ne!(a, b);

    let rejected = app
        .client
        .get(format!("{}/api/v1/devices", app.url))
        .header("client-request-id", "has spaces and \"quotes\"")
        .send()
        .await
        .unwrap();
    assert_ne!(
        rejected.headers()["request-id"],
        "has spaces and \"quotes\""
    );
    app.shut_down().await;
}

#[tokio::test]
async fn shuts_down_gracefully_on_its_signal() {
    let app = spawn_app().await;
    let url = app.url.clone();
    app.shut_down().await;
    assert!(reqwest::get(format!("{url}/api/v1/devices")).await.is_err());
}

/// A busy database is a 503 with Retry-After whichever way the store says it; any other failure
/// of the store is a 500; the store's refusals keep their statuses.
#[test]
fn the_stores_answers_keep_their_statuses() {
    use admin_server::error::AppError;
    use admin_server::store::error::StoreError;
    use axum::response::IntoResponse;
    let answer = |error: StoreError| {
        let response = AppError::from(error).into_response();
        let retry = response
            .headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap().to_owned());
        (response.status().as_u16(), retry)
    };
    let busy = (503, Some("5".to_owned()));
    assert_eq!(answer(StoreError::Unavailable), busy);
    assert_eq!(
        answer(StoreError::Database(sqlx::Error::PoolTimedOut)),
        busy
    );
    assert_eq!(
        answer(StoreError::Database(sqlx::Error::RowNotFound)),
        (500, None)
    );
    assert_eq!(answer(StoreError::NotFound("x".into())).0, 404);
    assert_eq!(answer(StoreError::Conflict("x".into())).0, 409);
    assert_eq!(answer(StoreError::Refused("x".into())).0, 403);
    assert_eq!(answer(StoreError::Unrecognized("x".into())).0, 401);
    assert_eq!(answer(StoreError::invalid("f", "x")).0, 400);
}
