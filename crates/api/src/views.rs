//! Saved views of All devices (`/api/v1/deviceViews`): a name for the filters, search, columns,
//! order and page size an operator set, kept on the server. A view is its owner's, or shared
//! with everyone in the tenant (sharing needs `managedDevices.shareViews`); only its owner changes
//! or deletes it, and a shared view changed by its owner changes for everyone.

use serde::{Deserialize, Serialize};

/// Views one user may keep.
pub const MAX_VIEWS_PER_USER: usize = 50;
/// Longest view name, in characters.
pub const MAX_VIEW_NAME: usize = 100;
/// Most filters a view holds, and values in one filter.
pub const MAX_VIEW_FILTERS: usize = 20;
pub const MAX_VIEW_FILTER_VALUES: usize = 50;
/// Longest check-in window a view may name, in days.
pub const MAX_VIEW_SYNC_DAYS: u32 = 3650;

/// What a view shows: each part is what All devices puts in its query (`$search`, `$filter`,
/// `$select`, `$orderby`, `$top`), kept as the operator chose it (a check-in window stays "within
/// 7 days", not a date).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviceViewQuery {
    /// The search as typed: terms separated by commas, each matched as a device's name, serial
    /// number or primary user begins.
    #[serde(default)]
    pub search: String,
    /// Each filter keeps the devices whose field is one of its values; all of them apply.
    #[serde(default)]
    pub filters: Vec<DeviceViewFilter>,
    /// Devices that checked in within this many days.
    #[serde(default)]
    pub last_sync_within_days: Option<u32>,
    /// The columns, in order (`$select`); none for All devices' default columns.
    #[serde(default)]
    pub columns: Vec<String>,
    #[serde(default)]
    pub order_by: Option<DeviceViewOrder>,
    /// Devices per page; none for the default.
    #[serde(default)]
    pub page_size: Option<u32>,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceViewFilter {
    /// A field `$filter` takes (`managedBy`, `operatingSystem`, `hierarchyName`, …).
    pub field: String,
    pub values: Vec<String>,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceViewOrder {
    /// A field `$orderby` takes.
    pub field: String,
    #[serde(default)]
    pub descending: bool,
}

/// A saved view.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviceView {
    pub id: String,
    pub name: String,
    /// The owner's user principal name.
    pub owner: String,
    pub shared: bool,
    pub query: DeviceViewQuery,
    pub created_date_time: String,
    pub last_modified_date_time: String,
    /// What the stored view named that the server no longer takes (a field, a value), left out of
    /// `query`, each in a sentence; empty when the view opens as it was saved.
    #[serde(default)]
    pub dropped: Vec<String>,
}

/// Body of `POST /api/v1/deviceViews`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NewDeviceView {
    pub name: String,
    #[serde(default)]
    pub shared: bool,
    pub query: DeviceViewQuery,
}

/// Body of `PATCH /api/v1/deviceViews/{id}`: what changes (rename, share or stop sharing,
/// overwrite the query).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviceViewChange {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub shared: Option<bool>,
    #[serde(default)]
    pub query: Option<DeviceViewQuery>,
}
