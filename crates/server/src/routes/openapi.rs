//! `GET /api/v1/openapi.json`: the admin API's OpenAPI 3 document, generated from the handlers'
//! annotations and the shared wire types.

use admin_api::{
    ActionState, ActorType, AuditActivity, AuditEvent, AuditResult, CheckResult, Cloud, Collection,
    ConfigurationManagerAction, ConfigurationManagerActionType, ConnectivityCheck, Connector,
    ConnectorEvent, ConnectorStatus, Device, DeviceAction, DevicesEvent, ErrorBody, Me,
    NewRoleDefinition, OnboardingToken, Permission, RoleDefinition, SignIn,
    TriggerConfigurationManagerAction, UploadScope, User, UserRoles,
};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};
use utoipa::OpenApi;

use crate::state::AppState;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Attach Center admin API",
        description = "Configuration Manager tenant attach: devices, ConfigMgr actions, connectors.",
        version = "1"
    ),
    paths(
        super::devices::list,
        super::devices::export,
        super::devices::one,
        super::actions::trigger,
        super::actions::list_for_device,
        super::actions::one,
        super::site_requests::ask,
        super::site_requests::one,
        super::site_requests::recent_queries,
        super::connectors::list,
        super::connectors::one,
        super::connectors::offboard,
        super::connectors::create_onboarding_token,
        super::events::events,
        super::session::sign_in,
        super::session::sign_out,
        super::session::me,
        super::session::options,
        super::roles::role_assignments,
        super::roles::set_role_assignments,
        super::oidc::start,
        super::oidc::callback,
        super::oidc::backchannel_logout,
        super::roles::list_role_definitions,
        super::roles::create_role_definition,
        super::roles::delete_role_definition,
        super::roles::list_users,
        super::roles::set_user_roles,
        super::audit::list,
        super::audit::export,
        super::bulk::start,
        super::bulk::one,
        super::bulk::cancel,
        super::views::list,
        super::views::one,
        super::views::create,
        super::views::change,
        super::views::remove,
        openapi_json,
    ),
    components(schemas(
        Collection<Device>,
        Collection<DeviceAction>,
        Collection<Connector>,
        Collection<admin_api::DeviceView>,
        admin_api::BulkAction,
        admin_api::NewBulkAction,
        admin_api::BulkActionState,
        admin_api::bulk::BulkCounts,
        admin_api::bulk::BulkConnectorCounts,
        admin_api::DeviceView,
        admin_api::NewDeviceView,
        admin_api::DeviceViewChange,
        admin_api::DeviceViewQuery,
        admin_api::views::DeviceViewFilter,
        admin_api::views::DeviceViewOrder,
        Device,
        DeviceAction,
        ActionState,
        ConfigurationManagerActionType,
        ConfigurationManagerAction,
        TriggerConfigurationManagerAction,
        Connector,
        ConnectorStatus,
        Cloud,
        UploadScope,
        ConnectivityCheck,
        CheckResult,
        OnboardingToken,
        ConnectorEvent,
        DevicesEvent,
        ErrorBody,
        SignIn,
        Me,
        admin_api::identity::SignInOptions,
        admin_api::identity::RoleAssignments,
        admin_api::identity::SignedOut,
        admin_api::identity::SignInProvider,
        Permission,
        RoleDefinition,
        NewRoleDefinition,
        User,
        UserRoles,
        Collection<RoleDefinition>,
        Collection<User>,
        Collection<AuditEvent>,
        AuditEvent,
        AuditActivity,
        AuditResult,
        ActorType,
        admin_api::NewSiteRequest,
        admin_api::SiteRequest,
        admin_api::SiteRequestKind,
        admin_api::SiteRequestState,
        admin_api::SiteAnswer,
        admin_api::site_requests::ClientDetails,
        admin_api::site_requests::Inventory,
        admin_api::site_requests::InventoryClass,
        admin_api::site_requests::Table,
        admin_api::site_requests::SiteScripts,
        admin_api::site_requests::SiteScript,
        admin_api::site_requests::QueryResult,
        admin_api::site_requests::ScriptOutput,
        Collection<String>,
    ))
)]
pub struct ApiDoc;

pub fn router() -> Router<AppState> {
    Router::new().route("/openapi.json", get(openapi_json))
}

#[utoipa::path(
    get,
    path = "/api/v1/openapi.json",
    tag = "meta",
    summary = "This document",
    responses((status = 200, description = "OpenAPI 3", content_type = "application/json", body = Object))
)]
pub(crate) async fn openapi_json() -> Json<Value> {
    static DOCUMENT: std::sync::OnceLock<Value> = std::sync::OnceLock::new();
    Json(DOCUMENT.get_or_init(document).clone())
}

