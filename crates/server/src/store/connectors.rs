use super::db::{self, Tx};
use admin_api::protocol::SiteInfo;
use admin_api::{
    AuditActivity, Cloud, Connector, ConnectorEvent, ConnectorStatus, DevicesEvent, Event,
    UploadScope,
};
use sqlx::FromRow;
use time::{Duration, OffsetDateTime};

use super::audit::{append, Actor, AuditEntry};
use super::error::StoreResult;
use super::{parse_timestamp, timestamp, write_event, Store, Writes};

/// What the store needs to attach a hierarchy.
#[derive(Debug, Clone)]
pub struct NewConnector {
    pub id: String,
    pub hierarchy_id: String,
    pub credential_hash: Vec<u8>,
    pub onboarded_at: String,
}

/// What completing an offboarding did.
pub struct Offboarded {
    pub canceled: Vec<admin_api::DeviceAction>,
    pub canceled_requests: Vec<admin_api::SiteRequest>,
    pub removed_devices: u64,
}

/// A connector as its credential check sees it.
#[derive(Debug, Clone, FromRow)]
pub struct ConnectorIdentity {
    pub id: String,
    pub site_version: Option<String>,
    pub offboard_requested_at: Option<String>,
    /// SHA-256 of the credential's secret; `None` once revoked.
    pub credential_hash: Option<Vec<u8>>,
}

/// The status rules of the contract: offboarding first, then `unknown` for a site that never
/// reported its information, then by the age of the last successful sync.
pub fn connector_status(
    site_reported: bool,
    last_sync_at: Option<OffsetDateTime>,
    offboarding: bool,
    now: OffsetDateTime,
) -> ConnectorStatus {
    if offboarding {
        return ConnectorStatus::Offboarding;
    }
    if !site_reported {
        return ConnectorStatus::Unknown;
    }
    match last_sync_at.map(|at| now - at) {
        Some(age) if age < Duration::hours(24) => ConnectorStatus::Healthy,
        Some(age) if age < Duration::hours(72) => ConnectorStatus::Warning,
        _ => ConnectorStatus::Unhealthy,
    }
}

const SELECT_CONNECTOR: &str = "SELECT c.id, c.hierarchy_id, c.hierarchy_name, c.site_code,
        c.site_version, c.service_connection_point, c.cloud,
        CAST(c.upload_scope AS text) AS upload_scope, c.endpoint_analytics_enabled,
        c.checks_users, CAST(c.connectivity_checks AS text) AS connectivity_checks, c.last_sync_at,
        c.last_heartbeat_at, c.onboarded_at, c.offboard_requested_at, c.site_reported_at,
        (SELECT COUNT(*) FROM devices d WHERE d.connector_id = c.id AND d.device_set = c.device_set)
            AS device_count
     FROM connectors c WHERE c.removed_at IS NULL";

impl Store {
    /// Writes the connector as the admin API shows it at `now` (`None` once removed) as a
    /// `connector` event with the change in `tx`, so that the two commit together (see
    /// [`write_event`]). Nothing on SQLite, whose caller reads and announces it after the commit.
    pub(crate) async fn write_connector_event(
        &self,
        tx: &mut Tx,
        id: &str,
        now: OffsetDateTime,
    ) -> StoreResult<()> {
        if !matches!(tx, Tx::Postgres(_)) {
            return Ok(());
        }
        let row: Option<ConnectorRow> = db::query_as(format!("{SELECT_CONNECTOR} AND c.id = ?"))
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
        let connector = row
            .map(|row| row.into_connector(now, self.online_window))
            .transpose()?;
        let event = Event::Connector(ConnectorEvent {
            id: id.to_owned(),
            connector,
        });
        Ok(write_event(tx, &event, now).await?)
    }

    pub async fn connectors(
        &self,
        now: OffsetDateTime,
        online_window: Duration,
    ) -> StoreResult<Vec<Connector>> {
        let rows: Vec<ConnectorRow> =
            db::query_as(format!("{SELECT_CONNECTOR} ORDER BY c.onboarded_at, c.id"))
                .fetch_all(self.read())
                .await?;
        rows.into_iter()
            .map(|row| row.into_connector(now, online_window))
            .collect()
    }

    pub async fn connector(
        &self,
        id: &str,
        now: OffsetDateTime,
        online_window: Duration,
    ) -> StoreResult<Option<Connector>> {
        let row: Option<ConnectorRow> = db::query_as(format!("{SELECT_CONNECTOR} AND c.id = ?"))
            .bind(id)
            .fetch_optional(self.read())
            .await?;
        row.map(|row| row.into_connector(now, online_window))
            .transpose()
    }

