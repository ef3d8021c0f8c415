//! The connector protocol under `/api/connector/v1`, spoken by a hierarchy's service connection
//! point (docs/connector-protocol.md). Every call but `onboard` authenticates with the connector's
//! credential as `Authorization: Bearer <credential>`.

use serde::{Deserialize, Serialize};

use crate::site_requests::{SiteAnswer, SiteRequestKind};
use crate::{
    ClientHealthState, Cloud, ComplianceState, ConfigurationManagerActionType,
    ConfigurationManagerClientInformation, ConnectivityCheck, DeviceCollection, ManagedBy,
    OwnerType, UploadScope,
};

pub const CONNECTOR_API_BASE: &str = "/api/connector/v1";

/// Most batches one full sync may have (indexes 0 to `MAX_BATCHES - 1`): with batches of the
/// body limit, far beyond any hierarchy.
pub const MAX_BATCHES: u32 = 100_000;

/// Longest long-poll a connector may ask for, in seconds.
pub const MAX_WAIT_SECONDS: u32 = 60;

/// `POST /onboard`, authenticated with a one-time onboarding token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OnboardRequest {
    pub hierarchy_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OnboardResponse {
    pub connector_id: String,
    /// The connector's own credential from now on; shown once, stored hashed by the server.
    pub credential: String,
}

/// `PUT /site`: what the site reports about itself. Sites at 2006 or earlier send only the first
/// three fields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SiteInfo {
    pub hierarchy_name: String,
    pub site_code: String,
    pub site_version: String,
    #[serde(default)]
    pub service_connection_point: Option<String>,
    #[serde(default)]
    pub cloud: Option<Cloud>,
    #[serde(default)]
    pub upload_scope: Option<UploadScope>,
    #[serde(default)]
    pub endpoint_analytics_enabled: Option<bool>,
    /// The connector's last connectivity checks (sites after 2006 that run them).
    #[serde(default)]
    pub connectivity_checks: Option<Vec<ConnectivityCheck>>,
    /// Whether the connector checks at the site that the user who asked for an action is one
    /// the site discovered (absent from connectors that predate it).
    #[serde(default)]
    pub checks_users: Option<bool>,
}

/// Answer to `POST /heartbeat` and part of every action poll.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HeartbeatResponse {
    pub offboard_requested: bool,
}

crate::devices::device_struct! {
    /// A device as its site uploads it; the server adds the connector, hierarchy and sync time.
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    pub struct SiteDevice {}
}

impl SiteDevice {
    /// The optional text fields a site sends, by wire name: the field table's top-level text
    /// fields from the site that may be null (a test holds the two together).
    pub fn optional_texts(&self) -> [(&'static str, Option<&str>); 10] {
        [
            ("operatingSystem", self.operating_system.as_deref()),
            ("osVersion", self.os_version.as_deref()),
            ("userPrincipalName", self.user_principal_name.as_deref()),
            ("userDisplayName", self.user_display_name.as_deref()),
            ("serialNumber", self.serial_number.as_deref()),
            ("manufacturer", self.manufacturer.as_deref()),
            ("model", self.model.as_deref()),
            ("azureADDeviceId", self.azure_ad_device_id.as_deref()),
            ("domainName", self.domain_name.as_deref()),
            ("sku", self.sku.as_deref()),
        ]
    }
}

/// `PUT /syncs/{syncId}/batches/{index}`: one batch of a full sync. Re-sending a batch replaces it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DeviceBatch {
    pub devices: Vec<SiteDevice>,
}

/// `POST /syncs/{syncId}/complete`: the full sync is whole; its devices replace the site's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CompleteFullSync {
    pub batch_count: u32,
}

