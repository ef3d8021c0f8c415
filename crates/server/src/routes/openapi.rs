//! `GET /api/v1/openapi.json`: the admin API's OpenAPI 3 document, generated from the handlers'
//! annotations and the shared wire types.

use admin_api::{
    ActionState, ActorType, AuditActivity, AuditEvent, AuditResult, Cloud, Collection,
    ConfigurationManagerAction, ConfigurationManagerActionType, Connector, ConnectorEvent,
    ConnectorStatus, Device, DeviceAction, DevicesEvent, ErrorBody, Me, NewRoleDefinition,
    OnboardingToken, Permission, RoleDefinition, SignIn, TriggerConfigurationManagerAction,
    UploadScope, User, UserRoles,
};
use axum::routing::get;
use axum::{Json, Router};
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
        super::connectors::list,
        super::connectors::one,
        super::connectors::offboard,
        super::connectors::create_onboarding_token,
        super::events::events,
        super::session::sign_in,
        super::session::sign_out,
        super::session::me,
        super::roles::list_role_definitions,
        super::roles::create_role_definition,
        super::roles::delete_role_definition,
        super::roles::list_users,
        super::roles::set_user_roles,
        super::audit::list,
        openapi_json,
    ),
    components(schemas(
        Collection<Device>,
        Collection<DeviceAction>,
        Collection<Connector>,
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
        OnboardingToken,
        ConnectorEvent,
        DevicesEvent,
        ErrorBody,
        SignIn,
        Me,
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
pub(crate) async fn openapi_json() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
