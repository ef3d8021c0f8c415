//! Bulk actions (`/api/v1/devices/bulkActions`, `/api/v1/bulkActions/{id}`): one of the three
//! ConfigMgr actions on every device a filter matches, run by the server as a job. The server
//! takes the filter, not a list of ids, and counts it as it starts; each device gets its action as
//! if asked alone (its result audited as today), the job one audit entry of its own.

use serde::{Deserialize, Serialize};

use crate::actions::ConfigurationManagerActionType;
use crate::wire_enum::wire_enum;

/// Devices one bulk action may reach.
pub const MAX_BULK_DEVICES: u64 = 100_000;

wire_enum!(
    /// `running` until every action of the job has ended (`completed`) or the job was canceled.
    BulkActionState {
        Running = "running",
        Completed = "completed",
        Canceled = "canceled",
    }
);

/// Body of `POST /api/v1/devices/bulkActions`: the action, the devices as All devices names them
/// (`$search`, `$filter`), and the count the operator confirmed. A filter and a search that are
/// both empty are "all devices" only with `allDevices: true`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NewBulkAction {
    pub action: ConfigurationManagerActionType,
    #[serde(default)]
    pub search: Option<String>,
    #[serde(default)]
    pub filter: Option<String>,
    #[serde(default)]
    pub all_devices: bool,
    /// How many devices the operator saw and confirmed.
    pub confirmed_count: u64,
}

/// How many of a job's actions are in each state.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BulkCounts {
    /// Requested, not yet taken by the site.
    pub pending: u64,
    /// Taken by the site, the client's answer awaited.
    pub delivered: u64,
    pub succeeded: u64,
    pub failed: u64,
    pub timed_out: u64,
    pub canceled: u64,
}

/// A job's counts for one connector's devices.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BulkConnectorCounts {
    pub connector_id: String,
    pub hierarchy_name: Option<String>,
    pub counts: BulkCounts,
}

/// A bulk action and where it stands.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BulkAction {
    pub id: String,
    pub action: ConfigurationManagerActionType,
    pub state: BulkActionState,
    pub requested_by: String,
    pub requested_date_time: String,
    pub last_updated_date_time: String,
    pub search: Option<String>,
    pub filter: Option<String>,
    pub all_devices: bool,
    /// The count the operator confirmed.
    pub confirmed_count: u64,
    /// The devices that matched when the job started: each was asked for the action unless the
    /// same action was already open on it.
    pub matched_count: u64,
    /// Of those, the devices whose same action was already pending or running (not asked again).
    pub already_open_count: u64,
    pub counts: BulkCounts,
    pub connectors: Vec<BulkConnectorCounts>,
}
