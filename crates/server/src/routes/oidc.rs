//! Sign-in through the organization's OpenID Connect provider: the authorization code flow with
//! PKCE (S256), `state` and `nonce`, as a confidential client. `start` sends the browser to the
//! provider with a short-lived cookie holding what the callback checks; `callback` checks it,
//! redeems the code, verifies the ID token and starts a session. Every refusal is audited as a
//! failed sign-in and sends the browser back to the sign-in page with the reason.

use admin_api::AuditActivity;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use openidconnect::core::CoreAuthenticationFlow;
use openidconnect::{
    AuthorizationCode, CsrfToken, Nonce, PkceCodeChallenge, PkceCodeVerifier, Scope, TokenResponse,
};
use openidconnect::{ClaimsVerificationError, SignatureVerificationError};
use serde::{Deserialize, Serialize};

use crate::auth::{self};
use crate::error::{AppError, AppResult};
use crate::oidc::Oidc;
use crate::secrets;
use crate::state::{to_time, AppState};
use crate::store::audit::{Actor, AuditEntry};
use crate::store::provider_users::ProviderUser;

/// The cookie that carries one sign-in's `state`, `nonce` and PKCE verifier through the
/// provider: `SameSite=Lax`, as the provider's redirect back is a cross-site navigation.
const FLOW_COOKIE: &str = "attach_center_oidc";
const FLOW_PATH: &str = "/api/v1/session/oidc";
/// How long a sign-in at the provider may take.
const FLOW_LIFETIME: time::Duration = time::Duration::minutes(10);
/// The longest return path kept.
const LONGEST_RETURN_PATH: usize = 2048;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/session/oidc/start", get(start))
        .route("/session/oidc/callback", get(callback))
}

/// The provider's back-channel logout, posted server to server: no browser sends it, so no
/// CSRF header is asked of it (its signed token is its proof). Mounted beside the admin API,
/// outside its CSRF check.
pub fn backchannel_router() -> Router<AppState> {
    Router::new().route(
        crate::oidc::BACKCHANNEL_LOGOUT_PATH,
        axum::routing::post(backchannel_logout),
    )
}

/// What the flow cookie holds.
#[derive(Serialize, Deserialize)]
struct Flow {
    state: String,
    nonce: String,
    verifier: String,
    #[serde(rename = "returnTo")]
    return_to: String,
}

#[derive(Deserialize)]
pub(crate) struct StartQuery {
    #[serde(rename = "returnTo")]
    return_to: Option<String>,
}

/// A path in this admin center to go back to, never another site: `/` unless `path` is a local
/// path (one slash, no backslash, no control character).
fn local_path(path: Option<&str>) -> String {
    match path {
        Some(path)
            if path.starts_with('/')
                && !path.starts_with("//")
                && !path.contains('\\')
                && !path.chars().any(char::is_control)
                && path.len() <= LONGEST_RETURN_PATH =>
        {
            path.to_owned()
        }
        _ => "/".to_owned(),
    }
}

fn configured(state: &AppState) -> AppResult<&Oidc> {
    state
        .oidc
        .as_deref()
        .ok_or_else(|| AppError::NotFound("No sign-in provider is configured here.".into()))
}

/// The sign-in page with a message for the user.
fn back_to_sign_in(message: &str) -> Redirect {
    let query: String = form_urlencoded::Serializer::new(String::new())
        .append_pair("signInError", message)
        .finish();
    Redirect::to(&format!("/signin?{query}"))
}

fn flow_cookie(value: String, secure: bool) -> Cookie<'static> {
    Cookie::build((FLOW_COOKIE, value))
        .http_only(true)
        .same_site(SameSite::Lax)
        .path(FLOW_PATH)
        .secure(secure)
        .max_age(FLOW_LIFETIME)
        .build()
}

