use admin_api::identity::{NewRoleDefinition, RoleAssignments, RoleDefinition, User, UserRoles};
use admin_api::Collection;
use gloo_net::http::Method;

use super::{get, send_json, ApiError, API_BASE};

fn encoded(id: &str) -> String {
    js_sys::encode_uri_component(id).into()
}

pub async fn list() -> Result<Collection<RoleDefinition>, ApiError> {
    get(&format!("{API_BASE}/roleDefinitions")).await
}

pub async fn create(role: &NewRoleDefinition) -> Result<RoleDefinition, ApiError> {
    send_json(
        Method::POST,
        &format!("{API_BASE}/roleDefinitions"),
        role,
        &[],
    )
    .await
}

/// Deletes a custom role (a 204, so no answer to read).
pub async fn delete(id: &str) -> Result<(), ApiError> {
    super::send_maybe_content::<serde::de::IgnoredAny>(
        Method::DELETE,
        &format!("{API_BASE}/roleDefinitions/{}", encoded(id)),
    )
    .await
    .map(|_| ())
}

pub async fn assignments(id: &str) -> Result<RoleAssignments, ApiError> {
    get(&format!(
        "{API_BASE}/roleDefinitions/{}/assignments",
        encoded(id)
    ))
    .await
}

pub async fn set_assignments(
    id: &str,
    assignments: &RoleAssignments,
) -> Result<RoleAssignments, ApiError> {
    send_json(
        Method::PUT,
        &format!("{API_BASE}/roleDefinitions/{}/assignments", encoded(id)),
        assignments,
        &[],
    )
    .await
}

pub async fn users() -> Result<Collection<User>, ApiError> {
    get(&format!("{API_BASE}/users")).await
}

pub async fn set_user_roles(id: &str, roles: &UserRoles) -> Result<User, ApiError> {
    send_json(
        Method::PUT,
        &format!("{API_BASE}/users/{}/roles", encoded(id)),
        roles,
        &[],
    )
    .await
}
