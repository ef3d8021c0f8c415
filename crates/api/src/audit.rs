//! `GET /api/v1/auditEvents`: who did what, to which resource, when, with what result.

use serde::{Deserialize, Serialize};

use crate::fields::Field;
use crate::wire_enum::wire_enum;

wire_enum!(
    /// What was done. Actions have two events: the request (by a user) and the result (by the
    /// site's connector, or the server when the action timed out or was canceled).
    AuditActivity {
        SignIn = "signIn",
        SignOut = "signOut",
        RequestConfigurationManagerAction = "requestConfigurationManagerAction",
        ConfigurationManagerActionResult = "configurationManagerActionResult",
        CreateOnboardingToken = "createOnboardingToken",
        OnboardConnector = "onboardConnector",
        DeleteConnector = "deleteConnector",
        CompleteOffboarding = "completeOffboarding",
        CreateUser = "createUser",
        UpdateUserRoles = "updateUserRoles",
        CreateRoleDefinition = "createRoleDefinition",
        DeleteRoleDefinition = "deleteRoleDefinition",
        UpdateRoleAssignments = "updateRoleAssignments",
        ResetPassword = "resetPassword",
        RunCmPivotQuery = "runCMPivotQuery",
        CmPivotQueryResult = "cmPivotQueryResult",
        RunScript = "runScript",
        ScriptResult = "scriptResult",
        RemoveAuditEvents = "removeAuditEvents",
        ShareDeviceView = "shareDeviceView",
        DeleteDeviceView = "deleteDeviceView",
        RequestBulkAction = "requestBulkAction",
        CancelBulkAction = "cancelBulkAction",
    }
);

wire_enum!(
    AuditResult {
        Success = "success",
        Failure = "failure",
    }
);

wire_enum!(
    /// Who acted: a signed-in user, a site's connector, the server itself (timeouts, grace
    /// periods), or the server's command line on its host.
    ActorType {
        User = "user",
        Connector = "connector",
        System = "system",
        CommandLine = "commandLine",
    }
);

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditEvent {
    pub id: String,
    pub activity_date_time: String,
    pub activity: AuditActivity,
    pub activity_result: AuditResult,
    pub actor_type: ActorType,
    /// A user principal name, a connector id, `system`, or the host account that ran the CLI.
    pub actor: String,
    /// `device`, `connector`, `onboardingToken`, `user`, `roleDefinition`, `session`, `auditLog`, `deviceView`, `bulkAction`.
    pub resource_type: String,
    pub resource_id: Option<String>,
    /// A readable name of the resource when it had one (a device or hierarchy name, a role).
    pub resource_name: Option<String>,
    /// What happened, in a sentence (the action and its result code, the roles now assigned).
    pub details: Option<String>,
    /// The request that did it; none for the server's own work.
    pub request_id: Option<String>,
    /// The network address the request came from (behind a trusted reverse proxy, the client it
    /// names); none for the server's own work and for events recorded before it was kept.
    #[serde(default)]
    pub source_address: Option<String>,
    /// The request's `User-Agent`, at most 512 characters.
    #[serde(default)]
    pub user_agent: Option<String>,
}

/// The fields of an audit event that `$filter` may name.
pub const AUDIT_FIELDS: &[Field] = &[
    Field::date_time("activityDateTime", "at").filterable(),
    Field::one_of("activity", "activity", AuditActivity::WIRE).filterable(),
    Field::one_of("activityResult", "result", AuditResult::WIRE).filterable(),
    Field::one_of("actorType", "actor_type", ActorType::WIRE).filterable(),
    Field::text("actor", "actor").filterable(),
    Field::text("resourceType", "resource_type").filterable(),
    Field::text("resourceId", "resource_id").filterable(),
    Field::text("resourceName", "resource_name").filterable(),
    Field::text("requestId", "request_id").filterable(),
    Field::text("sourceAddress", "source_address").filterable(),
];