/// Sends the browser to the provider to sign in.
#[utoipa::path(
    get,
    path = "/api/v1/session/oidc/start",
    tag = "identity",
    summary = "Sign in through the organization's provider",
    description = "Sends the browser to the OpenID Connect provider (303), with a cookie holding this sign-in's state, nonce and PKCE verifier; after sign-in there the provider sends it to the callback. `returnTo` is a local path to open afterwards (`/` when it is not one). A provider that cannot be reached sends the browser to `/signin` with `signInError`.",
    params(("returnTo" = Option<String>, Query, description = "A local path to open after sign-in")),
    responses(
        (status = 303, description = "To the provider, or back to the sign-in page with the reason"),
        (status = 404, description = "No provider is configured", body = admin_api::ErrorBody),
    )
)]
pub(crate) async fn start(
    State(state): State<AppState>,
    headers: HeaderMap,
    jar: CookieJar,
    Query(query): Query<StartQuery>,
) -> AppResult<Response> {
    let oidc = configured(&state)?;
    let metadata = match oidc.metadata().await {
        Ok(metadata) => metadata,
        Err(unreachable) => {
            tracing::warn!(%unreachable, "a sign-in could not start");
            return Ok(back_to_sign_in(&unreachable.to_string()).into_response());
        }
    };
    let client = oidc.client(&metadata).map_err(AppError::Internal)?;
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, csrf, nonce) = client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("profile".into()))
        .set_pkce_challenge(challenge)
        .url();
    let flow = Flow {
        state: csrf.secret().clone(),
        nonce: nonce.secret().clone(),
        verifier: verifier.secret().clone(),
        return_to: local_path(query.return_to.as_deref()),
    };
    let value = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&flow).expect("a flow serializes"));
    let secure = auth::is_secure(&headers, state.config.secure_cookies);
    let jar = jar.add(flow_cookie(value, secure));
    Ok((jar, Redirect::to(url.as_str())).into_response())
}

#[derive(Deserialize)]
pub(crate) struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

/// A sign-in that did not complete: why, for the audit log and the user, and who, when known.
struct Refused {
    reason: String,
    user: Option<String>,
}

impl Refused {
    fn new(reason: impl Into<String>) -> Self {
        Self {
            reason: reason.into(),
            user: None,
        }
    }
}

/// The provider sends the browser back here with a code (or an error).
#[utoipa::path(
    get,
    path = "/api/v1/session/oidc/callback",
    tag = "identity",
    summary = "The provider's answer to a sign-in",
    description = "Checks the answer against the sign-in this browser started (state), redeems the code with its PKCE verifier, verifies the ID token (signature, issuer, audience, expiry, nonce), makes the user at their first sign-in, sets their roles from the roles claim and starts a session; then 303 to the sign-in's `returnTo`. A refusal is audited as a failed sign-in and sends the browser to `/signin` with `signInError`.",
    params(
        ("code" = Option<String>, Query, description = "The authorization code"),
        ("state" = Option<String>, Query, description = "The sign-in's state"),
        ("error" = Option<String>, Query, description = "The provider's error, instead of a code"),
        ("error_description" = Option<String>, Query, description = "The provider's words for it"),
    ),
    responses(
        (status = 303, description = "Signed in, to `returnTo`; or refused, to the sign-in page with the reason"),
        (status = 404, description = "No provider is configured", body = admin_api::ErrorBody),
    )
)]
pub(crate) async fn callback(
    State(state): State<AppState>,
    headers: HeaderMap,
    jar: CookieJar,
    Query(query): Query<CallbackQuery>,
) -> AppResult<Response> {
    let oidc = configured(&state)?;
    let flow = jar.get(FLOW_COOKIE).and_then(|cookie| {
        let bytes = URL_SAFE_NO_PAD.decode(cookie.value()).ok()?;
        serde_json::from_slice::<Flow>(&bytes).ok()
    });
    // The flow cookie serves one callback, whatever its outcome.
    let jar = jar.remove(Cookie::build((FLOW_COOKIE, "")).path(FLOW_PATH).build());
    let secure = auth::is_secure(&headers, state.config.secure_cookies);
    match signed_in(&state, oidc, flow, query).await {
        Ok((token, return_to)) => {
            let jar = jar.add(auth::session_cookie(token, secure));
            Ok((jar, Redirect::to(&return_to)).into_response())
        }
        Err(refused) => {
            let actor = match &refused.user {
                Some(user) => Actor::user(user),
                None => Actor::user("anonymous"),
            };
            state
                .store
                .append_audit(
                    &AuditEntry::new(AuditActivity::SignIn, &crate::request_id::acting(actor))
                        .details(format!(
                            "Sign-in through {} refused: {}",
                            oidc.settings.display_name, refused.reason
                        ))
                        .failed(),
                    state.now(),
                )
                .await?;
            tracing::info!(reason = %refused.reason, "a sign-in through the provider was refused");
            Ok((
                jar,
                back_to_sign_in(&format!("The sign-in did not complete: {}", refused.reason)),
            )
                .into_response())
        }
    }
}

