//! Sessions: started when a user proves their password, found by their cookie's token, kept
//! alive while used, ended on sign-out or when they expire.

use admin_api::AuditActivity;
use sqlx::FromRow;
use time::OffsetDateTime;

use super::audit::{append, Actor, AuditEntry};
use super::db;
use super::error::StoreResult;
use super::users::{account, account_of, Account, Credentials, RoleRow};
use super::{timestamp, Store, Writes};

/// A session as its cookie finds it.
pub struct SessionRecord {
    pub account: Account,
    pub last_seen_at: OffsetDateTime,
}

impl Store {
    /// Starts a session for a user who proved their password, with its audit event.
    pub async fn create_session(
        &self,
        token_hash: &[u8],
        user: &Credentials,
        by: &Actor,
        now: OffsetDateTime,
        expires: OffsetDateTime,
    ) -> StoreResult<Account> {
        let mut tx = self.begin_for(Writes::NoDevices).await?;
        insert_session(&mut tx, token_hash, &user.id, None, now, expires).await?;
        let account = account_of(&mut tx, &user.id).await?;
        append(&mut tx, &AuditEntry::new(AuditActivity::SignIn, by), now).await?;
        tx.commit().await?;
        Ok(account)
    }

    /// The session this token opens, if it has not expired: neither past its absolute expiry nor
    /// idle since before `idle_cutoff`.
    pub async fn session(
        &self,
        token_hash: &[u8],
        now: OffsetDateTime,
        idle_cutoff: OffsetDateTime,
    ) -> StoreResult<Option<SessionRecord>> {
        // Every request asks this: one statement (a row per role), not one per table.
        let rows: Vec<SessionRow> = db::query_as(format!(
            "SELECT s.user_id, s.last_seen_at, u.user_name, u.display_name AS user_display_name, u.issuer,
                r.id AS role_id, r.display_name AS role_display_name, r.description,
                r.is_built_in, r.permissions
             FROM sessions s JOIN users u ON u.id = s.user_id
             LEFT JOIN user_roles ur ON ur.user_id = u.id
             LEFT JOIN role_definitions r ON r.id = ur.role_id
             WHERE s.token_hash = ? AND s.expires_at > ? AND s.last_seen_at > ?
             ORDER BY {}",
            self.dialect().nocase("r.display_name")
        ))
        .prepared()
        .bind(token_hash)
        .bind(timestamp(now))
        .bind(timestamp(idle_cutoff))
        .fetch_all(self.read())
        .await?;
        let Some(first) = rows.first() else {
            return Ok(None);
        };
        let (user_id, user_name, display_name, issuer) = (
            first.user_id.clone(),
            first.user_name.clone(),
            first.user_display_name.clone(),
            first.issuer.clone(),
        );
        let last_seen_at = super::parse_timestamp(&first.last_seen_at).unwrap_or(now);
        let roles = rows
            .into_iter()
            .filter_map(|row| {
                Some(RoleRow {
                    id: row.role_id?,
                    display_name: row.role_display_name?,
                    description: row.description?,
                    is_built_in: row.is_built_in?,
                    permissions: row.permissions?,
                })
            })
            .collect();
        let mut account = account(user_id, user_name, display_name, roles)?;
        account.issuer = issuer;
        Ok(Some(SessionRecord {
            account,
            last_seen_at,
        }))
    }

    /// Marks a session used off the request's path: the write may wait in the writer's queue
    /// behind a long one (a sync's completion), and the request that asked for it must not wait
    /// with it. One write per session at a time, however many requests ask meanwhile.
    pub fn touch_session_soon(&self, token_hash: &[u8], now: OffsetDateTime) {
        if !self
            .touching
            .lock()
            .expect("not poisoned")
            .insert(token_hash.to_vec())
        {
            return;
        }
        let store = self.clone();
        let token_hash = token_hash.to_vec();
        tokio::spawn(async move {
            if let Err(error) = store.touch_session(&token_hash, now).await {
                tracing::warn!("a session could not be marked used: {error}");
            }
            store
                .touching
                .lock()
                .expect("not poisoned")
                .remove(&token_hash);
        });
    }

    pub async fn touch_session(&self, token_hash: &[u8], now: OffsetDateTime) -> StoreResult<()> {
        db::query("UPDATE sessions SET last_seen_at = ? WHERE token_hash = ?")
            .prepared()
            .bind(timestamp(now))
            .bind(token_hash)
            .execute(self.writer())
            .await?;
        Ok(())
    }

    /// Ends a session, recording the sign-out; `false` when there was none.
    pub async fn end_session(
        &self,
        token_hash: &[u8],
        actor: &Actor,
        now: OffsetDateTime,
    ) -> StoreResult<bool> {
        let mut tx = self.begin_for(Writes::NoDevices).await?;
        let ended = db::query("DELETE FROM sessions WHERE token_hash = ?")
            .bind(token_hash)
            .execute(&mut tx)
            .await?
            == 1;
        if ended {
            append(
                &mut tx,
                &AuditEntry::new(AuditActivity::SignOut, actor),
                now,
            )
            .await?;
        }
        tx.commit().await?;
        Ok(ended)
    }

    /// Forgets sessions that can no longer be used.
    pub async fn delete_expired_sessions(
        &self,
        now: OffsetDateTime,
        idle_cutoff: OffsetDateTime,
    ) -> StoreResult<u64> {
        Ok(
            db::query("DELETE FROM sessions WHERE expires_at <= ? OR last_seen_at <= ?")
                .bind(timestamp(now))
                .bind(timestamp(idle_cutoff))
                .execute(self.writer())
                .await?,
        )
    }
}

/// A new session of `user_id`, in the sign-in's own transaction; `provider_sid` is the
/// provider's session it came from (the ID token's `sid`), which a back-channel logout names.
pub(super) async fn insert_session(
    tx: &mut super::Tx,
    token_hash: &[u8],
    user_id: &str,
    provider_sid: Option<&str>,
    now: OffsetDateTime,
    expires: OffsetDateTime,
) -> StoreResult<()> {
    db::query(
        "INSERT INTO sessions (token_hash, user_id, provider_sid, created_at, last_seen_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)",
    )
    .prepared()
    .bind(token_hash)
    .bind(user_id)
    .bind(provider_sid)
    .bind(timestamp(now))
    .bind(timestamp(now))
    .bind(timestamp(expires))
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// A session's user with the roles they hold (one row per role, absent where the user has none).
#[derive(FromRow)]
struct SessionRow {
    user_id: String,
    last_seen_at: String,
    user_name: String,
    user_display_name: String,
    issuer: Option<String>,
    role_id: Option<String>,
    role_display_name: Option<String>,
    description: Option<String>,
    is_built_in: Option<bool>,
    permissions: Option<String>,
}