/// `POST /syncs/{syncId}/delta`: changes since the last sync, applied once per sync id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DeviceDelta {
    #[serde(default)]
    pub upserts: Vec<SiteDevice>,
    /// Ids of devices that left the site or its upload scope.
    #[serde(default)]
    pub removals: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncResult {
    pub sync_id: String,
    /// Devices of this connector after the sync.
    pub device_count: u64,
    /// Devices added, changed or removed by it.
    pub changed: u64,
}

/// Answer to `GET /actions?waitSeconds=N`: the actions waiting for the site (empty when the wait
/// ran out), and whether the tenant asked the site to offboard.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ActionPoll {
    pub actions: Vec<SiteAction>,
    pub offboard_requested: bool,
    /// Site requests waiting for the site (connectors that predate them ignore the field; their
    /// requests time out).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub requests: Vec<SiteRequestWork>,
}

/// A site request as its connector receives it: what to read or run for which device, and who
/// asked (checked at the site like an action's requester).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SiteRequestWork {
    pub id: String,
    pub device_id: String,
    pub kind: SiteRequestKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub script_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested_by: Option<Requester>,
}

/// `POST /requests/{id}/answer`: the site's answer, or why it could not give one (exactly one of
/// the two).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SiteRequestOutcome {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answer: Option<SiteAnswer>,
    /// Why the site did not answer, in words (its refusal, an offline device, an older site).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
    /// The requester as the site found them, when it checked them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requester_at_site: Option<String>,
}

impl SiteRequestOutcome {
    pub fn answered(answer: SiteAnswer, requester_at_site: Option<String>) -> Self {
        Self {
            answer: Some(answer),
            failure: None,
            requester_at_site,
        }
    }

    pub fn failed(failure: impl Into<String>) -> Self {
        Self {
            answer: None,
            failure: Some(failure.into()),
            requester_at_site: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SiteAction {
    pub id: String,
    pub device_id: String,
    pub action: ConfigurationManagerActionType,
    /// Who asked for the action, for the site to check (tenant attach's rule: a user the site
    /// has discovered). Connectors that predate it ignore it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested_by: Option<Requester>,
}

/// The user who asked for an action, as the admin center knows them.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Requester {
    pub display_name: String,
    /// Their user principal name; a local account's name.
    pub user_principal_name: String,
    /// Their Entra ID object id, when they signed in through Entra ID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object_id: Option<String>,
    /// Their on-premises SID, when the provider sent it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub onprem_sid: Option<String>,
}

/// `POST /actions/{id}/result`: what the client answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ActionResult {
    pub succeeded: bool,
    /// The ConfigMgr client's return code (0 on success, an HRESULT otherwise).
    pub result_code: i64,
    #[serde(default)]
    pub result_message: Option<String>,
    /// The requester as the site found them (e.g. `CONTOSO\\hal`), when it checked them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requester_at_site: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::devices::DEVICE_FIELDS;
    use crate::fields::FieldType;

    /// Each optional text a site sends is named as the field table names it, carries that field's
    /// value, and none of the table's is left out.
    #[test]
    fn a_site_devices_optional_texts_are_the_field_tables() {
        let mut json = serde_json::json!({
            "id": "d1", "deviceName": "PC-1", "managedBy": "configMgr", "ownerType": "company",
            "complianceState": "compliant", "clientHealthState": "healthy", "collections": [],
        });
        let expected: Vec<&str> = DEVICE_FIELDS
            .iter()
            .filter(|f| {
                f.from_site
                    && f.field_type == FieldType::Text
                    && !f.required
                    && !f.name.contains('/')
            })
            .map(|f| f.name)
            .collect();
        for name in &expected {
            json[*name] = serde_json::Value::from(format!("value of {name}"));
        }
        let device: SiteDevice = serde_json::from_value(json).expect("a site device");
        let texts = device.optional_texts();
        let names: Vec<&str> = texts.iter().map(|(name, _)| *name).collect();
        assert_eq!(names, expected);
        for (name, value) in texts {
            assert_eq!(value, Some(format!("value of {name}").as_str()), "{name}");
        }
    }
}