/// The checks of a callback, in order; a new session's token and where to go on success.
async fn signed_in(
    state: &AppState,
    oidc: &Oidc,
    flow: Option<Flow>,
    query: CallbackQuery,
) -> Result<(String, String), Refused> {
    if let Some(error) = query.error {
        let description = query.error_description.unwrap_or_default();
        return Err(Refused::new(format!(
            "the provider answered {error}{}{description}",
            if description.is_empty() { "" } else { ": " }
        )));
    }
    let flow = flow.ok_or_else(|| {
        Refused::new("this browser did not start the sign-in here (no sign-in in progress, or it took longer than 10 minutes)")
    })?;
    let given = query.state.unwrap_or_default();
    let matches: bool =
        subtle::ConstantTimeEq::ct_eq(given.as_bytes(), flow.state.as_bytes()).into();
    if !matches {
        return Err(Refused::new(
            "the answer does not belong to the sign-in this browser started (state)",
        ));
    }
    let code = query
        .code
        .ok_or_else(|| Refused::new("the provider sent no authorization code"))?;
    let metadata = oidc
        .metadata()
        .await
        .map_err(|unreachable| Refused::new(unreachable.to_string()))?;
    let client = oidc.client(&metadata).map_err(Refused::new)?;
    let exchange = client
        .exchange_code(AuthorizationCode::new(code))
        .map_err(|e| Refused::new(format!("the provider has no token endpoint: {e}")))?;
    let tokens = exchange
        .set_pkce_verifier(PkceCodeVerifier::new(flow.verifier))
        .request_async(oidc.http())
        .await
        .map_err(|e| {
            Refused::new(format!(
                "the provider did not redeem the code: {}",
                crate::oidc::error_chain(&e)
            ))
        })?;
    let id_token = tokens
        .id_token()
        .ok_or_else(|| Refused::new("the provider sent no ID token"))?;
    let nonce = Nonce::new(flow.nonce);
    let claims = match id_token.claims(&client.id_token_verifier(), &nonce) {
        Ok(claims) => claims.clone(),
        // Signed with a key the kept metadata does not list: the provider may have rotated its
        // keys. They are read again (at most once a minute) and the token checked once more.
        Err(ClaimsVerificationError::SignatureVerification(
            SignatureVerificationError::NoMatchingKey,
        )) => {
            let metadata = oidc
                .metadata_with_new_keys()
                .await
                .map_err(|unreachable| Refused::new(unreachable.to_string()))?;
            let client = oidc.client(&metadata).map_err(Refused::new)?;
            let verifier = client.id_token_verifier();
            let claims = id_token.claims(&verifier, &nonce).map_err(|e| {
                Refused::new(format!(
                    "the ID token was refused: {}",
                    crate::oidc::error_chain(&e)
                ))
            })?;
            claims.clone()
        }
        Err(e) => {
            return Err(Refused::new(format!(
                "the ID token was refused: {}",
                crate::oidc::error_chain(&e)
            )))
        }
    };
    // The token's other claims, read from its payload now that its signature, issuer, audience,
    // expiry and nonce hold.
    let payload = id_token
        .to_string()
        .split('.')
        .nth(1)
        .and_then(|part| URL_SAFE_NO_PAD.decode(part).ok())
        .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).ok())
        .ok_or_else(|| Refused::new("the ID token's claims do not read as JSON"))?;
    let text = |name: &str| {
        payload[name]
            .as_str()
            .map(str::trim)
            .filter(|value| !value.is_empty() && value.chars().count() <= 256)
            .map(str::to_owned)
    };
    let subject = claims.subject().as_str().to_owned();
    let user_name = text("upn")
        .or_else(|| text("preferred_username"))
        .unwrap_or_else(|| subject.clone());
    let who = |reason: String| Refused {
        reason,
        user: Some(user_name.clone()),
    };
    let claim = oidc.settings.roles_claim.name();
    if payload["_claim_names"][claim].is_string() {
        return Err(who(format!(
            "the ID token lists too many {claim} to carry them (a group overage): assign roles to app roles (the roles claim) instead"
        )));
    }
    let claim_values: Vec<String> = match &payload[claim] {
        serde_json::Value::Null => Vec::new(),
        serde_json::Value::Array(values) => values
            .iter()
            .filter_map(|value| value.as_str().map(str::to_owned))
            .collect(),
        _ => return Err(who(format!("the ID token's {claim} claim is not a list"))),
    };
    let display_name = text("name").unwrap_or_else(|| user_name.clone());
    let object_id = text("oid");
    let onprem_sid = text("onprem_sid");
    let provider_sid = text("sid");
    let token = secrets::generate("");
    let now = state.now();
    let user = ProviderUser {
        issuer: oidc.settings.issuer.as_str(),
        subject: &subject,
        user_name: &user_name,
        display_name: &display_name,
        object_id: object_id.as_deref(),
        onprem_sid: onprem_sid.as_deref(),
        claim_values: &claim_values,
        provider_sid: provider_sid.as_deref(),
    };
    let account = state
        .store
        .sign_in_provider_user(
            &user,
            &oidc.settings.display_name,
            &crate::request_id::current(),
            &crate::request_id::origin(),
            &secrets::hash(&token),
            now,
            now + to_time(state.config.session_lifetime),
        )
        .await
        .map_err(|error| who(error.to_string()))?;
    tracing::info!(user = %account.user_principal_name, "signed in through the provider");
    Ok((token, flow.return_to))
}

