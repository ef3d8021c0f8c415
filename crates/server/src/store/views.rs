//! Saved views of All devices: a user's own and those shared with everyone. The query arrives
//! checked (routes/views.rs) as its JSON; sharing, changing a shared view and deleting are audited
//! in the same transaction.

use admin_api::views::MAX_VIEWS_PER_USER;
use admin_api::AuditActivity;
use sqlx::FromRow;
use time::OffsetDateTime;

use super::audit::{append, Actor, AuditEntry};
use super::db::{self, Tx};
use super::error::{StoreError, StoreResult};
use super::{timestamp, Store, Writes};

/// A stored view, its query as stored (JSON).
#[derive(Debug, Clone, FromRow)]
pub struct ViewRow {
    pub id: String,
    pub owner_id: String,
    pub owner_name: String,
    pub name: String,
    pub shared: bool,
    pub query: String,
    pub created_at: String,
    pub updated_at: String,
}

/// Who owns or asks for a view.
#[derive(Debug, Clone, Copy)]
pub struct Owner<'a> {
    pub user_id: &'a str,
    pub user_name: &'a str,
}

/// What a change to a view sets; `None` leaves a part as it is. The query is checked JSON.
#[derive(Debug, Clone, Default)]
pub struct ViewChange {
    pub name: Option<String>,
    pub shared: Option<bool>,
    pub query: Option<String>,
}

impl Store {
    /// The views `user_id` sees: their own and those shared with everyone, by name.
    pub async fn device_views(&self, user_id: &str) -> StoreResult<Vec<ViewRow>> {
        Ok(db::query_as(
            "SELECT * FROM device_views WHERE owner_id = ? OR shared ORDER BY name, id",
        )
        .bind(user_id)
        .fetch_all(self.read())
        .await?)
    }

    /// One view, when `user_id` sees it.
    pub async fn device_view(&self, id: &str, user_id: &str) -> StoreResult<Option<ViewRow>> {
        Ok(
            db::query_as("SELECT * FROM device_views WHERE id = ? AND (owner_id = ? OR shared)")
                .bind(id)
                .bind(user_id)
                .fetch_optional(self.read())
                .await?,
        )
    }

    /// Saves a view of `owner`'s: refused when they keep as many as a user may, or one of the
    /// same name.
    pub async fn create_device_view(
        &self,
        owner: Owner<'_>,
        name: &str,
        shared: bool,
        query: &str,
        actor: &Actor,
        now: OffsetDateTime,
    ) -> StoreResult<ViewRow> {
        let mut tx = self.begin_for(Writes::NoDevices).await?;
        let kept = db::query_scalar::<i64>("SELECT COUNT(*) FROM device_views WHERE owner_id = ?")
            .bind(owner.user_id)
            .fetch_one(&mut tx)
            .await?;
        if kept >= MAX_VIEWS_PER_USER as i64 {
            return Err(StoreError::Conflict(format!(
                "You keep {MAX_VIEWS_PER_USER} saved views, the most a user may. Delete one, or overwrite it, first."
            )));
        }
        name_is_free(&mut tx, owner.user_id, name, None).await?;
        let at = timestamp(now);
        let row: ViewRow = db::query_as(
            "INSERT INTO device_views (id, owner_id, owner_name, name, shared, query, created_at, updated_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING *",
        )
        .bind(uuid::Uuid::new_v4().to_string())
        .bind(owner.user_id)
        .bind(owner.user_name)
        .bind(name)
        .bind(shared)
        .bind(query)
        .bind(&at)
        .bind(&at)
        .fetch_one(&mut tx)
        .await?;
        if shared {
            append(
                &mut tx,
                &AuditEntry::new(AuditActivity::ShareDeviceView, actor)
                    .on(&row.id, Some(&row.name))
                    .details(format!("Saved and shared with everyone: {query}")),
                now,
            )
            .await?;
        }
        tx.commit().await?;
        Ok(row)
    }

