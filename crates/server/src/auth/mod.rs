//! Who is calling the admin API, and whether they may.
//!
//! Handlers only ever see the signed-in [`Account`] through the [`Authorized`] extractor, which names the
//! permission the endpoint needs. Today a principal comes from a session made by local sign-in
//! (`routes/session.rs`); an OpenID Connect provider (Entra ID) would make the same kind of session
//! after its callback, so no handler changes when one is added.

pub mod csrf;
pub mod password;

use std::marker::PhantomData;

use admin_api::Permission;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::HeaderMap;
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};

pub use crate::connections::ClientAddress;
use crate::error::{AppError, AppResult};
use crate::secrets;
use crate::state::{to_time, AppState};
use crate::store::users::Account;

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "attach_center_session";

/// The 403 for a permission `principal` lacks, naming it.
pub(crate) fn require_permission(principal: &Account, permission: Permission) -> AppResult<()> {
    if principal.may(permission) {
        Ok(())
    } else {
        Err(AppError::Forbidden(format!(
            "This needs the permission {} ({}), which none of your roles grants.",
            permission.as_str(),
            permission.label()
        )))
    }
}

/// What an endpoint requires: a permission, or only a signed-in user.
pub trait Requirement {
    const PERMISSION: Option<Permission>;
}

/// The requirements handlers name, one type per permission.
pub mod require {
    use super::{Permission, Requirement};

    macro_rules! requirement {
        ($($name:ident => $permission:expr),+ $(,)?) => {$(
            pub struct $name;
            impl Requirement for $name {
                const PERMISSION: Option<Permission> = $permission;
            }
        )+};
    }

    requirement! {
        SignedIn => None,
        ManagedDevicesRead => Some(Permission::ManagedDevicesRead),
        ConfigurationManagerAction => Some(Permission::RemoteTasksConfigurationManagerAction),
        OrganizationRead => Some(Permission::OrganizationRead),
        OrganizationUpdate => Some(Permission::OrganizationUpdate),
        OrganizationDelete => Some(Permission::OrganizationDelete),
        AuditDataRead => Some(Permission::AuditDataRead),
        RolesRead => Some(Permission::RolesRead),
        RolesUpdate => Some(Permission::RolesUpdate),
        RunCmPivot => Some(Permission::RemoteTasksRunCmPivot),
    }
}

/// A caller with a live session, within their request rate, holding `R`'s permission.
/// Rejects with 401 (no session), 429 (too many requests) or 403 (naming the permission).
pub struct Authorized<R: Requirement> {
    pub principal: Account,
    /// The session's token hash, so that sign-out and the event stream can refer to it.
    pub session: Vec<u8>,
    required: PhantomData<R>,
}

impl<R: Requirement> Authorized<R> {
    /// The signed-in user as the audit log records them, acting through this request.
    pub fn actor(&self) -> crate::store::audit::Actor {
        crate::request_id::acting(self.principal.actor())
    }
}

impl<R: Requirement> FromRequestParts<AppState> for Authorized<R> {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> AppResult<Self> {
        let session = session_hash(&parts.headers)
            .ok_or_else(|| AppError::Unauthenticated("Sign in to use the admin center.".into()))?;
        let principal = authenticate(state, &session).await?.ok_or_else(|| {
            AppError::Unauthenticated(
                "Your session has ended (it expired or you signed out). Sign in again.".into(),
            )
        })?;
        state.limits.check_user(&principal.user_id)?;
        if let Some(permission) = R::PERMISSION {
            require_permission(&principal, permission)?;
        }
        Ok(Self {
            principal,
            session,
            required: PhantomData,
        })
    }
}

/// The hash of the session token in the request's cookie, if it has one.
pub fn session_hash(headers: &HeaderMap) -> Option<Vec<u8>> {
    let jar = CookieJar::from_headers(headers);
    let token = jar.get(SESSION_COOKIE)?.value();
    (!token.is_empty()).then(|| secrets::hash(token))
}

/// The principal of a live session, marking it used (at most every so often, so that reads do
/// not turn into writes, and without waiting for that write).
pub async fn authenticate(state: &AppState, session: &[u8]) -> AppResult<Option<Account>> {
    let now = state.now();
    let idle = to_time(state.config.session_idle_timeout);
    let Some(record) = state.store.session(session, now, now - idle).await? else {
        return Ok(None);
    };
    let touch_after = std::cmp::min(idle / 2, time::Duration::minutes(1));
    if now - record.last_seen_at >= touch_after {
        state.store.touch_session_soon(session, now);
    }
    Ok(Some(record.account))
}

/// Whether the session is still live, without marking it used (an open event stream is not
/// activity).
pub async fn session_is_live(state: &AppState, session: &[u8]) -> AppResult<bool> {
    let now = state.now();
    let idle = to_time(state.config.session_idle_timeout);
    Ok(state
        .store
        .session(session, now, now - idle)
        .await?
        .is_some())
}

/// The session cookie: HttpOnly, SameSite=Strict, for the whole site, Secure over HTTPS.
pub fn session_cookie(token: String, secure: bool) -> Cookie<'static> {
    Cookie::build((SESSION_COOKIE, token))
        .http_only(true)
        .same_site(SameSite::Strict)
        .path("/")
        .secure(secure)
        .build()
}

/// Whether the request reached us over HTTPS (through a proxy that says so), or the server is
/// told to treat it so.
pub fn is_secure(headers: &HeaderMap, always: bool) -> bool {
    always
        || headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|proto| proto.eq_ignore_ascii_case("https"))
}
