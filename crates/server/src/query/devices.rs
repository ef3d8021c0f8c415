//! All devices' query options, parsed and checked into a [`DeviceQuery`] that the store runs:
//! `$filter` a [`Condition`] over the device field table, `$search` its terms, `$orderby` an
//! [`Order`], `$select` the fields of each device's JSON; keyset cursors for `$skiptoken`. No SQL
//! here: the store compiles the query for its backend.

use admin_api::collection::{MAX_SEARCH_LENGTH, MAX_SEARCH_TERM, MAX_SEARCH_TERMS};
use admin_api::devices::DEVICE_FIELDS;
pub use admin_api::fields::{Field, FieldType};
use serde::{Deserialize, Serialize};

use super::condition::{self, Condition, Filterable};
use super::PageOptions;
use super::{QueryError, QueryResult};

/// The device fields `$orderby` takes, in the order errors list them.
pub fn sortable() -> impl Iterator<Item = &'static Field> {
    DEVICE_FIELDS.iter().filter(|field| field.sortable)
}

/// What to list, parsed from a request's query options: the `$filter` and `$search` conditions,
/// the order and the `$select`ed fields. The store runs it; a route never sees its SQL.
#[derive(Debug, Clone, Default)]
pub struct DeviceQuery {
    pub filter: Option<Condition>,
    pub search: Option<Search>,
    pub order: Option<Order>,
    /// The fields of each device; `None` for all of them.
    pub select: Option<Vec<&'static Field>>,
}

impl DeviceQuery {
    /// The query that `$filter`, `$search`, `$orderby` and `$select` ask for.
    pub fn from_options(options: &PageOptions) -> QueryResult<Self> {
        Ok(Self {
            filter: options
                .filter
                .as_deref()
                .map(|text| condition::check(text, &DEVICE_FILTER))
                .transpose()?,
            search: options.search.as_deref().map(Search::parse).transpose()?,
            order: Some(Order::parse(options.orderby.as_deref())?),
            select: options.select.as_deref().map(parse_select).transpose()?,
        })
    }

    pub fn order(&self) -> Order {
        self.order.unwrap_or(Order::DEFAULT)
    }
}

/// A `$skiptoken` made for another order than the query's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OtherOrder;

impl OtherOrder {
    pub const OPTION: &'static str = "$skiptoken";
    pub const MESSAGE: &'static str =
        "The '$skiptoken' belongs to another order. Request the first page again.";
}

impl From<OtherOrder> for QueryError {
    fn from(_: OtherOrder) -> Self {
        QueryError::new(OtherOrder::OPTION, OtherOrder::MESSAGE)
    }
}

/// The row of `deviceName` in [`DEVICE_FIELDS`].
const DEFAULT_ORDER_FIELD: usize = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Order {
    pub field: &'static Field,
    pub descending: bool,
}

impl Order {
    /// By device name (the contract's default order; a test checks the row is that field).
    pub const DEFAULT: Order = Order {
        field: &DEVICE_FIELDS[DEFAULT_ORDER_FIELD],
        descending: false,
    };

    /// `$orderby=<field> [asc|desc]`.
    pub fn parse(text: Option<&str>) -> QueryResult<Self> {
        let Some(text) = text else {
            return Ok(Self::DEFAULT);
        };
        let mut words = text.split_whitespace();
        let bad = |message: String| QueryError::new("$orderby", message);
        let name = words
            .next()
            .ok_or_else(|| bad("'$orderby' names no field.".into()))?;
        let field = sortable().find(|f| f.name == name).ok_or_else(|| {
            bad(format!(
                "The devices cannot be ordered by '{name}'. Order by one of: {}.",
                sortable().map(|f| f.name).collect::<Vec<_>>().join(", ")
            ))
        })?;
        let descending = match words.next() {
            None | Some("asc") => false,
            Some("desc") => true,
            Some(other) => {
                return Err(bad(format!(
                    "'{other}' is not a direction: use asc or desc."
                )))
            }
        };
        if words.next().is_some() {
            return Err(bad("'$orderby' takes one field and a direction.".into()));
        }
        Ok(Self { field, descending })
    }

    /// How this order reads in a `$skiptoken`, so a token is not used with another order.
    pub fn key(&self) -> String {
        format!(
            "{} {}",
            self.field.name,
            if self.descending { "desc" } else { "asc" }
        )
    }
}

/// Where a page resumes: the order it belongs to, the last row's sort value and rowid (its
/// place among the devices of the same value).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceCursor {
    #[serde(rename = "o")]
    pub order: String,
    #[serde(rename = "v")]
    pub value: Option<String>,
    #[serde(rename = "s")]
    pub seq: i64,
}