/// The provider says a user's session there ended (OpenID Connect Back-Channel Logout 1.0).
#[utoipa::path(
    post,
    path = "/api/v1/session/oidc/backchannel-logout",
    tag = "identity",
    summary = "The provider ends a user's sessions (back-channel logout)",
    description = "Posted by the OpenID Connect provider, server to server, as `application/x-www-form-urlencoded` with a `logout_token`; no session and no CSRF header are asked of it. The token is checked as an ID token is (the provider's keys, RS256, issuer, audience, issue time, expiry) and as a logout token (`typ` logout+jwt when present, the back-channel logout event, no `nonce`, a `jti` never received before, a `sub` or a `sid`). It ends the sessions started in the provider's session `sid`, or every session of `sub`, on every instance (they share the database); each user signed out is audited. 200 with no body when the token holds (also when no session was open), 400 with the reason otherwise.",
    request_body(content_type = "application/x-www-form-urlencoded", content = String, description = "`logout_token=<JWT>`"),
    responses(
        (status = 200, description = "The sessions the token names have ended"),
        (status = 400, description = "The token was refused", body = admin_api::ErrorBody),
        (status = 404, description = "No provider is configured", body = admin_api::ErrorBody),
    )
)]
pub(crate) async fn backchannel_logout(
    State(state): State<AppState>,
    body: axum::body::Bytes,
) -> Response {
    let no_store = [(
        axum::http::header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("no-store"),
    )];
    match ended_by_provider(&state, &body).await {
        Ok(ended) => {
            tracing::info!(ended, "the provider ended sessions (back-channel logout)");
            (no_store, axum::http::StatusCode::OK).into_response()
        }
        Err(error) => {
            tracing::warn!(%error, "a back-channel logout was refused");
            (no_store, error).into_response()
        }
    }
}

async fn ended_by_provider(state: &AppState, body: &[u8]) -> AppResult<u64> {
    let oidc = configured(state)?;
    if body.len() > crate::oidc::logout_token::LONGEST_TOKEN + 64 {
        return Err(AppError::bad_request(
            "logout_token",
            "The back-channel logout request is too long.",
        ));
    }
    let token = form_urlencoded::parse(body)
        .find(|(name, _)| name == "logout_token")
        .map(|(_, value)| value.into_owned())
        .ok_or_else(|| {
            AppError::bad_request(
                "logout_token",
                "A back-channel logout posts a logout_token (application/x-www-form-urlencoded).",
            )
        })?;
    let now = state.now();
    let claims = oidc.logout_claims(&token, now).await.map_err(|reason| {
        AppError::bad_request(
            "logout_token",
            format!("The logout token was refused: {reason}."),
        )
    })?;
    let logout = crate::store::provider_users::ProviderLogout {
        issuer: oidc.settings.issuer.as_str(),
        subject: claims.subject.as_deref(),
        provider_sid: claims.provider_sid.as_deref(),
        jti: &claims.jti,
        kept_until: time::OffsetDateTime::from_unix_timestamp(claims.kept_until).unwrap_or(now),
    };
    Ok(state
        .store
        .end_provider_sessions(
            &logout,
            &oidc.settings.display_name,
            &crate::request_id::current(),
            &crate::request_id::origin(),
            now,
        )
        .await?)
}
