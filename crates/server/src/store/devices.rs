use admin_api::{
    ClientHealthState, ComplianceState, ConfigurationManagerClientInformation, Device,
    DeviceCollection, ManagedBy, OwnerType,
};
use serde::{Deserialize, Serialize};
use sqlx::FromRow;

use super::Store;

/// Where a page of the default order (`deviceName asc`, ties by `id`) resumes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceCursor {
    pub device_name: String,
    pub id: String,
}

pub struct DevicePage {
    pub devices: Vec<Device>,
    /// Present when more devices follow this page.
    pub next: Option<DeviceCursor>,
    pub count: Option<u64>,
}

const SELECT_DEVICE: &str = "SELECT d.*, c.hierarchy_name, c.site_code
     FROM devices d JOIN connectors c ON c.id = d.connector_id";

impl Store {
    pub async fn list_devices(
        &self,
        after: Option<&DeviceCursor>,
        top: u32,
        with_count: bool,
    ) -> sqlx::Result<DevicePage> {
        let limit = i64::from(top) + 1;
        let rows: Vec<DeviceRow> = match after {
            None => {
                sqlx::query_as(&format!(
                    "{SELECT_DEVICE} ORDER BY d.device_name COLLATE NOCASE, d.id LIMIT ?"
                ))
                .bind(limit)
                .fetch_all(self.pool())
                .await?
            }
            Some(cursor) => {
                sqlx::query_as(&format!(
                    "{SELECT_DEVICE}
                     WHERE d.device_name COLLATE NOCASE > ?
                        OR (d.device_name COLLATE NOCASE = ? AND d.id > ?)
                     ORDER BY d.device_name COLLATE NOCASE, d.id LIMIT ?"
                ))
                .bind(&cursor.device_name)
                .bind(&cursor.device_name)
                .bind(&cursor.id)
                .bind(limit)
                .fetch_all(self.pool())
                .await?
            }
        };
        let mut devices = rows
            .into_iter()
            .map(Device::try_from)
            .collect::<sqlx::Result<Vec<_>>>()?;
        let next = if devices.len() > top as usize {
            devices.truncate(top as usize);
            devices.last().map(|last| DeviceCursor {
                device_name: last.device_name.clone(),
                id: last.id.clone(),
            })
        } else {
            None
        };
        let count = if with_count {
            let total: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM devices")
                .fetch_one(self.pool())
                .await?;
            Some(total as u64)
        } else {
            None
        };
        Ok(DevicePage {
            devices,
            next,
            count,
        })
    }

    pub async fn device(&self, id: &str) -> sqlx::Result<Option<Device>> {
        let row: Option<DeviceRow> = sqlx::query_as(&format!("{SELECT_DEVICE} WHERE d.id = ?"))
            .bind(id)
            .fetch_optional(self.pool())
            .await?;
        row.map(Device::try_from).transpose()
    }

