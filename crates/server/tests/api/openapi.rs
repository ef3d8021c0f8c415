//! The OpenAPI document covers every admin endpoint, and everything it lists is really served.

use serde_json::Value;

use crate::spawn_app;

/// Every admin API endpoint, as (method, path).
const ADMIN_ENDPOINTS: &[(&str, &str)] = &[
    ("get", "/api/v1/devices"),
    ("get", "/api/v1/devices/export"),
    ("get", "/api/v1/devices/{id}"),
    (
        "post",
        "/api/v1/devices/{id}/triggerConfigurationManagerAction",
    ),
    ("get", "/api/v1/devices/{id}/deviceActions"),
    ("get", "/api/v1/deviceActions/{id}"),
    ("get", "/api/v1/connectors"),
    ("get", "/api/v1/connectors/{id}"),
    ("delete", "/api/v1/connectors/{id}"),
    ("post", "/api/v1/connectors/onboardingTokens"),
    ("get", "/api/v1/events"),
    ("get", "/api/v1/openapi.json"),
];

#[tokio::test]
async fn the_document_covers_every_endpoint_and_lists_only_served_ones() {
    let app = spawn_app().await;
    let response = app.get("/api/v1/openapi.json").await;
    assert_eq!(response.status(), 200);
    let doc: Value = response.json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let paths = doc["paths"].as_object().unwrap();
    let mut documented = Vec::new();
    for (path, item) in paths {
        for method in item.as_object().unwrap().keys() {
            documented.push((method.clone(), path.clone()));
        }
    }
    let mut expected: Vec<(String, String)> = ADMIN_ENDPOINTS
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    documented.sort();
    expected.sort();
    assert_eq!(documented, expected);

    for schema in [
        "Device",
        "DeviceAction",
        "Connector",
        "ErrorBody",
        "UploadScope",
        "ConnectorStatus",
    ] {
        assert!(
            doc["components"]["schemas"][schema].is_object(),
            "{schema} missing"
        );
    }
    let device = &doc["components"]["schemas"]["Device"]["properties"];
    assert!(
        device["azureADDeviceId"].is_object()
            && device["configurationManagerClientInformation"].is_object()
    );

    // Each documented route is served: none answers as an unknown route.
    for (method, path) in ADMIN_ENDPOINTS {
        if *path == "/api/v1/events" {
            continue; // a stream that does not end; the SSE tests cover it
        }
        let url = format!("{}{}", app.url, path.replace("{id}", "some-id"));
        let response = app
            .client
            .request(method.to_uppercase().parse().unwrap(), &url)
            .json(&serde_json::json!({"configurationManagerAction": {"action": "appEvaluation"}}))
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let body = response.text().await.unwrap();
        assert!(
            !body.contains("There is no API resource"),
            "{method} {path}: {status} {body}"
        );
        assert_ne!(status, 405, "{method} {path}");
    }
    app.shut_down().await;
}
