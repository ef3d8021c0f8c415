use admin_api::{Collection, Connector, OnboardingToken};
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};

use crate::auth::{require, Authorized};
use crate::domain::connectors;
use crate::error::{AppError, AppResult};
use crate::query::parse_page_options;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/connectors", get(list))
        .route(
            "/connectors/onboardingTokens",
            post(create_onboarding_token),
        )
        .route("/connectors/{id}", get(one).delete(offboard))
}

#[utoipa::path(
    get,
    path = "/api/v1/connectors",
    tag = "connectors",
    summary = "List the attached hierarchies",
    params(("$count" = Option<bool>, Query, description = "Include @odata.count")),
    responses((status = 200, description = "The connectors", body = Collection<Connector>))
)]
pub(crate) async fn list(
    _: Authorized<require::OrganizationRead>,
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> AppResult<Json<Collection<Connector>>> {
    let options = parse_page_options(query.as_deref(), &["$count"])?;
    let connectors = state
        .store
        .connectors(state.now(), state.online_window())
        .await?;
    Ok(Json(Collection {
        count: options.count.then_some(connectors.len() as u64),
        value: connectors,
        next_link: None,
    }))
}

#[utoipa::path(
    get,
    path = "/api/v1/connectors/{id}",
    tag = "connectors",
    summary = "Get a connector",
    params(("id" = String, Path, description = "Connector id")),
    responses(
        (status = 200, description = "The connector", body = Connector),
        (status = 404, description = "No such connector", body = admin_api::ErrorBody),
    )
)]
pub(crate) async fn one(
    _: Authorized<require::OrganizationRead>,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> AppResult<Json<Connector>> {
    state
        .store
        .connector(&id, state.now(), state.online_window())
        .await?
        .map(Json)
        .ok_or_else(|| not_found(&id))
}

/// `DELETE`: starts offboarding. The site confirms (2103 and later, when online) or the grace
/// period runs out; then the connector and its devices are gone. Repeating it changes nothing.
#[utoipa::path(
    delete,
    path = "/api/v1/connectors/{id}",
    tag = "connectors",
    summary = "Offboard a hierarchy",
    params(("id" = String, Path, description = "Connector id")),
    responses(
        (status = 202, description = "Offboarding; repeating it is a no-op", body = Connector),
        (status = 404, description = "No such connector", body = admin_api::ErrorBody),
    )
)]
pub(crate) async fn offboard(
    user: Authorized<require::OrganizationDelete>,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> AppResult<(StatusCode, Json<Connector>)> {
    let connector = connectors::request_offboard(&state, &id, &user.actor())
        .await?
        .ok_or_else(|| not_found(&id))?;
    Ok((StatusCode::ACCEPTED, Json(connector)))
}

#[utoipa::path(
    post,
    path = "/api/v1/connectors/onboardingTokens",
    tag = "connectors",
    summary = "Create a one-time onboarding token",
    responses((status = 201, description = "The token, shown once", body = OnboardingToken))
)]
pub(crate) async fn create_onboarding_token(
    user: Authorized<require::OrganizationUpdate>,
    State(state): State<AppState>,
) -> AppResult<(StatusCode, Json<OnboardingToken>)> {
    let token =
        connectors::new_onboarding_token(&state.store, &state.config, &user.actor()).await?;
    Ok((StatusCode::CREATED, Json(token)))
}

fn not_found(id: &str) -> AppError {
    AppError::NotFound(format!("There is no connector with id '{id}'."))
}