pub const DEVICE_FILTER: Filterable = Filterable {
    noun: "devices",
    fields: DEVICE_FIELDS,
};

/// `$search="a,b"`: its terms, each a case-insensitive substring of a searched field (device
/// name, serial number, UPN); a device matches any of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Search {
    pub terms: Vec<String>,
}

impl Search {
    /// The terms of `$search="a,b"`, each bounded (and their number, and the whole) before any
    /// work is done: the trigram index's look-up of one long term grew the server by hundreds of
    /// megabytes.
    pub fn parse(text: &str) -> QueryResult<Self> {
        let refused = |message: String| Err(QueryError::new("$search", message));
        if text.chars().count() > MAX_SEARCH_LENGTH {
            return refused(format!(
                "'$search' is longer than {MAX_SEARCH_LENGTH} characters."
            ));
        }
        // The search index stops reading a term at NUL; no name, serial or UPN holds a control
        // character.
        if text.chars().any(char::is_control) {
            return refused(
                "'$search' cannot contain control characters (such as NUL or a line break).".into(),
            );
        }
        let inner = text
            .strip_prefix('"')
            .and_then(|t| t.strip_suffix('"'))
            .unwrap_or(text);
        let terms: Vec<String> = inner
            .split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_owned)
            .collect();
        if terms.is_empty() {
            return refused("'$search' has no term to look for.".into());
        }
        if terms.len() > MAX_SEARCH_TERMS {
            return refused(format!("'$search' takes at most {MAX_SEARCH_TERMS} terms."));
        }
        if let Some(long) = terms.iter().find(|t| t.chars().count() > MAX_SEARCH_TERM) {
            let start: String = long.chars().take(20).collect();
            return refused(format!(
                "A '$search' term is at most {MAX_SEARCH_TERM} characters (no device name, serial \
                 number or UPN is longer); the one starting '{start}' is {} characters.",
                long.chars().count()
            ));
        }
        Ok(Self { terms })
    }
}

/// The fields `$search` looks in (the field table's searched fields).
pub fn searched() -> impl Iterator<Item = &'static Field> {
    DEVICE_FIELDS.iter().filter(|field| field.searched)
}

/// The device fields `$select` may list (and the CSV export's columns).
pub fn selectable() -> impl Iterator<Item = &'static Field> {
    DEVICE_FIELDS.iter().filter(|field| field.selectable)
}

/// The device fields of its JSON object (an object's fields are in it).
pub fn top_level() -> impl Iterator<Item = &'static Field> {
    DEVICE_FIELDS
        .iter()
        .filter(|field| !field.name.contains('/'))
}

/// The fields of the object `field`, in their order.
pub(crate) fn children(field: &Field) -> impl Iterator<Item = &'static Field> + '_ {
    DEVICE_FIELDS.iter().filter(move |child| {
        child
            .name
            .strip_prefix(field.name)
            .is_some_and(|rest| rest.starts_with('/'))
    })
}

/// `$select=f1,f2`: known fields, each once.
pub fn parse_select(text: &str) -> QueryResult<Vec<&'static Field>> {
    let mut fields: Vec<&'static Field> = Vec::new();
    for name in text.split(',').map(str::trim) {
        let known = selectable().find(|f| f.name == name).ok_or_else(|| {
            QueryError::new(
                "$select",
                format!("The devices have no field '{name}' to select."),
            )
        })?;
        if fields.contains(&known) {
            return Err(QueryError::new(
                "$select",
                format!("'{name}' is selected twice."),
            ));
        }
        fields.push(known);
    }
    Ok(fields)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_order_is_by_device_name() {
        assert_eq!(Order::DEFAULT.field.name, "deviceName");
    }

    #[test]
    fn filters_check_fields_values_and_operators() {
        for bad in [
            "color eq 'red'",
            "managedBy eq 'ConfigMgr'",
            "deviceName gt 'a'",
            "lastSyncDateTime ge '2026-01-01'",
            "lastSyncDateTime ge 2026-13-01T00:00:00Z",
            "contains(managedBy,'co')",
            "deviceName in ('a', null)",
            "deviceName eq 2026-01-01T00:00:00Z",
        ] {
            assert!(condition::check(bad, &DEVICE_FILTER).is_err(), "{bad}");
        }
    }

    #[test]
    fn search_terms_are_checked() {
        let search = Search::parse("\"PC-001, PC-002,\"").unwrap();
        assert_eq!(search.terms, ["PC-001", "PC-002"]);
        assert!(Search::parse("\"\"").is_err());
        assert!(Search::parse("\"abc\0def\"").is_err());
        assert!(Search::parse("\"abc\ndef\"").is_err());
    }
}
