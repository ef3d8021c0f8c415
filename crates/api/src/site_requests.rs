//! Site requests: what the device pages read live from the device's site through its connector
//! (client details, hardware inventory, the site's scripts) and what they run on the device
//! (a CMPivot query, a script). One mechanism for all: the admin center records the request, the
//! connector takes it like an action and answers it with a typed result.

use serde::{Deserialize, Serialize};

use crate::wire_enum::wire_enum;
use crate::DeviceCollection;

wire_enum!(
    /// What a site request asks the site.
    SiteRequestKind {
        ClientDetails = "clientDetails",
        Inventory = "inventory",
        Scripts = "scripts",
        CmPivot = "cmPivot",
        RunScript = "runScript",
    }
);

impl SiteRequestKind {
    /// The oldest ConfigMgr version whose sites answer it from the admin center, as Microsoft's
    /// tenant attach documents state it (client details, resource explorer and scripts: 2006;
    /// CMPivot: 2002 with its update rollup).
    pub fn minimum_site_version(self) -> u32 {
        match self {
            Self::CmPivot => 2002,
            Self::ClientDetails | Self::Inventory | Self::Scripts | Self::RunScript => 2006,
        }
    }

    /// The page's name, as the admin center shows it.
    pub fn page(self) -> &'static str {
        match self {
            Self::ClientDetails => "Client details",
            Self::Inventory => "Resource explorer",
            Self::Scripts | Self::RunScript => "Scripts",
            Self::CmPivot => "CMPivot",
        }
    }

    /// Whether the answer is a reading of what the site holds, which may be shown again for a
    /// few minutes; CMPivot queries and scripts run anew every time.
    pub fn is_reading(self) -> bool {
        matches!(self, Self::ClientDetails | Self::Inventory | Self::Scripts)
    }

    /// Why a site older than the page needs cannot answer, in words.
    pub fn too_old(self, site_version: u32) -> String {
        format!(
            "The device's site runs Configuration Manager {site_version}; {} needs version {} or later.",
            self.page(),
            self.minimum_site_version()
        )
    }
}

wire_enum!(
    /// `queued`: waiting for the site's connector; `running`: taken by the connector, at the site;
    /// `answered`, `failed` (the site's reason in words), `timedOut` (no answer in time),
    /// `canceled` (the hierarchy was offboarded).
    SiteRequestState {
        Queued = "queued",
        Running = "running",
        Answered = "answered",
        Failed = "failed",
        TimedOut = "timedOut",
        Canceled = "canceled",
    }
);

impl SiteRequestState {
    pub fn is_open(self) -> bool {
        matches!(self, Self::Queued | Self::Running)
    }
}

/// Longest CMPivot query, in characters.
pub const MAX_CMPIVOT_QUERY: usize = 4_000;
/// Longest script id (`SMS_Scripts.ScriptGuid`).
pub const MAX_SCRIPT_ID: usize = 64;
/// Largest answer a connector may send, as JSON: a connector truncates rows to fit, and says so.
pub const MAX_ANSWER_BYTES: usize = 1 << 20;
/// Most of a script's output kept, in bytes.
pub const MAX_SCRIPT_OUTPUT: usize = 64 * 1024;

/// Body of `POST /api/v1/devices/{id}/siteRequests`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewSiteRequest {
    pub kind: SiteRequestKind,
    /// The CMPivot query (kind `cmPivot` only), passed to the site as written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(max_length = 4000))]
    pub query: Option<String>,
    /// The script to run (kind `runScript` only): its id among the site's approved scripts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub script_id: Option<String>,
    /// Ask the site again even when a recent answer to the same reading is kept.
    #[serde(default)]
    pub refresh: bool,
}

/// A site request as the admin API shows it. Its answer is in `GET /api/v1/siteRequests/{id}`,
/// not in the live event, which says only that its state changed (without the query, the script,
/// the answer or the requester as the site named them: every reader of devices sees the event).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SiteRequest {
    pub id: String,
    pub device_id: String,
    pub kind: SiteRequestKind,
    pub state: SiteRequestState,
    pub requested_by: String,
    pub requested_date_time: String,
    pub last_updated_date_time: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub script_id: Option<String>,
    /// Why it failed, timed out or was canceled, in words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_message: Option<String>,
    /// The requester as the site found them, when it checked them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requester_at_site: Option<String>,
    /// The site's answer, once `answered` (absent from live events).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answer: Option<SiteAnswer>,
}

