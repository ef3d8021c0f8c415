//! Roles and their assignment: `/api/v1/roleDefinitions` and `/api/v1/users`. Reading them needs
//! roles.read; changing them roles.update, and nobody grants a permission they do not hold,
//! changes their own roles, or takes the last account's hold on every permission away.

use admin_api::identity::{RoleAssignments, MAX_CLAIM_VALUE, MAX_ROLE_CLAIM_VALUES};
use admin_api::{Collection, NewRoleDefinition, RoleDefinition, User, UserRoles};
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::routing::{delete, get, put};
use axum::{Json, Router};

use crate::auth::{require, Authorized};
use crate::error::{AppError, AppJson, AppResult};
use crate::query::parse_page_options;
use crate::state::AppState;

use admin_api::identity::MAX_ROLE_NAME as LONGEST_NAME;

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/roleDefinitions",
            get(list_role_definitions).post(create_role_definition),
        )
        .route("/roleDefinitions/{id}", delete(delete_role_definition))
        .route(
            "/roleDefinitions/{id}/assignments",
            get(role_assignments).put(set_role_assignments),
        )
        .route("/users", get(list_users))
        .route("/users/{id}/roles", put(set_user_roles))
}

#[utoipa::path(
    get,
    path = "/api/v1/roleDefinitions",
    tag = "identity",
    summary = "List the roles",
    responses((status = 200, description = "Built-in roles first", body = Collection<RoleDefinition>))
)]
pub(crate) async fn list_role_definitions(
    _: Authorized<require::RolesRead>,
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> AppResult<Json<Collection<RoleDefinition>>> {
    parse_page_options(query.as_deref(), &[])?;
    Ok(Json(Collection {
        value: state.store.role_definitions().await?,
        next_link: None,
        count: None,
    }))
}

#[utoipa::path(
    post,
    path = "/api/v1/roleDefinitions",
    tag = "identity",
    summary = "Create a custom role from a set of permissions",
    request_body = NewRoleDefinition,
    responses(
        (status = 201, description = "The role", body = RoleDefinition),
        (status = 400, description = "No name, no permissions, or an unknown permission", body = admin_api::ErrorBody),
        (status = 403, description = "A permission the caller does not hold", body = admin_api::ErrorBody),
        (status = 409, description = "A role of that name exists", body = admin_api::ErrorBody),
    )
)]
pub(crate) async fn create_role_definition(
    user: Authorized<require::RolesUpdate>,
    State(state): State<AppState>,
    AppJson(role): AppJson<NewRoleDefinition>,
) -> AppResult<(StatusCode, Json<RoleDefinition>)> {
    let name = role.display_name.trim();
    if name.is_empty() || name.chars().count() > LONGEST_NAME {
        return Err(AppError::bad_request(
            "displayName",
            format!("A role needs a name of 1 to {LONGEST_NAME} characters."),
        ));
    }
    if role.permissions.is_empty() {
        return Err(AppError::bad_request(
            "permissions",
            "A role needs at least one permission.",
        ));
    }
    user.principal.may_grant(&role.permissions)?;
    let role = NewRoleDefinition {
        display_name: name.to_owned(),
        ..role
    };
    let created = state
        .store
        .create_role_definition(&role, &user.actor(), state.now())
        .await?;
    Ok((StatusCode::CREATED, Json(created)))
}

