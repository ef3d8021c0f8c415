//! The OpenAPI document and its schemas. That it lists every endpoint, and that each is served,
//! is checked by the authorization matrix (`authorization.rs`), which has a row per operation.

use serde_json::Value;

use crate::spawn_app;

#[tokio::test]
async fn the_document_is_openapi_3_with_the_shared_schemas() {
    let app = spawn_app().await;
    let response = app.get("/api/v1/openapi.json").await;
    assert_eq!(response.status(), 200);
    let doc: Value = response.json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    for schema in [
        "Device",
        "DeviceAction",
        "Connector",
        "ErrorBody",
        "UploadScope",
        "ConnectorStatus",
        "Me",
        "AuditEvent",
        "RoleDefinition",
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

    app.shut_down().await;
}
