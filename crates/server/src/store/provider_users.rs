//! Users of the organization's OpenID Connect provider: made at their first sign-in, keyed by
//! the provider's issuer and their subject there, their roles those assigned to the values of
//! the roles claim their ID token carries (recomputed at every sign-in).

use admin_api::AuditActivity;
use time::OffsetDateTime;

use super::audit::{append, Actor, AuditEntry, Origin};
use super::db::{self, Tx};
use super::error::{StoreError, StoreResult};
use super::users::{account_of, Account};
use super::{timestamp, Store, Writes};

/// The password hash of a provider user: no password matches it, and local sign-in never reads
/// it (a local account has no issuer).
const NO_PASSWORD: &str = "!";

/// Most values of the roles claim one sign-in may carry.
pub const MAX_CLAIM_VALUES: usize = 200;

/// A provider user as their ID token describes them (already verified).
pub struct ProviderUser<'a> {
    pub issuer: &'a str,
    pub subject: &'a str,
    /// Their user principal name (`upn`, else `preferred_username`, else the subject).
    pub user_name: &'a str,
    pub display_name: &'a str,
    /// Entra ID's object id (`oid`).
    pub object_id: Option<&'a str>,
    /// Their on-premises SID (`onprem_sid`).
    pub onprem_sid: Option<&'a str>,
    /// The values of the roles claim.
    pub claim_values: &'a [String],
    /// The provider's session this sign-in belongs to (`sid`), when the token names one.
    pub provider_sid: Option<&'a str>,
}

/// A provider's back-channel logout, its token checked: whose sessions end.
pub struct ProviderLogout<'a> {
    pub issuer: &'a str,
    pub subject: Option<&'a str>,
    pub provider_sid: Option<&'a str>,
    pub jti: &'a str,
    /// Until when the token's `jti` is kept.
    pub kept_until: OffsetDateTime,
}

