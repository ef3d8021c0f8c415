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

/// Each wire enum's values in the document are the strings serde sends and accepts.
#[test]
fn every_wire_enum_documents_its_serde_values() {
    use admin_api::*;
    let doc = admin_server::routes::openapi::document();
    fn values<T: serde::Serialize>(all: &[T]) -> Vec<String> {
        all.iter()
            .map(|v| {
                serde_json::to_value(v)
                    .unwrap()
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect()
    }
    let enums: Vec<(&str, Vec<String>)> = vec![
        ("ManagedBy", values(ManagedBy::ALL)),
        ("OwnerType", values(OwnerType::ALL)),
        ("ComplianceState", values(ComplianceState::ALL)),
        ("ClientHealthState", values(ClientHealthState::ALL)),
        ("ActionState", values(ActionState::ALL)),
        (
            "ConfigurationManagerActionType",
            values(ConfigurationManagerActionType::ALL),
        ),
        ("ConnectorStatus", values(ConnectorStatus::ALL)),
        ("Cloud", values(Cloud::ALL)),
        ("Permission", values(Permission::ALL)),
        ("AuditActivity", values(AuditActivity::ALL)),
        ("AuditResult", values(AuditResult::ALL)),
        ("ActorType", values(ActorType::ALL)),
    ];
    for (name, serde_values) in enums {
        let schema = &doc["components"]["schemas"][name];
        let documented: Vec<String> = schema["enum"]
            .as_array()
            .unwrap_or_else(|| panic!("{name} is an enum in the document: {schema}"))
            .iter()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect();
        assert_eq!(documented, serde_values, "{name}");
    }
}

/// `$top` is documented with the bounds the server enforces.
#[test]
fn top_has_its_bounds() {
    let doc = admin_server::routes::openapi::document();
    let parameters = doc["paths"]["/api/v1/devices"]["get"]["parameters"]
        .as_array()
        .unwrap();
    let top = parameters.iter().find(|p| p["name"] == "$top").unwrap();
    assert_eq!(top["schema"]["minimum"], 1);
    assert_eq!(top["schema"]["maximum"], 1000);
}
