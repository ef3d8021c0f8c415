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

/// Longest `$search`, in characters: about fifty device names pasted in one search.
pub const MAX_SEARCH_LENGTH: usize = 2048;
/// Longest term of a `$search`, in characters: as long as the longest name, serial number or UPN
/// a site may send (a longer term matches nothing).
pub const MAX_SEARCH_TERM: usize = 256;
/// Most comma-separated terms of a `$search`.
pub const MAX_SEARCH_TERMS: usize = 50;
/// Longest `$filter`, in characters.
pub const MAX_FILTER_LENGTH: usize = 4096;
/// Deepest nesting of a `$filter`: each parenthesis and each `not` is a level.
pub const MAX_FILTER_DEPTH: usize = 32;
/// Most conditions of a `$filter`.
pub const MAX_FILTER_CONDITIONS: usize = 200;

/// `text` as an OData string literal, as `$filter` takes it (and a site's AdminService): in
/// single quotes, each quote inside doubled (`O'Brien` is `'O''Brien'`).
pub fn odata_string(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn odata_strings_double_their_quotes() {
        assert_eq!(super::odata_string("O'Brien's"), "'O''Brien''s'");
        assert_eq!(super::odata_string(""), "''");
    }
}
