//! Sign-in and sign-out (`/api/v1/session`) and `GET /api/v1/me`.

use admin_api::{AuditActivity, Me, SignIn};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use axum_extra::extract::cookie::{Cookie, CookieJar};

use crate::auth::{self, password, require, Authorized, ClientAddress, SESSION_COOKIE};
use crate::error::{AppError, AppJson, AppResult};
use crate::secrets;
use crate::state::{to_time, AppState};
use crate::store::audit::{Actor, AuditEntry};

const LONGEST_USER_NAME: usize = 256;
const LONGEST_PASSWORD: usize = 1024;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/session", post(sign_in).delete(sign_out))
        .route("/me", get(me))
        .route("/session/options", get(options))
}

#[utoipa::path(
    post,
    path = "/api/v1/session",
    tag = "identity",
    summary = "Sign in",
    description = "Checks the user name and password and sets the session cookie (HttpOnly, SameSite=Strict). \
        Attempts are throttled per account and per address.",
    request_body = SignIn,
    responses(
        (status = 200, description = "Signed in: who, and what they may do", body = Me),
        (status = 401, description = "The user name or password is incorrect", body = admin_api::ErrorBody),
        (status = 403, description = "Local sign-in is turned off (--local-sign-in off)", body = admin_api::ErrorBody),
        (status = 429, description = "Too many attempts; see Retry-After", body = admin_api::ErrorBody),
    )
)]
pub(crate) async fn sign_in(
    State(state): State<AppState>,
    ClientAddress(address): ClientAddress,
    headers: HeaderMap,
    jar: CookieJar,
    AppJson(body): AppJson<SignIn>,
) -> AppResult<Response> {
    if state.config.local_sign_in == crate::config::Switch::Off {
        let provider = state
            .oidc
            .as_ref()
            .map_or("your organization's provider", |oidc| {
                oidc.settings.display_name.as_str()
            });
        return Err(AppError::Forbidden(format!(
            "Local sign-in is turned off here: sign in with {provider}."
        )));
    }
    let user_name = body.user_name.trim();
    if user_name.is_empty() || user_name.chars().count() > LONGEST_USER_NAME {
        return Err(AppError::bad_request(
            "userName",
            format!("Enter a user name of 1 to {LONGEST_USER_NAME} characters."),
        ));
    }
    if body.password.is_empty() || body.password.len() > LONGEST_PASSWORD {
        return Err(AppError::bad_request(
            "password",
            format!("Enter a password of 1 to {LONGEST_PASSWORD} bytes."),
        ));
    }
    // A refusal names its limit in the access log (the account's or the address's), once per
    // window however often it repeats (`refusals`).
    state
        .limits
        .check_sign_in(&state.store, user_name, &address)
        .await?;
    let credentials = state.store.credentials(user_name).await?;
    let stored = credentials.as_ref().map(|c| c.password_hash.clone());
    let password = body.password;
    let verified =
        tokio::task::spawn_blocking(move || password::verify(&password, stored.as_deref()))
            .await
            .map_err(|e| AppError::Internal(format!("password check failed: {e}")))?;
    let now = state.now();
    let Some(credentials) = credentials.filter(|_| verified) else {
        state
            .store
            .append_audit(
                &AuditEntry::new(
                    AuditActivity::SignIn,
                    &crate::request_id::acting(Actor::user(user_name)),
                )
                .details("The user name or password was incorrect.")
                .failed(),
                now,
            )
            .await?;
        return Err(AppError::Unauthenticated(
            "The user name or password is incorrect.".into(),
        ));
    };
    let token = secrets::generate("");
    let principal = state
        .store
        .create_session(
            &secrets::hash(&token),
            &credentials,
            &crate::request_id::acting(Actor::user(&credentials.user_name)),
            now,
            now + to_time(state.config.session_lifetime),
        )
        .await?;
    tracing::info!(user = %principal.user_principal_name, "signed in");
    let secure = auth::is_secure(&headers, state.config.secure_cookies);
    let jar = jar.add(auth::session_cookie(token, secure));
    Ok((jar, Json(principal.me(provider_name(&state)))).into_response())
}

#[utoipa::path(
    delete,
    path = "/api/v1/session",
    tag = "identity",
    summary = "Sign out",
    description = "Ends the session and clears its cookie. Signing out without a session is not an error. A user who signed in through the organization's provider gets, when the provider has an end-session endpoint, the address that ends their session there too (RP-initiated logout), coming back to the sign-in page.",
    responses(
        (status = 200, description = "Signed out here; the browser goes on to the provider to sign out there", body = admin_api::identity::SignedOut),
        (status = 204, description = "Signed out"),
    )
)]
pub(crate) async fn sign_out(
    State(state): State<AppState>,
    jar: CookieJar,
    headers: HeaderMap,
) -> AppResult<Response> {
    let mut at_provider = None;
    if let Some(session) = auth::session_hash(&headers) {
        if let Some(principal) = auth::authenticate(&state, &session).await? {
            let actor = crate::request_id::acting(principal.actor());
            state
                .store
                .end_session(&session, &actor, state.now())
                .await?;
            tracing::info!(user = %actor.name, "signed out");
            if let Some(oidc) = &state.oidc {
                let issuer = state.store.user_issuer(&principal.user_id).await?;
                if issuer.as_deref() == Some(oidc.settings.issuer.as_str()) {
                    at_provider = oidc.sign_out_url().await;
                }
            }
        }
    }
    let removal = Cookie::build((SESSION_COOKIE, "")).path("/").build();
    let jar = jar.remove(removal);
    Ok(match at_provider {
        Some(provider_sign_out_url) => (
            jar,
            Json(admin_api::identity::SignedOut {
                provider_sign_out_url,
            }),
        )
            .into_response(),
        None => (jar, StatusCode::NO_CONTENT).into_response(),
    })
}

#[utoipa::path(
    get,
    path = "/api/v1/me",
    tag = "identity",
    summary = "Who is signed in and what they may do",
    responses(
        (status = 200, description = "The signed-in user", body = Me),
        (status = 401, description = "Not signed in", body = admin_api::ErrorBody),
    )
)]
pub(crate) async fn me(
    State(state): State<AppState>,
    user: Authorized<require::SignedIn>,
) -> Json<Me> {
    Json(user.principal.me(provider_name(&state)))
}

/// The configured provider's display name, when there is one.
fn provider_name(state: &AppState) -> Option<&str> {
    state
        .oidc
        .as_deref()
        .map(|oidc| oidc.settings.display_name.as_str())
}

#[utoipa::path(
    get,
    path = "/api/v1/session/options",
    tag = "identity",
    summary = "How to sign in here",
    description = "Whether local accounts may sign in, and the organization's provider when one is configured. Needs no session: the sign-in page reads it.",
    responses((status = 200, description = "The ways to sign in", body = admin_api::identity::SignInOptions))
)]
pub(crate) async fn options(
    State(state): State<AppState>,
) -> Json<admin_api::identity::SignInOptions> {
    Json(admin_api::identity::SignInOptions {
        local: state.config.local_sign_in == crate::config::Switch::On,
        provider: state
            .oidc
            .as_ref()
            .map(|oidc| admin_api::identity::SignInProvider {
                display_name: oidc.settings.display_name.clone(),
                start_path: admin_api::identity::OIDC_START_PATH.to_owned(),
            }),
    })
}
