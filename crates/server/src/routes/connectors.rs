use admin_api::{Collection, Connector, OnboardingToken};
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};

use crate::error::{AppError, AppResult};
use crate::query::parse_page_options;
use crate::state::{to_time, AppState};
use crate::store::{timestamp, Store};
use crate::{secrets, Config};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/connectors", get(list))
        .route(
            "/connectors/onboardingTokens",
            post(create_onboarding_token),
        )
        .route("/connectors/{id}", get(one).delete(offboard))
}

async fn list(
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

async fn one(State(state): State<AppState>, Path(id): Path<String>) -> AppResult<Json<Connector>> {
    state
        .store
        .connector(&id, state.now(), state.online_window())
        .await?
        .map(Json)
        .ok_or_else(|| not_found(&id))
}

/// `DELETE`: starts offboarding. The site confirms (2103 and later, when online) or the grace
/// period runs out; then the connector and its devices are gone. Repeating it changes nothing.
async fn offboard(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> AppResult<(StatusCode, Json<Connector>)> {
    if !state.store.request_offboard(&id, state.now()).await? {
        return Err(not_found(&id));
    }
    tracing::info!(connector = %id, "offboarding requested");
    state.signal_site(&id);
    state.publish_connector(&id).await;
    let connector = state
        .store
        .connector(&id, state.now(), state.online_window())
        .await?
        .ok_or_else(|| not_found(&id))?;
    Ok((StatusCode::ACCEPTED, Json(connector)))
}

async fn create_onboarding_token(
    State(state): State<AppState>,
) -> AppResult<(StatusCode, Json<OnboardingToken>)> {
    let token = new_onboarding_token(&state.store, &state.config).await?;
    Ok((StatusCode::CREATED, Json(token)))
}

/// Makes a one-time onboarding token; only its hash is kept.
pub async fn new_onboarding_token(store: &Store, config: &Config) -> AppResult<OnboardingToken> {
    let token = secrets::generate("cmot_");
    let now = time::OffsetDateTime::now_utc();
    let expires = now + to_time(config.onboarding_token_lifetime);
    store
        .insert_onboarding_token(&secrets::hash(&token), now, expires)
        .await?;
    Ok(OnboardingToken {
        token,
        expires_date_time: timestamp(expires),
    })
}

fn not_found(id: &str) -> AppError {
    AppError::NotFound(format!("There is no connector with id '{id}'."))
}
