use crate::{decoded, spawn_app, HASHED_ASSET, INDEX_HTML};

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

/// What a browser asks for (`Accept-Encoding: gzip, deflate, br, zstd`): an API body, made anew
/// for each request, comes in gzip at its fastest level (the header's XFL byte, 4); the SPA's
/// files, fetched once and cached for good, in brotli. Each decodes to what an identity request
/// gets.
#[tokio::test]
async fn a_browser_gets_api_bodies_in_fast_gzip_and_the_spa_in_brotli() {
    const BROWSER: &str = "gzip, deflate, br, zstd";
    let app = spawn_app().await;
    app.attach_site(site_connector::HierarchyConfig::new(
        "Contoso Headquarters",
        "CHQ",
        2207,
        120,
        41,
    ))
    .await;
    let as_a_browser = |path: &str| {
        app.client
            .get(format!("{}{path}", app.url))
            .header("accept-encoding", BROWSER)
            .send()
    };
    let page = "/api/v1/devices?$top=50&$count=true";
    let plain = app.get(page).await.bytes().await.unwrap();
    let response = as_a_browser(page).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-encoding"], "gzip");
    let gzip = response.bytes().await.unwrap();
    assert_eq!(gzip[8], 4, "XFL: compressed at the fastest level");
    assert_eq!(decoded("gzip", &gzip).as_bytes(), plain);
    assert!(
        gzip.len() * 3 < plain.len(),
        "{} of {} bytes",
        gzip.len(),
        plain.len()
    );

    let script: String = (0..200)
        .map(|line| format!("console.log('line {line} of the bundle');\n"))
        .collect();
    std::fs::write(app.config_dist().join(HASHED_ASSET), &script).unwrap();
    let response = as_a_browser(&format!("/{HASHED_ASSET}")).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-encoding"], "br");
    assert_eq!(decoded("br", &response.bytes().await.unwrap()), script);
    app.shut_down().await;
}
