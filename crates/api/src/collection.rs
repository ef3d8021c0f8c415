use serde::{Deserialize, Serialize};

/// A page of a collection: `{"value":[...], "@odata.nextLink":..., "@odata.count":...}`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Collection<T> {
    pub value: Vec<T>,
    /// Absolute path of the next page; absent on the last page.
    #[serde(
        rename = "@odata.nextLink",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub next_link: Option<String>,
    /// Number of matching items; only when `$count=true` was asked.
    #[serde(
        rename = "@odata.count",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub count: Option<u64>,
}

/// Default page size (`$top`) of every collection.
pub const DEFAULT_PAGE_SIZE: u32 = 50;
/// Largest `$top` a collection accepts.
pub const MAX_PAGE_SIZE: u32 = 1000;
