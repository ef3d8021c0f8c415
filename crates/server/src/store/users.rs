//! Local accounts and roles (their sessions in `sessions.rs`).

use super::db::{self, Tx};
use admin_api::{AuditActivity, Me, NewRoleDefinition, Permission, RoleDefinition, User};
use sqlx::FromRow;
use time::OffsetDateTime;

use super::audit::{append, Actor, AuditEntry};
use super::error::{StoreError, StoreResult};
use super::{stored, timestamp, Store, Writes};

/// An account with its roles and the union of their permissions (a signed-in user's, or one
/// whose roles change).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub user_id: String,
    pub user_principal_name: String,
    pub display_name: String,
    pub roles: Vec<String>,
    pub permissions: Vec<Permission>,
    /// The provider's issuer for a user who signs in through it; `None` for a local account.
    pub issuer: Option<String>,
}

impl Account {
    pub fn may(&self, permission: Permission) -> bool {
        self.permissions.contains(&permission)
    }

    pub fn actor(&self) -> Actor {
        Actor::user(&self.user_principal_name)
    }

    /// The account as `/api/v1/me` shows it; `provider` is the configured provider's display
    /// name, shown for a provider user (their issuer when none is configured any more).
    pub fn me(&self, provider: Option<&str>) -> Me {
        Me {
            user_principal_name: self.user_principal_name.clone(),
            display_name: self.display_name.clone(),
            roles: self.roles.clone(),
            permissions: self.permissions.clone(),
            signed_in_through: self
                .issuer
                .as_ref()
                .map(|issuer| provider.unwrap_or(issuer).to_owned()),
        }
    }

    /// Nobody grants what they do not hold: the 403 names the permissions among `permissions`
    /// that this user lacks.
    pub fn may_grant(&self, permissions: &[Permission]) -> StoreResult<()> {
        let mut lacking: Vec<&str> = permissions
            .iter()
            .filter(|p| !self.may(**p))
            .map(|p| p.as_str())
            .collect();
        lacking.sort_unstable();
        lacking.dedup();
        if lacking.is_empty() {
            Ok(())
        } else {
            Err(StoreError::Refused(format!(
                "You cannot grant permissions you do not hold: {}.",
                lacking.join(", ")
            )))
        }
    }
}

/// What sign-in needs to know about an account.
#[derive(Debug, Clone, FromRow)]
pub struct Credentials {
    pub id: String,
    pub user_name: String,
    pub password_hash: String,
}

/// A new local account.
pub struct NewUser<'a> {
    pub user_name: &'a str,
    pub display_name: &'a str,
    pub password_hash: &'a str,
    pub roles: &'a [String],
}