#[utoipa::path(
    delete,
    path = "/api/v1/roleDefinitions/{id}",
    tag = "identity",
    summary = "Delete a custom role nobody holds",
    params(("id" = String, Path, description = "Role id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such role", body = admin_api::ErrorBody),
        (status = 409, description = "Built in, or still assigned (to a user or to a claim value of the provider)", body = admin_api::ErrorBody),
    )
)]
pub(crate) async fn delete_role_definition(
    user: Authorized<require::RolesUpdate>,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> AppResult<StatusCode> {
    if state
        .store
        .delete_role_definition(&id, &user.actor(), state.now())
        .await?
    {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(AppError::NotFound(format!(
            "There is no role with id '{id}'."
        )))
    }
}

#[utoipa::path(
    get,
    path = "/api/v1/users",
    tag = "identity",
    summary = "List the local accounts and their roles",
    responses((status = 200, description = "The accounts", body = Collection<User>))
)]
pub(crate) async fn list_users(
    _: Authorized<require::RolesRead>,
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> AppResult<Json<Collection<User>>> {
    parse_page_options(query.as_deref(), &[])?;
    Ok(Json(Collection {
        value: state.store.users().await?,
        next_link: None,
        count: None,
    }))
}

#[utoipa::path(
    put,
    path = "/api/v1/users/{id}/roles",
    tag = "identity",
    summary = "Replace a user's roles",
    params(("id" = String, Path, description = "User id")),
    request_body = UserRoles,
    responses(
        (status = 200, description = "The user with the new roles", body = User),
        (status = 400, description = "An unknown role", body = admin_api::ErrorBody),
        (status = 403, description = "The caller's own roles, or a permission the caller does not hold", body = admin_api::ErrorBody),
        (status = 404, description = "No such user", body = admin_api::ErrorBody),
        (status = 409, description = "The last account holding every permission would lose it, or the user signs in through the provider (their roles come from its claim)", body = admin_api::ErrorBody),
    )
)]
pub(crate) async fn set_user_roles(
    user: Authorized<require::RolesUpdate>,
    State(state): State<AppState>,
    Path(id): Path<String>,
    AppJson(body): AppJson<UserRoles>,
) -> AppResult<Json<User>> {
    state
        .store
        .set_user_roles(
            &id,
            &body.roles,
            Some(&user.principal),
            &user.actor(),
            state.now(),
        )
        .await?
        .map(Json)
        .ok_or_else(|| AppError::NotFound(format!("There is no user with id '{id}'.")))
}

fn no_role(id: &str) -> AppError {
    AppError::NotFound(format!("There is no role with id '{id}'."))
}

#[utoipa::path(
    get,
    path = "/api/v1/roleDefinitions/{id}/assignments",
    tag = "identity",
    summary = "The provider's claim values a role is assigned to",
    params(("id" = String, Path, description = "Role id")),
    responses(
        (status = 200, description = "The claim values, in order", body = RoleAssignments),
        (status = 404, description = "No such role", body = admin_api::ErrorBody),
    )
)]
pub(crate) async fn role_assignments(
    _: Authorized<require::RolesRead>,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> AppResult<Json<RoleAssignments>> {
    let claim_values = state
        .store
        .role_assignments(&id)
        .await?
        .ok_or_else(|| no_role(&id))?;
    Ok(Json(RoleAssignments { claim_values }))
}

#[utoipa::path(
    put,
    path = "/api/v1/roleDefinitions/{id}/assignments",
    tag = "identity",
    summary = "Assign a role to the provider's claim values",
    description = "Replaces the values of the provider's roles claim (app roles, or group ids) the role is assigned to; provider users hold it from their next sign-in. Only someone who holds every permission of the role may assign it.",
    params(("id" = String, Path, description = "Role id")),
    request_body = RoleAssignments,
    responses(
        (status = 200, description = "The claim values now, in order", body = RoleAssignments),
        (status = 400, description = "Too many values, or an empty or over-long one", body = admin_api::ErrorBody),
        (status = 403, description = "The role holds a permission the caller does not", body = admin_api::ErrorBody),
        (status = 404, description = "No such role", body = admin_api::ErrorBody),
    )
)]
pub(crate) async fn set_role_assignments(
    user: Authorized<require::RolesUpdate>,
    State(state): State<AppState>,
    Path(id): Path<String>,
    AppJson(assignments): AppJson<RoleAssignments>,
) -> AppResult<Json<RoleAssignments>> {
    if assignments.claim_values.len() > MAX_ROLE_CLAIM_VALUES {
        return Err(AppError::bad_request(
            "claimValues",
            format!("A role is assigned to at most {MAX_ROLE_CLAIM_VALUES} claim values."),
        ));
    }
    let values: Vec<String> = assignments
        .claim_values
        .iter()
        .map(|value| value.trim().to_owned())
        .collect();
    if values
        .iter()
        .any(|value| value.is_empty() || value.chars().count() > MAX_CLAIM_VALUE)
    {
        return Err(AppError::bad_request(
            "claimValues",
            format!("A claim value is 1 to {MAX_CLAIM_VALUE} characters."),
        ));
    }
    let role = state
        .store
        .role_definitions()
        .await?
        .into_iter()
        .find(|role| role.id == id)
        .ok_or_else(|| no_role(&id))?;
    user.principal.may_grant(&role.permissions)?;
    let claim_values = state
        .store
        .set_role_assignments(&id, &values, &user.actor(), state.now())
        .await?
        .ok_or_else(|| no_role(&id))?;
    Ok(Json(RoleAssignments { claim_values }))
}