    /// The connector with this id, as its credential check needs it.
    pub async fn connector_identity(&self, id: &str) -> StoreResult<Option<ConnectorIdentity>> {
        db::query_as(
            "SELECT id, site_version, offboard_requested_at, credential_hash FROM connectors
             WHERE id = ? AND removed_at IS NULL",
        )
        .bind(id)
        .fetch_optional(self.read())
        .await
        .map_err(Into::into)
    }

    pub async fn report_site(
        &self,
        id: &str,
        site: &SiteInfo,
        now: OffsetDateTime,
    ) -> StoreResult<()> {
        let scope = site
            .upload_scope
            .as_ref()
            .map(|s| serde_json::to_string(s).expect("scopes serialize"));
        let checks = site
            .connectivity_checks
            .as_ref()
            .map(|checks| serde_json::to_string(checks).expect("checks serialize"));
        let at = timestamp(now);
        let mut tx = self.begin().await?;
        db::query(
            "UPDATE connectors SET hierarchy_name = ?, site_code = ?, site_version = ?,
                service_connection_point = ?, cloud = ?, upload_scope = ?,
                endpoint_analytics_enabled = ?, connectivity_checks = ?, site_reported_at = ?,
                last_heartbeat_at = ?, checks_users = ?
             WHERE id = ?",
        )
        .bind(&site.hierarchy_name)
        .bind(&site.site_code)
        .bind(&site.site_version)
        .bind(&site.service_connection_point)
        .bind(site.cloud.map(Cloud::as_str))
        .bind(db::Value::Json(scope))
        .bind(site.endpoint_analytics_enabled)
        .bind(db::Value::Json(checks))
        .bind(&at)
        .bind(&at)
        .bind(site.checks_users)
        .bind(id)
        .execute(&mut tx)
        .await?;
        // Its devices carry the hierarchy's name and site code, to sort and filter on.
        db::query(
            "UPDATE devices SET hierarchy_name = ?, site_code = ?
             WHERE connector_id = ? AND (hierarchy_name IS DISTINCT FROM ? OR site_code IS DISTINCT FROM ?)",
        )
        .bind(&site.hierarchy_name)
        .bind(&site.site_code)
        .bind(id)
        .bind(&site.hierarchy_name)
        .bind(&site.site_code)
        .execute(&mut tx)
        .await?;
        self.write_connector_event(&mut tx, id, now).await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn heartbeat(&self, id: &str, now: OffsetDateTime) -> StoreResult<()> {
        db::query("UPDATE connectors SET last_heartbeat_at = ? WHERE id = ?")
            .bind(timestamp(now))
            .bind(id)
            .execute(self.writer())
            .await?;
        Ok(())
    }

    /// Marks the connector as offboarding, recording who asked; returns false when it does not
    /// exist. Repeating it keeps the first request's time and records nothing new.
    pub async fn request_offboard(
        &self,
        id: &str,
        actor: &Actor,
        now: OffsetDateTime,
    ) -> StoreResult<bool> {
        let mut tx = self.begin().await?;
        let current: Option<(Option<String>, Option<String>)> = db::query_as(
            "SELECT offboard_requested_at, hierarchy_name FROM connectors
             WHERE id = ? AND removed_at IS NULL",
        )
        .bind(id)
        .fetch_optional(&mut tx)
        .await?;
        let Some((requested, hierarchy_name)) = current else {
            return Ok(false);
        };
        if requested.is_none() {
            db::query("UPDATE connectors SET offboard_requested_at = ? WHERE id = ?")
                .bind(timestamp(now))
                .bind(id)
                .execute(&mut tx)
                .await?;
            append(
                &mut tx,
                &AuditEntry::new(AuditActivity::DeleteConnector, actor)
                    .on(id, hierarchy_name.as_deref())
                    .details("Offboarding requested."),
                now,
            )
            .await?;
            self.write_connector_event(&mut tx, id, now).await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    /// Connectors whose offboarding was requested before `cutoff`.
    pub async fn offboardings_due(&self, cutoff: OffsetDateTime) -> StoreResult<Vec<String>> {
        db::query_scalar(
            "SELECT id FROM connectors WHERE offboard_requested_at IS NOT NULL AND offboard_requested_at <= ?
               AND removed_at IS NULL",
        )
        .bind(timestamp(cutoff))
        .fetch_all(self.read())
        .await.map_err(Into::into)
    }

    /// Completes an offboarding in one transaction: the connector's open actions are canceled
    /// (and returned), its staged batches dropped, its credential revoked and the connector marked
    /// removed; from then on the API shows neither it nor its devices. The devices are deleted
    /// afterwards a slice at a time, the connector's row with the last of them
    /// ([`Store::delete_leftovers`]). `None` when there was nothing to offboard.
    pub async fn complete_offboard(
        &self,
        id: &str,
        actor: &Actor,
        now: OffsetDateTime,
    ) -> StoreResult<Option<Offboarded>> {
        let mut tx = self.begin().await?;
        let offboarding: Option<(Option<String>, Option<String>)> = db::query_as(
            "SELECT offboard_requested_at, hierarchy_name FROM connectors
             WHERE id = ? AND removed_at IS NULL",
        )
        .bind(id)
        .fetch_optional(&mut tx)
        .await?;
        let Some((Some(_), hierarchy_name)) = offboarding else {
            return Ok(None);
        };
        let canceled = super::actions::cancel_open(&mut tx, id, actor, now).await?;
        let canceled_requests = super::site_requests::cancel_open(&mut tx, id, actor, now).await?;
        let removed_devices: i64 = db::query_scalar(
            "SELECT COUNT(*) FROM devices d JOIN connectors c ON c.id = d.connector_id
                 WHERE d.connector_id = ? AND d.device_set = c.device_set",
        )
        .bind(id)
        .fetch_one(&mut tx)
        .await?;
        let removed_devices = removed_devices as u64;
        db::query("UPDATE connectors SET removed_at = ?, credential_hash = NULL WHERE id = ?")
            .bind(timestamp(now))
            .bind(id)
            .execute(&mut tx)
            .await?;
        db::query("DELETE FROM sync_batches WHERE connector_id = ?")
            .bind(id)
            .execute(&mut tx)
            .await?;
        append(
            &mut tx,
            &AuditEntry::new(AuditActivity::CompleteOffboarding, actor)
                .on(id, hierarchy_name.as_deref())
                .details(format!(
                    "{removed_devices} device(s) removed, {} open action(s) canceled.",
                    canceled.len()
                )),
            now,
        )
        .await?;
        write_event(
            &mut tx,
            &Event::Devices(DevicesEvent {
                connector_id: id.to_owned(),
                changed: removed_devices,
            }),
            now,
        )
        .await?;
        write_event(
            &mut tx,
            &Event::Connector(ConnectorEvent {
                id: id.to_owned(),
                connector: None,
            }),
            now,
        )
        .await?;
        // Its devices are left out of reads before the connector is seen gone, never after.
        self.removed.add(id);
        if let Err(error) = tx.commit().await {
            self.removed.forget(id);
            return Err(error.into());
        }
        self.removed.work.notify_one();
        Ok(Some(Offboarded {
            canceled,
            canceled_requests,
            removed_devices,
        }))
    }

    /// Deletes one slice of a removed connector's devices, or its row once they are gone, or else
    /// one slice of a hidden device set that was replaced or abandoned (see
    /// [`Store::complete_full_sync`]); false when nothing is left to delete. A slice keeps the
    /// writer briefly, so that uploads, actions and sign-ins wait for one slice at most, not for
    /// the whole hierarchy.
    pub async fn delete_leftovers(&self) -> StoreResult<bool> {
        // On PostgreSQL another instance may have removed it: the table says.
        let removed =
            match self.postgres() {
                None => self.removed.ids().into_iter().next(),
                Some(_) => db::query_scalar(
                    "SELECT id FROM connectors WHERE removed_at IS NOT NULL ORDER BY id LIMIT 1",
                )
                .fetch_optional(self.writer())
                .await?,
            };
        let Some(id) = removed else {
            return self.delete_dying_set().await;
        };
        let bulk = self.bulk_turn().await;
        let deleted = db::query(format!(
            "DELETE FROM devices WHERE {rowid} IN
                (SELECT {rowid} FROM devices WHERE connector_id = ? LIMIT ?)",
            rowid = self.dialect().rowid()
        ))
        .bind(&id)
        .bind(DELETE_SLICE)
        .execute(self.writer())
        .await?;
        drop(bulk);
        if deleted == 0 {
            // Its syncs and hidden sets go with it (foreign keys).
            db::query("DELETE FROM connectors WHERE id = ? AND removed_at IS NOT NULL")
                .bind(&id)
                .execute(self.writer())
                .await?;
            self.removed.forget(&id);
        }
        Ok(true)
    }

    async fn delete_dying_set(&self) -> StoreResult<bool> {
        let dying: Option<(String, i64)> = db::query_as(
            "SELECT connector_id, device_set FROM hidden_device_sets WHERE state = 'dying' LIMIT 1",
        )
        .fetch_optional(self.writer())
        .await?;
        let Some((connector_id, set)) = dying else {
            return Ok(false);
        };
        let bulk = self.bulk_turn().await;
        let mut tx = self.begin_for(Writes::HiddenDevices).await?;
        let deleted = db::query(format!(
            "DELETE FROM devices WHERE {rowid} IN
                (SELECT {rowid} FROM devices WHERE connector_id = ? AND device_set = ? LIMIT ?)",
            rowid = self.dialect().rowid()
        ))
        .bind(&connector_id)
        .bind(set)
        .bind(DELETE_SLICE)
        .execute(&mut tx)
        .await?;
        db::query(
            "UPDATE hidden_device_sets SET devices = CASE WHEN devices > ? THEN devices - ? ELSE 0 END
             WHERE connector_id = ? AND device_set = ?",
        )
        .bind(deleted as i64)
        .bind(deleted as i64)
        .bind(&connector_id)
        .bind(set)
        .execute(&mut tx)
        .await?;
        tx.commit().await?;
        drop(bulk);
        if deleted == 0 {
            db::query(
                "DELETE FROM hidden_device_sets WHERE connector_id = ? AND device_set = ?
                   AND state = 'dying'",
            )
            .bind(&connector_id)
            .bind(set)
            .execute(self.writer())
            .await?;
        }
        Ok(true)
    }

    /// Waits until an offboarding leaves devices to delete (at once if some are left from before).
    pub async fn leftovers_pending(&self) {
        self.removed.work.notified().await;
    }
}

/// Devices deleted per transaction when leftovers are deleted.
const DELETE_SLICE: i64 = 1_000;

#[derive(FromRow)]
struct ConnectorRow {
    id: String,
    hierarchy_id: String,
    hierarchy_name: Option<String>,
    site_code: Option<String>,
    site_version: Option<String>,
    service_connection_point: Option<String>,
    cloud: Option<String>,
    upload_scope: Option<String>,
    endpoint_analytics_enabled: Option<bool>,
    checks_users: Option<bool>,
    connectivity_checks: Option<String>,
    last_sync_at: Option<String>,
    last_heartbeat_at: Option<String>,
    onboarded_at: String,
    offboard_requested_at: Option<String>,
    site_reported_at: Option<String>,
    device_count: i64,
}

impl ConnectorRow {
    fn into_connector(
        self,
        now: OffsetDateTime,
        online_window: Duration,
    ) -> StoreResult<Connector> {
        let last_sync = self.last_sync_at.as_deref().and_then(parse_timestamp);
        let online = self
            .last_heartbeat_at
            .as_deref()
            .and_then(parse_timestamp)
            .is_some_and(|at| now - at <= online_window);
        let upload_scope: Option<UploadScope> = self
            .upload_scope
            .as_deref()
            .map(serde_json::from_str)
            .transpose()
            .map_err(|e| sqlx::Error::ColumnDecode {
                index: "upload_scope".into(),
                source: Box::new(e),
            })?;
        let connectivity_checks = self
            .connectivity_checks
            .as_deref()
            .map(serde_json::from_str)
            .transpose()
            .map_err(|e| sqlx::Error::ColumnDecode {
                index: "connectivity_checks".into(),
                source: Box::new(e),
            })?
            .unwrap_or_default();
        Ok(Connector {
            status: connector_status(
                self.site_reported_at.is_some(),
                last_sync,
                self.offboard_requested_at.is_some(),
                now,
            ),
            id: self.id,
            hierarchy_id: self.hierarchy_id,
            hierarchy_name: self.hierarchy_name,
            site_code: self.site_code,
            site_version: self.site_version,
            last_sync_date_time: self.last_sync_at,
            last_heartbeat_date_time: self.last_heartbeat_at,
            online,
            device_count: self.device_count as u64,
            service_connection_point: self.service_connection_point,
            cloud: self.cloud.as_deref().and_then(Cloud::from_wire),
            upload_scope,
            endpoint_analytics_enabled: self.endpoint_analytics_enabled,
            onboarded_date_time: self.onboarded_at,
            offboard_requested_date_time: self.offboard_requested_at,
            connectivity_checks,
            checks_users: self.checks_users,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn status_follows_the_contract() {
        let now = datetime!(2026-11-21 12:00 UTC);
        let ago = |hours: i64| Some(now - Duration::hours(hours));
        assert_eq!(
            connector_status(true, ago(1), false, now),
            ConnectorStatus::Healthy
        );
        assert_eq!(
            connector_status(true, ago(23), false, now),
            ConnectorStatus::Healthy
        );
        assert_eq!(
            connector_status(true, ago(24), false, now),
            ConnectorStatus::Warning
        );
        assert_eq!(
            connector_status(true, ago(71), false, now),
            ConnectorStatus::Warning
        );
        assert_eq!(
            connector_status(true, ago(72), false, now),
            ConnectorStatus::Unhealthy
        );
        assert_eq!(
            connector_status(true, None, false, now),
            ConnectorStatus::Unhealthy
        );
        assert_eq!(
            connector_status(false, ago(1), false, now),
            ConnectorStatus::Unknown
        );
        assert_eq!(
            connector_status(true, ago(1), true, now),
            ConnectorStatus::Offboarding
        );
        assert_eq!(
            connector_status(false, None, true, now),
            ConnectorStatus::Offboarding
        );
    }
}
