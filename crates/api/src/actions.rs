use serde::{Deserialize, Serialize};

use crate::wire_enum::wire_enum;

wire_enum!(
    /// The three ConfigMgr client actions (Graph's names).
    ConfigurationManagerActionType {
        RefreshMachinePolicy = "refreshMachinePolicy",
        RefreshUserPolicy = "refreshUserPolicy",
        AppEvaluation = "appEvaluation",
    }
);

/// Graph's other action values: known, but not something a ConfigMgr site runs here.
/// Longest `Idempotency-Key` header; its characters are visible ASCII (`!` to `~`), no space.
pub const MAX_IDEMPOTENCY_KEY: usize = 200;

pub const UNSUPPORTED_GRAPH_ACTIONS: &[&str] = &[
    "wakeUpClient",
    "quickScan",
    "fullScan",
    "windowsDefenderUpdateSignatures",
];

wire_enum!(
    ActionState {
        Pending = "pending",
        Active = "active",
        Done = "done",
        Failed = "failed",
        Canceled = "canceled",
        TimedOut = "timedOut",
    }
);

impl ActionState {
    /// Still on its way: a second identical request returns this action instead of a new one.
    pub fn is_open(self) -> bool {
        matches!(self, Self::Pending | Self::Active)
    }
}

/// Body of `POST /api/v1/devices/{id}/triggerConfigurationManagerAction`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TriggerConfigurationManagerAction {
    pub configuration_manager_action: ConfigurationManagerAction,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ConfigurationManagerAction {
    pub action: ConfigurationManagerActionType,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviceAction {
    pub id: String,
    pub device_id: String,
    pub action: ConfigurationManagerActionType,
    pub action_state: ActionState,
    pub requested_by: String,
    pub requested_date_time: String,
    pub last_updated_date_time: String,
    /// The ConfigMgr client's return code, once known.
    pub result_code: Option<i64>,
    pub result_message: Option<String>,
}