/// The document: the handlers' annotations, with what every operation shares added — the error
/// answers that the extractors and layers give (sign-in, permissions, CSRF, rate limits, bodies,
/// a busy or failing server), the bounds of `$top`, and the shape of a `$select`ed device.
pub fn document() -> Value {
    let mut document = serde_json::to_value(ApiDoc::openapi()).expect("the document serializes");
    document["components"]["schemas"]["DeviceSelection"] = device_selection(&document);
    let paths = document["paths"]
        .as_object_mut()
        .expect("the document has paths");
    for (path, item) in paths.iter_mut() {
        for (method, operation) in item.as_object_mut().expect("a path item").iter_mut() {
            shared_answers(path, method, operation);
            bound_parameters(operation);
        }
    }
    if let Some(list) = document
        .pointer_mut("/paths/~1api~1v1~1devices/get/responses/200/content/application~1json/schema")
    {
        // With `$select`, each device carries the selected fields only.
        let full = list.take();
        *list = json!({ "anyOf": [full, {
            "type": "object",
            "required": ["value"],
            "properties": {
                "value": { "type": "array", "items": { "$ref": "#/components/schemas/DeviceSelection" } },
                "@odata.nextLink": { "type": ["string", "null"] },
                "@odata.count": { "type": ["integer", "null"], "minimum": 0 }
            }
        }]});
    }
    document
}

/// A device as `$select` returns it: any of its fields, none required.
fn device_selection(document: &Value) -> Value {
    let mut selection = document["components"]["schemas"]["Device"].clone();
    if let Some(object) = selection.as_object_mut() {
        object.remove("required");
        object.insert(
            "description".into(),
            "A device with the fields `$select` named only.".into(),
        );
    }
    selection
}

/// The error answers an operation can give whatever its handler does.
fn shared_answers(path: &str, method: &str, operation: &mut Value) {
    if path == "/api/v1/openapi.json" {
        return;
    }
    let signing_in = path == "/api/v1/session" && method == "post";
    let changes = matches!(method, "post" | "put" | "patch" | "delete");
    let has_body = operation.get("requestBody").is_some();
    let has_parameters = operation
        .get("parameters")
        .and_then(Value::as_array)
        .is_some_and(|p| !p.is_empty());
    // Those needing only a session: who am I, the event stream, signing out.
    let signed_in_only = matches!(
        (path, method),
        ("/api/v1/me", "get") | ("/api/v1/events", "get") | ("/api/v1/session", "delete")
    );
    let mut answers = vec![
        (500, "The server failed; quote the request id"),
        (
            503,
            "The server is busy (a large upload holds the database); see Retry-After",
        ),
        (429, "Too many requests or attempts; see Retry-After"),
    ];
    if !signing_in {
        answers.push((401, "Not signed in, or the session ended"));
    }
    if changes || !signed_in_only {
        answers.push((
            403,
            "A permission none of the caller's roles grants, or a change without the CSRF header",
        ));
    }
    // Every query option is checked (unknown ones are refused), and so is every body.
    if has_body || has_parameters || method == "get" {
        answers.push((400, "A bad query option, path value or body"));
    }
    if has_body {
        answers.push((413, "The body is larger than the server accepts"));
        answers.push((415, "The body is not JSON (Content-Type: application/json)"));
    }
    let responses = operation["responses"]
        .as_object_mut()
        .expect("an operation has responses");
    for (status, description) in answers {
        responses.entry(status.to_string()).or_insert_with(|| {
            json!({
                "description": description,
                "content": { "application/json": { "schema": { "$ref": "#/components/schemas/ErrorBody" } } }
            })
        });
    }
}

/// What the server enforces of each query option and header, so that a client made from the
/// document never sends what will be refused: `$top`'s range, `$filter`'s and `$search`'s lengths,
/// a `$search`'s terms, the fields `$select` takes, and the Idempotency-Key's characters.
fn bound_parameters(operation: &mut Value) {
    use admin_api::collection::{
        MAX_FILTER_LENGTH, MAX_PAGE_SIZE, MAX_SEARCH_LENGTH, MAX_SEARCH_TERM, MAX_SEARCH_TERMS,
    };
    let Some(parameters) = operation
        .get_mut("parameters")
        .and_then(Value::as_array_mut)
    else {
        return;
    };
    for parameter in parameters {
        let name = parameter["name"].as_str().unwrap_or_default().to_owned();
        let schema = &mut parameter["schema"];
        match name.as_str() {
            "$top" => {
                schema["minimum"] = 1.into();
                schema["maximum"] = MAX_PAGE_SIZE.into();
            }
            "$skiptoken" => schema["minLength"] = 1.into(),
            "$filter" => {
                schema["minLength"] = 1.into();
                schema["maxLength"] = MAX_FILTER_LENGTH.into();
            }
            "$search" => {
                schema["minLength"] = 1.into();
                schema["maxLength"] = MAX_SEARCH_LENGTH.into();
                // At least one term that is not blank, no term longer than MAX_SEARCH_TERM
                // characters (quotes counted), at most MAX_SEARCH_TERMS terms (commas counted),
                // and no control character.
                schema["pattern"] = format!(
                    r#"^(?=.*[^\s,"])(?!.*[^,]{{{}}})(?!(.*,){{{MAX_SEARCH_TERMS}}})[^\u0000-\u001f\u007f-\u009f]*$"#,
                    MAX_SEARCH_TERM + 1
                )
                .into();
            }
            "$select" => {
                let field = format!(
                    "({})",
                    crate::query::devices::selectable()
                        .map(|field| field.name)
                        .collect::<Vec<_>>()
                        .join("|")
                );
                schema["pattern"] = format!(r"^ *{field} *(, *{field} *)*$").into();
            }
            "Idempotency-Key" => {
                schema["minLength"] = 1.into();
                schema["maxLength"] = admin_api::actions::MAX_IDEMPOTENCY_KEY.into();
                schema["pattern"] = "^[!-~]+$".into();
            }
            _ => {}
        }
    }
}
