use super::Store;

/// What the store needs to attach a hierarchy.
#[derive(Debug, Clone)]
pub struct NewConnector {
    pub id: String,
    pub hierarchy_id: String,
    pub hierarchy_name: Option<String>,
    pub site_code: Option<String>,
    pub site_version: Option<String>,
    pub service_connection_point: Option<String>,
    pub cloud: Option<String>,
    pub endpoint_analytics_enabled: Option<bool>,
    pub last_sync_at: Option<String>,
    pub onboarded_at: String,
}

impl Store {
    pub async fn connector_count(&self) -> sqlx::Result<i64> {
        sqlx::query_scalar("SELECT COUNT(*) FROM connectors")
            .fetch_one(self.pool())
            .await
    }

    pub async fn insert_connector(&self, connector: &NewConnector) -> sqlx::Result<()> {
        sqlx::query(
            "INSERT INTO connectors (id, hierarchy_id, hierarchy_name, site_code, site_version,
                service_connection_point, cloud, endpoint_analytics_enabled, last_sync_at,
                last_heartbeat_at, onboarded_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&connector.id)
        .bind(&connector.hierarchy_id)
        .bind(&connector.hierarchy_name)
        .bind(&connector.site_code)
        .bind(&connector.site_version)
        .bind(&connector.service_connection_point)
        .bind(&connector.cloud)
        .bind(connector.endpoint_analytics_enabled)
        .bind(&connector.last_sync_at)
        .bind(&connector.last_sync_at)
        .bind(&connector.onboarded_at)
        .execute(self.pool())
        .await?;
        Ok(())
    }
}