impl Store {
    /// Makes an account with its roles (by display name), recording who made it.
    pub async fn create_user(
        &self,
        user: &NewUser<'_>,
        actor: &Actor,
        now: OffsetDateTime,
    ) -> StoreResult<User> {
        let mut tx = self.begin_for(Writes::NoDevices).await?;
        let exists: Option<String> = db::query_scalar(format!(
            "SELECT id FROM users WHERE {}",
            tx.dialect().nocase_eq("user_name")
        ))
        .bind(user.user_name)
        .fetch_optional(&mut tx)
        .await?;
        if exists.is_some() {
            return Err(StoreError::Conflict(format!(
                "There is already a user '{}'.",
                user.user_name
            )));
        }
        let id = uuid::Uuid::new_v4().to_string();
        db::query(
            "INSERT INTO users (id, user_name, display_name, password_hash, created_at) VALUES (?, ?, ?, ?, ?)",
        )
        .bind(&id)
        .bind(user.user_name)
        .bind(user.display_name)
        .bind(user.password_hash)
        .bind(timestamp(now))
        .execute(&mut tx)
        .await?;
        assign_roles(&mut tx, &id, user.roles).await?;
        let created = fetch_user(&mut tx, &id).await?;
        append(
            &mut tx,
            &AuditEntry::new(AuditActivity::CreateUser, actor)
                .on(&id, Some(&created.user_principal_name))
                .details(roles_sentence(&created.roles)),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(created)
    }

    /// Replaces an account's roles; `None` when there is no such account.
    /// Replaces a user's roles. `granted_by` is the signed-in user doing it (`None` from the
    /// command line, the operator's recovery path): they may not change their own roles, and
    /// must hold every permission the user holds before and after. Either way, the last account
    /// holding every permission keeps it.
    pub async fn set_user_roles(
        &self,
        user_id: &str,
        roles: &[String],
        granted_by: Option<&Account>,
        actor: &Actor,
        now: OffsetDateTime,
    ) -> StoreResult<Option<User>> {
        let mut tx = self.begin_for(Writes::NoDevices).await?;
        let exists: Option<(String, Option<String>)> =
            db::query_as("SELECT user_name, issuer FROM users WHERE id = ?")
                .bind(user_id)
                .fetch_optional(&mut tx)
                .await?;
        let Some((user_name, issuer)) = exists else {
            return Ok(None);
        };
        if issuer.is_some() {
            return Err(StoreError::Conflict(format!(
                "{user_name} signs in through the organization's provider: their roles come from \
                 their roles claim at each sign-in. Assign the role to one of their claim values instead."
            )));
        }
        if granted_by.is_some_and(|granter| granter.user_id == user_id) {
            return Err(StoreError::Refused(
                "You cannot change your own roles: another administrator must.".into(),
            ));
        }
        let before = account_of(&mut tx, user_id).await?.permissions;
        db::query("DELETE FROM user_roles WHERE user_id = ?")
            .bind(user_id)
            .execute(&mut tx)
            .await?;
        assign_roles(&mut tx, user_id, roles).await?;
        let after = account_of(&mut tx, user_id).await?.permissions;
        if let Some(granter) = granted_by {
            let touched: Vec<Permission> = before.iter().chain(&after).copied().collect();
            granter.may_grant(&touched)?;
        }
        let holds_all =
            |permissions: &[Permission]| Permission::ALL.iter().all(|p| permissions.contains(p));
        if holds_all(&before) && !holds_all(&after) && accounts_holding_all(&mut tx).await? == 0 {
            return Err(StoreError::Conflict(
                "This is the last account that holds every permission: give another account a role with all of them first."
                    .into(),
            ));
        }
        let updated = fetch_user(&mut tx, user_id).await?;
        append(
            &mut tx,
            &AuditEntry::new(AuditActivity::UpdateUserRoles, actor)
                .on(user_id, Some(&updated.user_principal_name))
                .details(roles_sentence(&updated.roles)),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(Some(updated))
    }

    /// Sets a new password hash, audited; false when there is no such account. Its sessions
    /// end. A user who signs in through the provider has no password here: refused.
    pub async fn set_password(
        &self,
        user_name: &str,
        password_hash: &str,
        actor: &Actor,
        now: OffsetDateTime,
    ) -> StoreResult<bool> {
        let mut tx = self.begin_for(Writes::NoDevices).await?;
        let found: Option<(String, String, Option<String>)> = db::query_as(format!(
            "SELECT id, user_name, issuer FROM users WHERE {}",
            tx.dialect().nocase_eq("user_name")
        ))
        .bind(user_name)
        .fetch_optional(&mut tx)
        .await?;
        let Some((id, name, issuer)) = found else {
            return Ok(false);
        };
        if issuer.is_some() {
            return Err(StoreError::Conflict(format!(
                "{name} signs in through the organization's provider: there is no password to set here."
            )));
        }
        db::query("UPDATE users SET password_hash = ? WHERE id = ?")
            .bind(password_hash)
            .bind(&id)
            .execute(&mut tx)
            .await?;
        let ended = db::query("DELETE FROM sessions WHERE user_id = ?")
            .bind(&id)
            .execute(&mut tx)
            .await?;
        let sessions = if ended == 1 { "session" } else { "sessions" };
        append(
            &mut tx,
            &AuditEntry::new(AuditActivity::ResetPassword, actor)
                .on(&id, Some(&name))
                .details(format!("The password was set; {ended} {sessions} ended.")),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    pub async fn credentials(&self, user_name: &str) -> StoreResult<Option<Credentials>> {
        Ok(db::query_as(format!(
            "SELECT id, user_name, password_hash FROM users WHERE issuer IS NULL AND {}",
            self.dialect().nocase_eq("user_name")
        ))
        .prepared()
        .bind(user_name)
        .fetch_optional(self.read())
        .await?)
    }

    pub async fn users(&self) -> StoreResult<Vec<User>> {
        let dialect = self.dialect();
        let mut users: Vec<User> =
            db::query_as::<(String, String, String, Option<String>)>(format!(
                "SELECT id, user_name, display_name, issuer FROM users ORDER BY {}",
                dialect.nocase("user_name")
            ))
            .fetch_all(self.read())
            .await?
            .into_iter()
            .map(|(id, user_principal_name, display_name, issuer)| User {
                id,
                user_principal_name,
                display_name,
                roles: Vec::new(),
                from_provider: issuer.is_some(),
            })
            .collect();
        let held: Vec<(String, String)> = db::query_as(format!(
            "SELECT ur.user_id, r.display_name FROM user_roles ur
             JOIN role_definitions r ON r.id = ur.role_id ORDER BY {}",
            dialect.nocase("r.display_name")
        ))
        .fetch_all(self.read())
        .await?;
        let mut roles: std::collections::HashMap<String, Vec<String>> = Default::default();
        for (user_id, role) in held {
            roles.entry(user_id).or_default().push(role);
        }
        for user in &mut users {
            user.roles = roles.remove(&user.id).unwrap_or_default();
        }
        Ok(users)
    }

    pub async fn user_count(&self) -> StoreResult<i64> {
        Ok(db::query_scalar("SELECT COUNT(*) FROM users")
            .fetch_one(self.read())
            .await?)
    }

    pub async fn role_definitions(&self) -> StoreResult<Vec<RoleDefinition>> {
        let rows: Vec<RoleRow> = db::query_as(format!(
            "SELECT * FROM role_definitions ORDER BY is_built_in DESC, {}",
            self.dialect().nocase("display_name")
        ))
        .fetch_all(self.read())
        .await?;
        rows.into_iter().map(RoleDefinition::try_from).collect()
    }

    /// Makes a custom role from a set of permissions.
    pub async fn create_role_definition(
        &self,
        role: &NewRoleDefinition,
        actor: &Actor,
        now: OffsetDateTime,
    ) -> StoreResult<RoleDefinition> {
        let mut tx = self.begin_for(Writes::NoDevices).await?;
        let taken: Option<String> = db::query_scalar(format!(
            "SELECT id FROM role_definitions WHERE {}",
            tx.dialect().nocase_eq("display_name")
        ))
        .bind(&role.display_name)
        .fetch_optional(&mut tx)
        .await?;
        if taken.is_some() {
            return Err(StoreError::Conflict(format!(
                "There is already a role named '{}'.",
                role.display_name
            )));
        }
        let id = uuid::Uuid::new_v4().to_string();
        let mut permissions: Vec<Permission> = Permission::ALL
            .iter()
            .copied()
            .filter(|p| role.permissions.contains(p))
            .collect();
        permissions.dedup();
        let row: RoleRow = db::query_as(
            "INSERT INTO role_definitions (id, display_name, description, is_built_in, permissions, created_at)
             VALUES (?, ?, ?, FALSE, ?, ?) RETURNING *",
        )
        .bind(&id)
        .bind(&role.display_name)
        .bind(&role.description)
        .bind(permissions.iter().map(|p| p.as_str()).collect::<Vec<_>>().join(" "))
        .bind(timestamp(now))
        .fetch_one(&mut tx)
        .await?;
        let created = RoleDefinition::try_from(row)?;
        append(
            &mut tx,
            &AuditEntry::new(AuditActivity::CreateRoleDefinition, actor)
                .on(&id, Some(&created.display_name))
                .details(format!(
                    "Permissions: {}.",
                    permissions
                        .iter()
                        .map(|p| p.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(created)
    }

    /// Deletes a custom role that nobody holds; `false` when there is no such role.
    pub async fn delete_role_definition(
        &self,
        id: &str,
        actor: &Actor,
        now: OffsetDateTime,
    ) -> StoreResult<bool> {
        let mut tx = self.begin_for(Writes::NoDevices).await?;
        let row: Option<RoleRow> = db::query_as("SELECT * FROM role_definitions WHERE id = ?")
            .bind(id)
            .fetch_optional(&mut tx)
            .await?;
        let Some(row) = row else {
            return Ok(false);
        };
        if row.is_built_in {
            return Err(StoreError::Conflict(format!(
                "'{}' is a built-in role: it cannot be deleted.",
                row.display_name
            )));
        }
        let holders: i64 = db::query_scalar("SELECT COUNT(*) FROM user_roles WHERE role_id = ?")
            .bind(id)
            .fetch_one(&mut tx)
            .await?;
        if holders > 0 {
            return Err(StoreError::Conflict(format!(
                "'{}' is assigned to {holders} user(s): take it from them first.",
                row.display_name
            )));
        }
        let values: i64 =
            db::query_scalar("SELECT COUNT(*) FROM role_claim_values WHERE role_id = ?")
                .bind(id)
                .fetch_one(&mut tx)
                .await?;
        if values > 0 {
            return Err(StoreError::Conflict(format!(
                "'{}' is assigned to {values} claim value(s) of the provider: remove them first.",
                row.display_name
            )));
        }
        db::query("DELETE FROM role_definitions WHERE id = ?")
            .bind(id)
            .execute(&mut tx)
            .await?;
        append(
            &mut tx,
            &AuditEntry::new(AuditActivity::DeleteRoleDefinition, actor)
                .on(id, Some(&row.display_name)),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Forgets the attempts counted across instances (PostgreSQL's `throttle`) whose keys have
    /// fully recovered by `now`.
    pub async fn forget_recovered_attempts(&self, now: OffsetDateTime) -> StoreResult<u64> {
        if self.postgres().is_none() {
            return Ok(0);
        }
        let now_ms = i64::try_from(now.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX);
        Ok(db::query("DELETE FROM throttle WHERE tat < ?")
            .bind(now_ms)
            .execute(self.writer())
            .await?)
    }

    /// Deletes the live events (PostgreSQL's outbox) published before `cutoff`: a stream that
    /// resumes after longer than that away refetches instead.
    pub async fn forget_old_events(&self, cutoff: OffsetDateTime) -> StoreResult<u64> {
        if self.postgres().is_none() {
            return Ok(0);
        }
        Ok(db::query("DELETE FROM events WHERE at < ?")
            .bind(timestamp(cutoff))
            .execute(self.writer())
            .await?)
    }
}

fn roles_sentence(roles: &[String]) -> String {
    if roles.is_empty() {
        "No roles.".to_owned()
    } else {
        format!("Roles: {}.", roles.join(", "))
    }
}

async fn assign_roles(connection: &mut Tx, user_id: &str, roles: &[String]) -> StoreResult<()> {
    for name in roles {
        let role_id: Option<String> = db::query_scalar(format!(
            "SELECT id FROM role_definitions WHERE {}",
            connection.dialect().nocase_eq("display_name")
        ))
        .bind(name)
        .fetch_optional(&mut *connection)
        .await?;
        let Some(role_id) = role_id else {
            return Err(StoreError::invalid(
                "roles",
                format!("There is no role named '{name}'."),
            ));
        };
        db::query("INSERT INTO user_roles (user_id, role_id) VALUES (?, ?) ON CONFLICT DO NOTHING")
            .bind(user_id)
            .bind(role_id)
            .execute(&mut *connection)
            .await?;
    }
    Ok(())
}

/// How many accounts hold every permission through their roles.
async fn accounts_holding_all(connection: &mut Tx) -> StoreResult<usize> {
    let rows: Vec<(String, String)> = db::query_as(
        "SELECT ur.user_id, r.permissions FROM user_roles ur
         JOIN role_definitions r ON r.id = ur.role_id",
    )
    .fetch_all(connection)
    .await?;
    let mut held: std::collections::HashMap<String, Vec<&str>> = Default::default();
    for (user, permissions) in &rows {
        held.entry(user.clone())
            .or_default()
            .extend(permissions.split_whitespace());
    }
    Ok(held
        .values()
        .filter(|permissions| {
            Permission::ALL
                .iter()
                .all(|p| permissions.contains(&p.as_str()))
        })
        .count())
}

async fn role_rows(connection: &mut Tx, user_id: &str) -> sqlx::Result<Vec<RoleRow>> {
    db::query_as(format!(
        "SELECT r.* FROM role_definitions r JOIN user_roles ur ON ur.role_id = r.id
         WHERE ur.user_id = ? ORDER BY {}",
        connection.dialect().nocase("r.display_name")
    ))
    .prepared()
    .bind(user_id)
    .fetch_all(connection)
    .await
}

async fn fetch_user(connection: &mut Tx, id: &str) -> StoreResult<User> {
    let (user_name, display_name, issuer): (String, String, Option<String>) =
        db::query_as("SELECT user_name, display_name, issuer FROM users WHERE id = ?")
            .bind(id)
            .fetch_one(&mut *connection)
            .await?;
    let roles = role_rows(connection, id).await?;
    Ok(User {
        id: id.to_owned(),
        user_principal_name: user_name,
        display_name,
        roles: roles.into_iter().map(|r| r.display_name).collect(),
        from_provider: issuer.is_some(),
    })
}

/// The user with the union of their roles' permissions: asked on every request, so two queries.
pub(super) async fn account_of(connection: &mut Tx, user_id: &str) -> StoreResult<Account> {
    let (user_name, display_name, issuer): (String, String, Option<String>) =
        db::query_as("SELECT user_name, display_name, issuer FROM users WHERE id = ?")
            .prepared()
            .bind(user_id)
            .fetch_one(&mut *connection)
            .await?;
    let roles = role_rows(connection, user_id).await?;
    let mut account = account(user_id.to_owned(), user_name, display_name, roles)?;
    account.issuer = issuer;
    Ok(account)
}

/// A user as an account: their roles' names and the union of the roles' permissions.
pub(super) fn account(
    user_id: String,
    user_principal_name: String,
    display_name: String,
    role_rows: Vec<RoleRow>,
) -> StoreResult<Account> {
    let mut roles = Vec::new();
    let mut permissions = Vec::new();
    for row in role_rows {
        let role = RoleDefinition::try_from(row)?;
        for permission in role.permissions {
            if !permissions.contains(&permission) {
                permissions.push(permission);
            }
        }
        roles.push(role.display_name);
    }
    permissions.sort_by_key(|p| Permission::ALL.iter().position(|q| q == p));
    Ok(Account {
        user_id,
        user_principal_name,
        display_name,
        roles,
        permissions,
        issuer: None,
    })
}

#[derive(Clone, FromRow)]
pub(super) struct RoleRow {
    pub(super) id: String,
    pub(super) display_name: String,
    pub(super) description: String,
    pub(super) is_built_in: bool,
    pub(super) permissions: String,
}

impl TryFrom<RoleRow> for RoleDefinition {
    type Error = StoreError;

    fn try_from(row: RoleRow) -> StoreResult<Self> {
        let permissions = row
            .permissions
            .split_whitespace()
            .map(|p| stored("permissions", p, Permission::from_wire))
            .collect::<sqlx::Result<Vec<_>>>()?;
        Ok(RoleDefinition {
            id: row.id,
            display_name: row.display_name,
            description: row.description,
            is_built_in: row.is_built_in,
            permissions,
        })
    }
}