    /// Inserts the devices of one connector, all or none.
    pub async fn insert_devices(&self, devices: &[Device]) -> sqlx::Result<()> {
        let mut tx = self.pool().begin().await?;
        for device in devices {
            let client = device.configuration_manager_client_information.as_ref();
            let collections =
                serde_json::to_string(&device.collections).expect("collections serialize");
            sqlx::query(
                "INSERT INTO devices (id, connector_id, device_name, managed_by, owner_type,
                    compliance_state, operating_system, os_version, user_principal_name,
                    user_display_name, last_sync_at, enrolled_at, serial_number, manufacturer,
                    model, azure_ad_device_id, domain_name, sku, client_identifier,
                    client_version, client_is_blocked, client_health_state,
                    last_policy_request_at, last_active_at, collections)
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(&device.id)
            .bind(&device.connector_id)
            .bind(&device.device_name)
            .bind(device.managed_by.as_str())
            .bind(device.owner_type.as_str())
            .bind(device.compliance_state.as_str())
            .bind(&device.operating_system)
            .bind(&device.os_version)
            .bind(&device.user_principal_name)
            .bind(&device.user_display_name)
            .bind(&device.last_sync_date_time)
            .bind(&device.enrolled_date_time)
            .bind(&device.serial_number)
            .bind(&device.manufacturer)
            .bind(&device.model)
            .bind(&device.azure_ad_device_id)
            .bind(&device.domain_name)
            .bind(&device.sku)
            .bind(client.map(|c| &c.client_identifier))
            .bind(client.and_then(|c| c.client_version.as_ref()))
            .bind(client.map(|c| c.is_blocked))
            .bind(device.client_health_state.as_str())
            .bind(&device.last_policy_request_date_time)
            .bind(&device.last_active_date_time)
            .bind(collections)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await
    }
}

#[derive(FromRow)]
struct DeviceRow {
    id: String,
    connector_id: String,
    device_name: String,
    managed_by: String,
    owner_type: String,
    compliance_state: String,
    operating_system: Option<String>,
    os_version: Option<String>,
    user_principal_name: Option<String>,
    user_display_name: Option<String>,
    last_sync_at: Option<String>,
    enrolled_at: Option<String>,
    serial_number: Option<String>,
    manufacturer: Option<String>,
    model: Option<String>,
    azure_ad_device_id: Option<String>,
    domain_name: Option<String>,
    sku: Option<String>,
    client_identifier: Option<String>,
    client_version: Option<String>,
    client_is_blocked: Option<bool>,
    client_health_state: String,
    last_policy_request_at: Option<String>,
    last_active_at: Option<String>,
    collections: String,
    hierarchy_name: Option<String>,
    site_code: Option<String>,
}

fn stored<T>(column: &str, value: &str, parse: fn(&str) -> Option<T>) -> sqlx::Result<T> {
    parse(value).ok_or_else(|| sqlx::Error::ColumnDecode {
        index: column.to_owned(),
        source: format!("unknown stored value {value:?}").into(),
    })
}

impl TryFrom<DeviceRow> for Device {
    type Error = sqlx::Error;

    fn try_from(row: DeviceRow) -> sqlx::Result<Self> {
        let collections: Vec<DeviceCollection> =
            serde_json::from_str(&row.collections).map_err(|e| sqlx::Error::ColumnDecode {
                index: "collections".into(),
                source: Box::new(e),
            })?;
        Ok(Device {
            managed_by: stored("managed_by", &row.managed_by, ManagedBy::from_wire)?,
            owner_type: stored("owner_type", &row.owner_type, OwnerType::from_wire)?,
            compliance_state: stored(
                "compliance_state",
                &row.compliance_state,
                ComplianceState::from_wire,
            )?,
            client_health_state: stored(
                "client_health_state",
                &row.client_health_state,
                ClientHealthState::from_wire,
            )?,
            configuration_manager_client_information: row.client_identifier.map(
                |client_identifier| ConfigurationManagerClientInformation {
                    client_identifier,
                    client_version: row.client_version,
                    is_blocked: row.client_is_blocked.unwrap_or(false),
                },
            ),
            id: row.id,
            device_name: row.device_name,
            operating_system: row.operating_system,
            os_version: row.os_version,
            user_principal_name: row.user_principal_name,
            user_display_name: row.user_display_name,
            last_sync_date_time: row.last_sync_at,
            enrolled_date_time: row.enrolled_at,
            serial_number: row.serial_number,
            manufacturer: row.manufacturer,
            model: row.model,
            azure_ad_device_id: row.azure_ad_device_id,
            domain_name: row.domain_name,
            sku: row.sku,
            connector_id: row.connector_id,
            hierarchy_name: row.hierarchy_name,
            site_code: row.site_code,
            last_policy_request_date_time: row.last_policy_request_at,
            last_active_date_time: row.last_active_at,
            collections,
        })
    }
}
