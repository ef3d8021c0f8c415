//! Sign-in, the signed-in user, roles and permissions (the contract's Identity section).

use serde::{Deserialize, Serialize};

use crate::wire_enum::wire_enum;

wire_enum!(
    /// What a role allows, in Intune's terms. The server checks one of these on every admin
    /// endpoint; the SPA reads them from `GET /api/v1/me` to disable what the user may not do.
    Permission {
        ManagedDevicesRead = "managedDevices.read",
        RemoteTasksConfigurationManagerAction = "remoteTasks.configurationManagerAction",
        OrganizationRead = "organization.read",
        OrganizationUpdate = "organization.update",
        OrganizationDelete = "organization.delete",
        AuditDataRead = "auditData.read",
        RolesRead = "roles.read",
        RolesUpdate = "roles.update",
        RemoteTasksRunCmPivot = "remoteTasks.runCMPivot",
        RemoteTasksRunScript = "remoteTasks.runScript",
        ManagedDevicesShareViews = "managedDevices.shareViews",
    }
);

impl Permission {
    /// Where Intune's role editor shows this permission: category › permission.
    pub fn label(self) -> &'static str {
        match self {
            Self::ManagedDevicesRead => "Managed devices › Read",
            Self::RemoteTasksConfigurationManagerAction => {
                "Remote tasks › Initiate Configuration Manager action"
            }
            Self::OrganizationRead => "Organization › Read",
            Self::OrganizationUpdate => "Organization › Update",
            Self::OrganizationDelete => "Organization › Delete",
            Self::AuditDataRead => "Audit data › Read",
            Self::RolesRead => "Roles › Read",
            Self::RolesUpdate => "Roles › Update (create, delete and assign roles)",
            Self::RemoteTasksRunCmPivot => "Remote tasks › Run CMPivot query",
            Self::RemoteTasksRunScript => "Remote tasks › Run script",
            Self::ManagedDevicesShareViews => "Managed devices › Share saved views",
        }
    }
}

/// The built-in roles, by display name.
pub const INTUNE_ADMINISTRATOR: &str = "Intune Administrator";
pub const HELP_DESK_OPERATOR: &str = "Help Desk Operator";
pub const READ_ONLY_OPERATOR: &str = "Read Only Operator";

/// Body of `POST /api/v1/session`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SignIn {
    pub user_name: String,
    pub password: String,
}

/// `GET /api/v1/session/options`: how this admin center is signed in to (no session needed).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SignInOptions {
    /// Whether local accounts may sign in with their password.
    pub local: bool,
    /// The organization's OpenID Connect provider, when one is configured.
    pub provider: Option<SignInProvider>,
}

/// The organization's provider, as the sign-in page offers it.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SignInProvider {
    /// The button's name: "Sign in with <displayName>".
    pub display_name: String,
    /// Where the browser goes to sign in there (add `returnTo`, a local path, to come back to it).
    pub start_path: String,
}

/// `GET`/`PUT /api/v1/roleDefinitions/{id}/assignments`: the values of the provider's roles claim
/// (app roles, or group ids) a role is assigned to. A provider user holds the role from their next
/// sign-in when their ID token carries any of them.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RoleAssignments {
    #[cfg_attr(feature = "openapi", schema(max_items = 100))]
    pub claim_values: Vec<String>,
}

/// Most claim values one role is assigned to.
pub const MAX_ROLE_CLAIM_VALUES: usize = 100;
/// The longest claim value.
pub const MAX_CLAIM_VALUE: usize = 256;

/// `DELETE /api/v1/session`'s answer when the user signed in through the organization's provider:
/// where the browser goes to sign out there too.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SignedOut {
    pub provider_sign_out_url: String,
}

/// Where a sign-in through the provider starts.
pub const OIDC_START_PATH: &str = "/api/v1/session/oidc/start";

/// `GET /api/v1/me`: who is signed in and what they may do.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Me {
    pub user_principal_name: String,
    pub display_name: String,
    /// Display names of the user's roles.
    pub roles: Vec<String>,
    pub permissions: Vec<Permission>,
    /// The organization's provider the user signed in through (its display name, e.g.
    /// "Contoso"); absent for a local account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signed_in_through: Option<String>,
}

impl Me {
    pub fn may(&self, permission: Permission) -> bool {
        self.permissions.contains(&permission)
    }
}

/// A role: built in, or made of a chosen set of permissions.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RoleDefinition {
    pub id: String,
    pub display_name: String,
    pub description: String,
    pub is_built_in: bool,
    pub permissions: Vec<Permission>,
}

/// Body of `POST /api/v1/roleDefinitions`: a custom role.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewRoleDefinition {
    /// Trimmed, 1 to [`MAX_ROLE_NAME`] characters.
    #[cfg_attr(
        feature = "openapi",
        schema(min_length = 1, max_length = 128, pattern = r"\S")
    )]
    pub display_name: String,
    #[serde(default)]
    pub description: String,
    #[cfg_attr(feature = "openapi", schema(min_items = 1))]
    pub permissions: Vec<Permission>,
}

/// Longest name of a role, in characters (after trimming).
pub const MAX_ROLE_NAME: usize = 128;

/// A local account as the admin API shows it (never its password hash).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    pub id: String,
    pub user_principal_name: String,
    pub display_name: String,
    /// Display names of the assigned roles.
    pub roles: Vec<String>,
    /// A user who signs in through the organization's provider: their roles come from the
    /// values of their roles claim at each sign-in, not from `PUT /users/{id}/roles`.
    #[serde(default)]
    pub from_provider: bool,
}

/// Body of `PUT /api/v1/users/{id}/roles`: the user's whole set of roles, by display name.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UserRoles {
    pub roles: Vec<String>,
}

/// Header that proves a mutating request comes from the admin center's own pages (CSRF): a
/// cross-site page cannot send it without a CORS preflight this server refuses.
pub const CSRF_HEADER: &str = "x-attach-center-request";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permissions_use_the_contract_names() {
        let names: Vec<&str> = Permission::ALL.iter().map(|p| p.as_str()).collect();
        assert_eq!(
            names,
            [
                "managedDevices.read",
                "remoteTasks.configurationManagerAction",
                "organization.read",
                "organization.update",
                "organization.delete",
                "auditData.read",
                "roles.read",
                "roles.update",
                "remoteTasks.runCMPivot",
                "remoteTasks.runScript",
                "managedDevices.shareViews"
            ]
        );
        let me: Me = serde_json::from_str(
            r#"{"userPrincipalName":"a@b","displayName":"A","roles":["Help Desk Operator"],
                "permissions":["managedDevices.read","remoteTasks.configurationManagerAction"]}"#,
        )
        .unwrap();
        assert!(me.may(Permission::RemoteTasksConfigurationManagerAction));
        assert!(!me.may(Permission::OrganizationDelete));
    }

    #[test]
    fn sign_in_refuses_unknown_fields() {
        assert!(serde_json::from_str::<SignIn>(
            r#"{"userName":"a","password":"b","remember":true}"#
        )
        .is_err());
    }
}