/// What the site answered, under its kind's name (`{"cmPivot": {...}}`: externally tagged, which
/// the browser decodes without buffering the answer first).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum SiteAnswer {
    ClientDetails(ClientDetails),
    Inventory(Inventory),
    Scripts(SiteScripts),
    CmPivot(QueryResult),
    RunScript(ScriptOutput),
}

impl SiteAnswer {
    pub fn kind(&self) -> SiteRequestKind {
        match self {
            Self::ClientDetails(_) => SiteRequestKind::ClientDetails,
            Self::Inventory(_) => SiteRequestKind::Inventory,
            Self::Scripts(_) => SiteRequestKind::Scripts,
            Self::CmPivot(_) => SiteRequestKind::CmPivot,
            Self::RunScript(_) => SiteRequestKind::RunScript,
        }
    }
}

/// The ConfigMgr client as its site knows it now.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClientDetails {
    /// Whether the client is connected to its management point's fast channel now.
    pub online: Option<bool>,
    /// When that last changed.
    #[serde(default)]
    pub online_changed_date_time: Option<String>,
    #[serde(default)]
    pub client_version: Option<String>,
    /// Whether the site counts the client active (client check and activity).
    #[serde(default)]
    pub client_active: Option<bool>,
    #[serde(default)]
    pub last_active_date_time: Option<String>,
    #[serde(default)]
    pub last_policy_request_date_time: Option<String>,
    #[serde(default)]
    pub last_hardware_scan_date_time: Option<String>,
    #[serde(default)]
    pub last_software_scan_date_time: Option<String>,
    #[serde(default)]
    pub management_point: Option<String>,
    #[serde(default)]
    pub boundary_groups: Vec<String>,
    #[serde(default)]
    pub primary_users: Vec<String>,
    #[serde(default)]
    pub collections: Vec<DeviceCollection>,
}

/// A device's hardware inventory, one section per class.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Inventory {
    /// The last hardware inventory scan the site holds.
    pub last_scan_date_time: Option<String>,
    pub classes: Vec<InventoryClass>,
}

/// One inventory class's rows (e.g. `SMS_G_System_LOGICAL_DISK`).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct InventoryClass {
    pub class_name: String,
    /// Its name in resource explorer, e.g. "Logical Disk".
    pub display_name: String,
    pub table: Table,
}

/// Rows of text under named columns; `rowCount` is how many the site had, more than the rows
/// here when the answer was truncated to its bound.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Table {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Option<String>>>,
    pub row_count: u64,
}

impl Table {
    pub fn is_truncated(&self) -> bool {
        (self.rows.len() as u64) < self.row_count
    }
}

/// The site's approved scripts that take no parameters.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SiteScripts {
    pub scripts: Vec<SiteScript>,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SiteScript {
    /// `SMS_Scripts.ScriptGuid`.
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub author: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub last_updated_date_time: Option<String>,
}

/// A CMPivot query's result on the device.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct QueryResult {
    pub table: Table,
}

/// A script's run on the device.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ScriptOutput {
    pub script_name: String,
    pub exit_code: Option<i64>,
    /// What the script wrote, as text (at most [`MAX_SCRIPT_OUTPUT`] bytes).
    pub output: String,
    /// The output was longer and was cut at the bound.
    #[serde(default)]
    pub truncated: bool,
}

/// Most CMPivot queries kept per user for running again (`GET /api/v1/me/cmPivotQueries`).
pub const RECENT_QUERIES: usize = 20;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_carry_their_kind() {
        let answer = SiteAnswer::CmPivot(QueryResult {
            table: Table {
                columns: vec!["Device".into()],
                rows: vec![vec![Some("PC-1".into())]],
                row_count: 3,
            },
        });
        let json = serde_json::to_value(&answer).unwrap();
        assert_eq!(json["cmPivot"]["table"]["rowCount"], 3);
        let back: SiteAnswer = serde_json::from_value(json).unwrap();
        assert_eq!(back.kind(), SiteRequestKind::CmPivot);
        let SiteAnswer::CmPivot(result) = back else {
            unreachable!()
        };
        assert!(result.table.is_truncated());
        assert!(SiteRequestKind::ClientDetails.is_reading());
        assert!(!SiteRequestKind::RunScript.is_reading());
        assert_eq!(
            SiteRequestKind::Inventory.too_old(2002),
            "The device's site runs Configuration Manager 2002; Resource explorer needs version 2006 or later."
        );
    }
}
