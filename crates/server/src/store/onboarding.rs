use super::db;
use admin_api::AuditActivity;
use time::OffsetDateTime;

use super::audit::{append, Actor, AuditEntry};
use super::connectors::NewConnector;
use super::error::{StoreError, StoreResult};
use super::{timestamp, Store, Writes};

impl Store {
    pub async fn insert_onboarding_token(
        &self,
        token_hash: &[u8],
        actor: &Actor,
        now: OffsetDateTime,
        expires: OffsetDateTime,
    ) -> StoreResult<()> {
        let mut tx = self.begin_for(Writes::NoDevices).await?;
        db::query(
            "INSERT INTO onboarding_tokens (token_hash, created_at, expires_at) VALUES (?, ?, ?)",
        )
        .bind(token_hash)
        .bind(timestamp(now))
        .bind(timestamp(expires))
        .execute(&mut tx)
        .await?;
        append(
            &mut tx,
            &AuditEntry::new(AuditActivity::CreateOnboardingToken, actor)
                .details(format!("Valid until {}.", timestamp(expires))),
            now,
        )
        .await?;
        Ok(tx.commit().await?)
    }

    /// Whether a token with this hash is unexpired and unused, read without the writer: a wrong
    /// token never waits for it or holds it.
    pub async fn onboarding_token_is_live(
        &self,
        token_hash: &[u8],
        now: OffsetDateTime,
    ) -> StoreResult<bool> {
        db::query_scalar::<i64>(
            "SELECT COUNT(*) FROM onboarding_tokens
             WHERE token_hash = ? AND used_at IS NULL AND expires_at > ?",
        )
        .bind(token_hash)
        .bind(timestamp(now))
        .fetch_one(self.read())
        .await
        .map(|count| count > 0)
        .map_err(Into::into)
    }

    /// Spends an unexpired, unused onboarding token on a new connector, in one transaction.
    pub async fn onboard(
        &self,
        token_hash: &[u8],
        connector: &NewConnector,
        by: &Actor,
        now: OffsetDateTime,
    ) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        let spent = db::query(
            "UPDATE onboarding_tokens SET used_at = ?, connector_id = ?
             WHERE token_hash = ? AND used_at IS NULL AND expires_at > ?",
        )
        .bind(timestamp(now))
        .bind(&connector.id)
        .bind(token_hash)
        .bind(timestamp(now))
        .execute(&mut tx)
        .await?;
        if spent != 1 {
            return Err(token_not_valid());
        }
        db::query(
            "INSERT INTO connectors (id, hierarchy_id, credential_hash, onboarded_at) VALUES (?, ?, ?, ?)",
        )
        .bind(&connector.id)
        .bind(&connector.hierarchy_id)
        .bind(&connector.credential_hash)
        .bind(&connector.onboarded_at)
        .execute(&mut tx)
        .await?;
        append(
            &mut tx,
            &AuditEntry::new(AuditActivity::OnboardConnector, by)
                .on(&connector.id, None)
                .details(format!("Hierarchy {} attached.", connector.hierarchy_id)),
            now,
        )
        .await?;
        self.write_connector_event(&mut tx, &connector.id, now)
            .await?;
        tx.commit().await?;
        Ok(())
    }
}

/// The 401 for an onboarding token that is unknown, used or expired: the same whichever it is.
pub(crate) fn token_not_valid() -> StoreError {
    StoreError::Unrecognized(
        "The onboarding token is not valid: it is unknown, used or expired. Create a new one."
            .into(),
    )
}