impl Store {
    /// Signs a provider user in: makes their account at the first sign-in (or brings its name and
    /// identifiers up to date), sets their roles to those assigned to their claim values, and
    /// starts a session; one transaction with its audit entry. A local account of the same name
    /// is not theirs: the sign-in is refused.
    // The request's id and origin travel as the caller has them (the store reads no task-local).
    #[allow(clippy::too_many_arguments)]
    pub async fn sign_in_provider_user(
        &self,
        user: &ProviderUser<'_>,
        provider: &str,
        request_id: &str,
        origin: &Origin,
        token_hash: &[u8],
        now: OffsetDateTime,
        expires: OffsetDateTime,
    ) -> StoreResult<Account> {
        if user.claim_values.len() > MAX_CLAIM_VALUES {
            return Err(StoreError::invalid(
                "claims",
                format!(
                    "The sign-in carried {} role claim values; at most {MAX_CLAIM_VALUES} are read.",
                    user.claim_values.len()
                ),
            ));
        }
        let mut tx = self.begin_for(Writes::NoDevices).await?;
        let by = Actor::user(user.user_name)
            .during(request_id)
            .from(Some(origin.clone()));
        let known: Option<String> =
            db::query_scalar("SELECT id FROM users WHERE issuer = ? AND subject = ?")
                .bind(user.issuer)
                .bind(user.subject)
                .fetch_optional(&mut tx)
                .await?;
        let taken: Option<String> = db::query_scalar(format!(
            "SELECT id FROM users WHERE {} AND (issuer IS NULL OR issuer <> ? OR subject <> ?)",
            tx.dialect().nocase_eq("user_name")
        ))
        .bind(user.user_name)
        .bind(user.issuer)
        .bind(user.subject)
        .fetch_optional(&mut tx)
        .await?;
        if taken.is_some() {
            return Err(StoreError::Conflict(format!(
                "Another account here is named {}: a local account, or another provider user. \
                 Ask a tenant administrator to rename or remove it.",
                user.user_name
            )));
        }
        let (id, first) = match known {
            Some(id) => {
                db::query(
                    "UPDATE users SET user_name = ?, display_name = ?, object_id = ?, onprem_sid = ? WHERE id = ?",
                )
                .bind(user.user_name)
                .bind(user.display_name)
                .bind(user.object_id)
                .bind(user.onprem_sid)
                .bind(&id)
                .execute(&mut tx)
                .await?;
                (id, false)
            }
            None => {
                let id = uuid::Uuid::new_v4().to_string();
                db::query(
                    "INSERT INTO users (id, user_name, display_name, password_hash, created_at, issuer, subject, object_id, onprem_sid) \
                     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                )
                .bind(&id)
                .bind(user.user_name)
                .bind(user.display_name)
                .bind(NO_PASSWORD)
                .bind(timestamp(now))
                .bind(user.issuer)
                .bind(user.subject)
                .bind(user.object_id)
                .bind(user.onprem_sid)
                .execute(&mut tx)
                .await?;
                (id, true)
            }
        };
        set_claimed_roles(&mut tx, &id, user.claim_values).await?;
        super::sessions::insert_session(&mut tx, token_hash, &id, user.provider_sid, now, expires)
            .await?;
        let account = account_of(&mut tx, &id).await?;
        let roles = match account.roles.as_slice() {
            [] => "no role".to_owned(),
            roles => roles.join(", "),
        };
        let made = if first { "; the account was made" } else { "" };
        append(
            &mut tx,
            &AuditEntry::new(AuditActivity::SignIn, &by).details(format!(
                "Signed in through {provider}{made}; roles: {roles}."
            )),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(account)
    }

    /// Ends the sessions a provider's back-channel logout names: those it started in the
    /// provider's session `provider_sid` when the token names one (of `subject` alone when it
    /// names both), else every session of `subject`; each user signed out is audited. The
    /// token's `jti` is kept until `kept_until`: a token received again is refused and changes
    /// nothing. How many sessions ended.
    pub async fn end_provider_sessions(
        &self,
        logout: &ProviderLogout<'_>,
        provider: &str,
        request_id: &str,
        origin: &Origin,
        now: OffsetDateTime,
    ) -> StoreResult<u64> {
        let mut tx = self.begin_for(Writes::NoDevices).await?;
        db::query("DELETE FROM logout_tokens WHERE expires_at <= ?")
            .bind(timestamp(now))
            .execute(&mut tx)
            .await?;
        let first = db::query(
            "INSERT INTO logout_tokens (issuer, jti, expires_at) VALUES (?, ?, ?) \
             ON CONFLICT (issuer, jti) DO NOTHING",
        )
        .bind(logout.issuer)
        .bind(logout.jti)
        .bind(timestamp(logout.kept_until))
        .execute(&mut tx)
        .await?;
        if first == 0 {
            return Err(StoreError::invalid(
                "logout_token",
                "This logout token was received before (its jti): each is used once.",
            ));
        }
        let users: Vec<(String, String)> = match (logout.subject, logout.provider_sid) {
            (Some(subject), _) => {
                db::query_as("SELECT id, user_name FROM users WHERE issuer = ? AND subject = ?")
                    .bind(logout.issuer)
                    .bind(subject)
                    .fetch_all(&mut tx)
                    .await?
            }
            (None, Some(sid)) => {
                db::query_as(
                    "SELECT DISTINCT u.id, u.user_name FROM sessions s JOIN users u ON u.id = s.user_id \
                     WHERE s.provider_sid = ? AND u.issuer = ?",
                )
                .bind(sid)
                .bind(logout.issuer)
                .fetch_all(&mut tx)
                .await?
            }
            (None, None) => Vec::new(),
        };
        let mut ended = 0;
        for (id, user_name) in users {
            let count = match logout.provider_sid {
                Some(sid) => {
                    db::query("DELETE FROM sessions WHERE user_id = ? AND provider_sid = ?")
                        .bind(&id)
                        .bind(sid)
                        .execute(&mut tx)
                        .await?
                }
                None => {
                    db::query("DELETE FROM sessions WHERE user_id = ?")
                        .bind(&id)
                        .execute(&mut tx)
                        .await?
                }
            };
            if count > 0 {
                let sessions = if count == 1 { "session" } else { "sessions" };
                append(
                    &mut tx,
                    &AuditEntry::new(
                        AuditActivity::SignOut,
                        &Actor::user(&user_name)
                            .during(request_id)
                            .from(Some(origin.clone())),
                    )
                    .details(format!(
                        "Signed out by {provider} (back-channel logout): {count} {sessions} ended."
                    )),
                    now,
                )
                .await?;
            }
            ended += count;
        }
        tx.commit().await?;
        Ok(ended)
    }

    /// The provider a user signed in through (its issuer); `None` for a local account.
    pub async fn user_issuer(&self, user_id: &str) -> StoreResult<Option<String>> {
        let issuer: Option<Option<String>> =
            db::query_scalar("SELECT issuer FROM users WHERE id = ?")
                .bind(user_id)
                .fetch_optional(self.read())
                .await?;
        Ok(issuer.flatten())
    }

    /// Every role's claim values: (role's display name, value), by role and value.
    pub async fn role_claim_values(&self) -> StoreResult<Vec<(String, String)>> {
        Ok(db::query_as(
            "SELECT r.display_name, v.claim_value FROM role_claim_values v \
             JOIN role_definitions r ON r.id = v.role_id ORDER BY r.display_name, v.claim_value",
        )
        .fetch_all(self.read())
        .await?)
    }

    /// The claim values the role `role_id` is assigned to; `None` when there is no such role.
    pub async fn role_assignments(&self, role_id: &str) -> StoreResult<Option<Vec<String>>> {
        let exists: Option<String> =
            db::query_scalar("SELECT id FROM role_definitions WHERE id = ?")
                .bind(role_id)
                .fetch_optional(self.read())
                .await?;
        if exists.is_none() {
            return Ok(None);
        }
        let values: Vec<String> = db::query_scalar(
            "SELECT claim_value FROM role_claim_values WHERE role_id = ? ORDER BY claim_value",
        )
        .bind(role_id)
        .fetch_all(self.read())
        .await?;
        Ok(Some(values))
    }

    /// Replaces the claim values the role `role_id` is assigned to, with its audit entry when
    /// they change; `None` when there is no such role.
    pub async fn set_role_assignments(
        &self,
        role_id: &str,
        values: &[String],
        by: &Actor,
        now: OffsetDateTime,
    ) -> StoreResult<Option<Vec<String>>> {
        let mut tx = self.begin_for(Writes::NoDevices).await?;
        let name: Option<String> =
            db::query_scalar("SELECT display_name FROM role_definitions WHERE id = ?")
                .bind(role_id)
                .fetch_optional(&mut tx)
                .await?;
        let Some(name) = name else {
            return Ok(None);
        };
        let before: Vec<String> = db::query_scalar(
            "SELECT claim_value FROM role_claim_values WHERE role_id = ? ORDER BY claim_value",
        )
        .bind(role_id)
        .fetch_all(&mut tx)
        .await?;
        let mut after: Vec<String> = values.to_vec();
        after.sort();
        after.dedup();
        if after != before {
            db::query("DELETE FROM role_claim_values WHERE role_id = ?")
                .bind(role_id)
                .execute(&mut tx)
                .await?;
            for value in &after {
                db::query("INSERT INTO role_claim_values (role_id, claim_value) VALUES (?, ?)")
                    .bind(role_id)
                    .bind(value.as_str())
                    .execute(&mut tx)
                    .await?;
            }
            let listed = match after.as_slice() {
                [] => "none".to_owned(),
                values => values.join(", "),
            };
            append(
                &mut tx,
                &AuditEntry::new(AuditActivity::UpdateRoleAssignments, by)
                    .on(role_id, Some(&name))
                    .details(format!(
                        "The role is assigned to the claim values: {listed}."
                    )),
                now,
            )
            .await?;
        }
        tx.commit().await?;
        Ok(Some(after))
    }

    /// Assigns the role `role` (by display name) to the claim value `value`.
    pub async fn assign_claim_value(
        &self,
        role: &str,
        value: &str,
        by: &Actor,
        now: OffsetDateTime,
    ) -> StoreResult<()> {
        self.change_claim_value(role, value, true, by, now).await
    }

    /// Takes the role `role` (by display name) from the claim value `value`.
    pub async fn unassign_claim_value(
        &self,
        role: &str,
        value: &str,
        by: &Actor,
        now: OffsetDateTime,
    ) -> StoreResult<()> {
        self.change_claim_value(role, value, false, by, now).await
    }

    async fn change_claim_value(
        &self,
        role: &str,
        value: &str,
        assign: bool,
        by: &Actor,
        now: OffsetDateTime,
    ) -> StoreResult<()> {
        let value = value.trim();
        if value.is_empty() || value.chars().count() > 256 {
            return Err(StoreError::invalid(
                "claimValue",
                "A claim value is 1 to 256 characters.",
            ));
        }
        let mut tx = self.begin_for(Writes::NoDevices).await?;
        let role_id: Option<String> = db::query_scalar(format!(
            "SELECT id FROM role_definitions WHERE {}",
            tx.dialect().nocase_eq("display_name")
        ))
        .bind(role)
        .fetch_optional(&mut tx)
        .await?;
        let Some(role_id) = role_id else {
            return Err(StoreError::NotFound(format!("There is no role '{role}'.")));
        };
        let changed = if assign {
            db::query(
                "INSERT INTO role_claim_values (role_id, claim_value) VALUES (?, ?) ON CONFLICT DO NOTHING",
            )
            .bind(&role_id)
            .bind(value)
            .execute(&mut tx)
            .await?
        } else {
            db::query("DELETE FROM role_claim_values WHERE role_id = ? AND claim_value = ?")
                .bind(&role_id)
                .bind(value)
                .execute(&mut tx)
                .await?
        };
        if changed > 0 {
            let verb = if assign { "assigned to" } else { "taken from" };
            append(
                &mut tx,
                &AuditEntry::new(AuditActivity::UpdateRoleAssignments, by)
                    .on(&role_id, Some(role))
                    .details(format!("The role was {verb} the claim value {value}.")),
                now,
            )
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }
}

/// A provider user's roles: those assigned to any of their claim values.
async fn set_claimed_roles(tx: &mut Tx, user_id: &str, values: &[String]) -> StoreResult<()> {
    db::query("DELETE FROM user_roles WHERE user_id = ?")
        .bind(user_id)
        .execute(&mut *tx)
        .await?;
    if values.is_empty() {
        return Ok(());
    }
    let mut insert = db::query(format!(
        "INSERT INTO user_roles (user_id, role_id) SELECT DISTINCT ?, role_id FROM role_claim_values WHERE claim_value IN ({})",
        vec!["?"; values.len()].join(", ")
    ))
    .bind(user_id);
    for value in values {
        insert = insert.bind(value.as_str());
    }
    insert.execute(&mut *tx).await?;
    Ok(())
}