    /// Changes a view of `owner`'s. Sharing it, no longer sharing it, and changing a shared view
    /// (it changes for everyone) are audited.
    pub async fn change_device_view(
        &self,
        id: &str,
        owner: Owner<'_>,
        change: &ViewChange,
        actor: &Actor,
        now: OffsetDateTime,
    ) -> StoreResult<ViewRow> {
        let mut tx = self.begin_for(Writes::NoDevices).await?;
        let before = owned(&mut tx, id, owner.user_id).await?;
        if let Some(name) = &change.name {
            name_is_free(&mut tx, owner.user_id, name, Some(id)).await?;
        }
        let shared = change.shared.unwrap_or(before.shared);
        let row: ViewRow = db::query_as(
            "UPDATE device_views SET name = ?, shared = ?, query = ?, updated_at = ?
             WHERE id = ? RETURNING *",
        )
        .bind(change.name.as_deref().unwrap_or(&before.name))
        .bind(shared)
        .bind(change.query.as_deref().unwrap_or(&before.query))
        .bind(timestamp(now))
        .bind(id)
        .fetch_one(&mut tx)
        .await?;
        let details = match (before.shared, shared) {
            (false, true) => Some(format!("Shared with everyone: {}", row.query)),
            (true, false) => Some("No longer shared: only its owner sees it.".to_owned()),
            (true, true) => Some(format!("Changed while shared with everyone: {}", row.query)),
            (false, false) => None,
        };
        if let Some(details) = details {
            let renamed = if before.name == row.name {
                String::new()
            } else {
                format!(" (was named '{}')", before.name)
            };
            append(
                &mut tx,
                &AuditEntry::new(AuditActivity::ShareDeviceView, actor)
                    .on(&row.id, Some(&row.name))
                    .details(format!("{details}{renamed}")),
                now,
            )
            .await?;
        }
        tx.commit().await?;
        Ok(row)
    }

    /// Deletes a view of `owner`'s, audited.
    pub async fn delete_device_view(
        &self,
        id: &str,
        owner: Owner<'_>,
        actor: &Actor,
        now: OffsetDateTime,
    ) -> StoreResult<()> {
        let mut tx = self.begin_for(Writes::NoDevices).await?;
        let view = owned(&mut tx, id, owner.user_id).await?;
        db::query("DELETE FROM device_views WHERE id = ?")
            .bind(id)
            .execute(&mut tx)
            .await?;
        append(
            &mut tx,
            &AuditEntry::new(AuditActivity::DeleteDeviceView, actor)
                .on(&view.id, Some(&view.name))
                .details(format!(
                    "{}: {}",
                    if view.shared {
                        "Deleted while shared with everyone"
                    } else {
                        "Deleted"
                    },
                    view.query
                )),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}

/// The view `id` when `user_id` owns it: not found when they do not see it, refused when it is
/// someone else's shared view.
async fn owned(tx: &mut Tx, id: &str, user_id: &str) -> StoreResult<ViewRow> {
    let row: Option<ViewRow> =
        db::query_as("SELECT * FROM device_views WHERE id = ? AND (owner_id = ? OR shared)")
            .bind(id)
            .bind(user_id)
            .fetch_optional(&mut *tx)
            .await?;
    let row =
        row.ok_or_else(|| StoreError::NotFound(format!("No saved view has the id '{id}'.")))?;
    if row.owner_id != user_id {
        return Err(StoreError::Refused(format!(
            "Only its owner, {}, changes or deletes the view '{}'. Save it as a view of your own to change it.",
            row.owner_name, row.name
        )));
    }
    Ok(row)
}

async fn name_is_free(
    tx: &mut Tx,
    user_id: &str,
    name: &str,
    other_than: Option<&str>,
) -> StoreResult<()> {
    let taken: Option<String> =
        db::query_scalar("SELECT id FROM device_views WHERE owner_id = ? AND name = ?")
            .bind(user_id)
            .bind(name)
            .fetch_optional(&mut *tx)
            .await?;
    match taken {
        Some(id) if Some(id.as_str()) != other_than => Err(StoreError::Conflict(format!(
            "You already have a view named '{name}'. Choose another name, or overwrite that view."
        ))),
        _ => Ok(()),
    }
}
