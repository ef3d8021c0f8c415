use crate::{spawn_app, HASHED_ASSET, INDEX_HTML};

#[tokio::test]
async fn every_spa_route_serves_index_html_uncached() {
    let app = spawn_app().await;
    for path in [
        "/",
        "/devices",
        "/devices/some-id",
        "/tenant-admin/connectors",
    ] {
        let response = app.get(path).await;
        assert_eq!(response.status(), 200, "{path}");
        assert_eq!(response.headers()["cache-control"], "no-cache", "{path}");
        assert!(response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html"));
        assert_eq!(response.text().await.unwrap(), INDEX_HTML, "{path}");
    }
    app.shut_down().await;
}

#[tokio::test]
async fn hashed_assets_are_cached_for_good_and_missing_files_are_404() {
    let app = spawn_app().await;
    let response = app.get(&format!("/{HASHED_ASSET}")).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["cache-control"],
        "public, max-age=31536000, immutable"
    );
    assert_eq!(response.text().await.unwrap(), "console.log(1)");

    let missing = app.get("/admin-center-fedcba9876543210.js").await;
    assert_eq!(missing.status(), 404);
    app.shut_down().await;
}
