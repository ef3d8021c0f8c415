use serde::{Deserialize, Serialize};

use crate::wire_enum::wire_enum;

wire_enum!(
    /// How a connector is doing, from its last successful sync (see the contract).
    ConnectorStatus {
        Healthy = "healthy",
        Warning = "warning",
        Unhealthy = "unhealthy",
        Unknown = "unknown",
        Offboarding = "offboarding",
    }
);

wire_enum!(
    Cloud { AzurePublicCloud = "AzurePublicCloud", AzureUsGovernmentCloud = "AzureUSGovernmentCloud" }
);

wire_enum!(
    /// How a connectivity check ended.
    CheckResult { Passed = "passed", Failed = "failed", Skipped = "skipped" }
);

/// One of the checks a site's connector runs at start and every hour (sites after 2006): what it
/// checked, how that ended, when, and what to do about a failure.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
// What a site sends is refused with an unknown field; the browser, which only reads what the
// server sends, tolerates additions (and its bundle carries no code for refusing them).
#[cfg_attr(not(target_arch = "wasm32"), serde(deny_unknown_fields))]
pub struct ConnectivityCheck {
    /// What was checked, in words (e.g. "AdminService reachable over HTTPS").
    pub check: String,
    pub result: CheckResult,
    pub checked_date_time: String,
    #[serde(default)]
    pub message: Option<String>,
}

/// Which devices a hierarchy uploads.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
#[cfg_attr(not(target_arch = "wasm32"), serde(deny_unknown_fields))]
pub enum UploadScope {
    AllDevices,
    #[serde(rename_all = "camelCase")]
    Collection {
        collection_id: String,
        collection_name: String,
        include_child_collections: bool,
    },
}

/// An attached Configuration Manager hierarchy. `None` where the site did not report it (sites at
/// 2006 or earlier report fewer details).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Connector {
    pub id: String,
    pub hierarchy_id: String,
    pub hierarchy_name: Option<String>,
    pub site_code: Option<String>,
    pub site_version: Option<String>,
    pub status: ConnectorStatus,
    pub last_sync_date_time: Option<String>,
    pub last_heartbeat_date_time: Option<String>,
    pub online: bool,
    pub device_count: u64,
    pub service_connection_point: Option<String>,
    pub cloud: Option<Cloud>,
    pub upload_scope: Option<UploadScope>,
    pub endpoint_analytics_enabled: Option<bool>,
    pub onboarded_date_time: String,
    pub offboard_requested_date_time: Option<String>,
    /// The site's last connectivity checks; empty when it never reported any.
    #[serde(default)]
    pub connectivity_checks: Vec<ConnectivityCheck>,
    /// Whether the site checks that the user who asks for an action is one it discovered
    /// (`false`: its connector runs with `--user-check off`); absent when the connector never
    /// said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checks_users: Option<bool>,
}

/// `POST /api/v1/connectors/onboardingTokens` answers with this, once.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OnboardingToken {
    pub token: String,
    pub expires_date_time: String,
}

/// Whether a site at `version` (e.g. "2103") reports the details that sites after 2006 do.
pub fn reports_full_details(version: Option<&str>) -> bool {
    version
        .and_then(|v| v.parse::<u32>().ok())
        .is_some_and(|v| v > 2006)
}

/// Whether this connector's site reports the full details (a version after 2006).
pub fn reports_full_details_of(connector: &Connector) -> bool {
    reports_full_details(connector.site_version.as_deref())
}

/// Whether a site at `version` acknowledges offboarding (2103 and later).
pub fn acknowledges_offboarding(version: Option<&str>) -> bool {
    version
        .and_then(|v| v.parse::<u32>().ok())
        .is_some_and(|v| v >= 2103)
}
