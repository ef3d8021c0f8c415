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

/// The validator of `schema` with the document's components beside it.
fn validator(doc: &Value, schema: &Value) -> jsonschema::Validator {
    let mut root = serde_json::json!({ "allOf": [schema] });
    root["components"] = doc["components"].clone();
    jsonschema::draft202012::new(&root).expect("the document's schemas compile")
}

/// The schema the document gives parameter `name` of `method path`.
fn parameter_schema(doc: &Value, path: &str, method: &str, name: &str) -> Value {
    doc["paths"][path][method]["parameters"]
        .as_array()
        .unwrap_or_else(|| panic!("{method} {path} has parameters"))
        .iter()
        .find(|p| p["name"] == name)
        .unwrap_or_else(|| panic!("{method} {path} documents {name}"))["schema"]
        .clone()
}

/// What the document says of each query option, header and body the server bounds is what the
/// server does: a value the document allows is not refused, and one it does not allow is refused
/// with a 400 naming it. A client generated from the document sends nothing that is refused.
#[tokio::test]
async fn every_bound_the_server_enforces_is_in_the_document() {
    use admin_api::collection::{MAX_FILTER_LENGTH, MAX_SEARCH_TERM, MAX_SEARCH_TERMS};
    let doc = admin_server::routes::openapi::document();
    let app = spawn_app().await;
    let hierarchy = crate::protocol::quick_site("HQ", "CHQ", 2207, 91);
    let device = site_connector::SimulatedHierarchy::new(hierarchy.clone()).devices_in_scope()[0]
        .id
        .clone();
    let _site = app.attach_site(hierarchy).await;
    let long = |length: usize| "x".repeat(length);
    let terms = |count: usize| format!("\"{}\"", vec!["chq"; count].join(","));
    let filter = |length: usize| format!("deviceName eq '{}'", long(length - 16));
    let audit_filter = |length: usize| format!("actor eq '{}'", long(length - 11));
    let mut cases: Vec<(&str, &str, String)> = Vec::new();
    for path in ["/api/v1/devices", "/api/v1/devices/export"] {
        for value in [
            String::new(),
            "chq".into(),
            " ".into(),
            ",".into(),
            "\"\"".into(),
            "\" , \"".into(),
            long(MAX_SEARCH_TERM),
            long(MAX_SEARCH_TERM + 1),
            terms(MAX_SEARCH_TERMS),
            terms(MAX_SEARCH_TERMS + 1),
            "a\u{1}b".into(),
            "pc\u{85}".into(),
        ] {
            cases.push((path, "$search", value));
        }
        for value in [
            String::new(),
            "deviceName eq 'x'".into(),
            filter(MAX_FILTER_LENGTH),
            filter(MAX_FILTER_LENGTH + 1),
        ] {
            cases.push((path, "$filter", value));
        }
        for value in ["", "deviceName", "deviceName, model", "nope", "deviceName,"] {
            cases.push((path, "$select", value.into()));
        }
    }
    for path in ["/api/v1/auditEvents", "/api/v1/auditEvents/export"] {
        for value in [
            String::new(),
            "actor eq 'x'".into(),
            audit_filter(MAX_FILTER_LENGTH),
            audit_filter(MAX_FILTER_LENGTH + 1),
        ] {
            cases.push((path, "$filter", value));
        }
    }
    for path in ["/api/v1/devices", "/api/v1/auditEvents"] {
        for value in ["0", "1", "1000", "1001"] {
            cases.push((path, "$top", value.into()));
        }
        cases.push((path, "$skiptoken", String::new()));
    }
    for (path, name, value) in &cases {
        let schema = parameter_schema(&doc, path, "get", name);
        // Query values are strings on the wire; `$top`'s schema is of the number they name.
        let instance = match value.parse::<i64>() {
            Ok(number) if *name == "$top" => Value::from(number),
            _ => Value::from(value.as_str()),
        };
        let documented = validator(&doc, &schema).is_valid(&instance);
        let query: String = form_urlencoded::Serializer::new(String::new())
            .append_pair(name, value)
            .finish();
        let response = app.get(&format!("{path}?{query}")).await;
        let status = response.status().as_u16();
        let shown = value.chars().take(40).collect::<String>();
        if documented {
            assert_ne!(status, 400, "{path} {name}={shown:?} is documented");
        } else {
            let error = crate::error_of(response, 400).await;
            assert_eq!(error["target"], *name, "{path} {name}={shown:?}");
        }
    }

    // The Idempotency-Key header of an action.
    let trigger = "/api/v1/devices/{id}/triggerConfigurationManagerAction";
    let schema = validator(
        &doc,
        &parameter_schema(&doc, trigger, "post", "Idempotency-Key"),
    );
    for key in [
        String::new(),
        "key-1".into(),
        "with space".into(),
        long(200),
        long(201),
    ] {
        let response = app
            .client
            .post(format!(
                "{}/api/v1/devices/{device}/triggerConfigurationManagerAction",
                app.url
            ))
            .header("idempotency-key", &key)
            .json(&serde_json::json!({"configurationManagerAction": {"action": "refreshMachinePolicy"}}))
            .send()
            .await
            .unwrap();
        if schema.is_valid(&Value::from(key.as_str())) {
            assert!(
                response.status().is_success(),
                "{key:?}: {}",
                response.status()
            );
        } else {
            let error = crate::error_of(response, 400).await;
            assert_eq!(error["target"], "Idempotency-Key", "{key:?}");
        }
    }

    // A new role's body.
    let body = &doc["paths"]["/api/v1/roleDefinitions"]["post"]["requestBody"]["content"]
        ["application/json"]["schema"];
    let schema = validator(&doc, body);
    for (n, role) in [
        serde_json::json!({"displayName": "Readers 1", "permissions": ["managedDevices.read"]}),
        serde_json::json!({"displayName": "Readers 2", "permissions": []}),
        serde_json::json!({"displayName": "", "permissions": ["managedDevices.read"]}),
        serde_json::json!({"displayName": "   ", "permissions": ["managedDevices.read"]}),
        serde_json::json!({"displayName": long(128), "permissions": ["managedDevices.read"]}),
        serde_json::json!({"displayName": long(129), "permissions": ["managedDevices.read"]}),
    ]
    .into_iter()
    .enumerate()
    {
        let response = app
            .client
            .post(format!("{}/api/v1/roleDefinitions", app.url))
            .json(&role)
            .send()
            .await
            .unwrap();
        if schema.is_valid(&role) {
            assert_eq!(response.status(), 201, "role {n}: {role}");
        } else {
            crate::error_of(response, 400).await;
        }
    }
    app.shut_down().await;
}
