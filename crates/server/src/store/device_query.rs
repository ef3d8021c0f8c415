//! All devices' query options in SQL: `$filter`, `$search` and `$orderby` become a WHERE and an
//! ORDER BY over known columns, with every value a bound parameter (never text built into SQL),
//! and keyset cursors for `$skiptoken`.

use admin_api::{ClientHealthState, ComplianceState, ManagedBy, OwnerType};
use serde::{Deserialize, Serialize};

use crate::error::{AppError, AppResult};
use crate::query::filter::{self, Comparison, Filter, Literal};

#[derive(Debug, Clone, Copy)]
pub enum Kind {
    Text,
    /// Text with a closed set of values: an unknown one is a bad request.
    Enum(fn(&str) -> bool),
    DateTime,
}

/// A device field the list can filter and sort on.
#[derive(Debug, Clone, Copy)]
pub struct Field {
    pub name: &'static str,
    pub column: &'static str,
    pub kind: Kind,
}

fn managed_by(v: &str) -> bool {
    ManagedBy::from_wire(v).is_some()
}
fn owner_type(v: &str) -> bool {
    OwnerType::from_wire(v).is_some()
}
fn compliance_state(v: &str) -> bool {
    ComplianceState::from_wire(v).is_some()
}
fn client_health_state(v: &str) -> bool {
    ClientHealthState::from_wire(v).is_some()
}

pub const fn field(name: &'static str, column: &'static str, kind: Kind) -> Field {
    Field { name, column, kind }
}

/// Every column of All devices, by its wire name.
pub const FIELDS: &[Field] = &[
    field("deviceName", "device_name", Kind::Text),
    field("managedBy", "managed_by", Kind::Enum(managed_by)),
    field("ownerType", "owner_type", Kind::Enum(owner_type)),
    field(
        "complianceState",
        "compliance_state",
        Kind::Enum(compliance_state),
    ),
    field("operatingSystem", "operating_system", Kind::Text),
    field("osVersion", "os_version", Kind::Text),
    field("userPrincipalName", "user_principal_name", Kind::Text),
    field("userDisplayName", "user_display_name", Kind::Text),
    field("lastSyncDateTime", "last_sync_at", Kind::DateTime),
    field("enrolledDateTime", "enrolled_at", Kind::DateTime),
    field("serialNumber", "serial_number", Kind::Text),
    field("manufacturer", "manufacturer", Kind::Text),
    field("model", "model", Kind::Text),
    field("azureADDeviceId", "azure_ad_device_id", Kind::Text),
    field("domainName", "domain_name", Kind::Text),
    field("sku", "sku", Kind::Text),
    field("hierarchyName", "hierarchy_name", Kind::Text),
    field("siteCode", "site_code", Kind::Text),
    field(
        "configurationManagerClientInformation/clientVersion",
        "client_version",
        Kind::Text,
    ),
    field(
        "clientHealthState",
        "client_health_state",
        Kind::Enum(client_health_state),
    ),
    field(
        "lastPolicyRequestDateTime",
        "last_policy_request_at",
        Kind::DateTime,
    ),
    field("lastActiveDateTime", "last_active_at", Kind::DateTime),
];

/// Filterable too, but not a sort column.
const FILTER_ONLY: &[Field] = &[
    field("id", "id", Kind::Text),
    field("connectorId", "connector_id", Kind::Text),
];

fn find(name: &str, fields: &[Field]) -> Option<Field> {
    fields.iter().find(|f| f.name == name).copied()
}

/// An SQL fragment and the values bound to its `?`s, in order.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Sql {
    pub text: String,
    pub params: Vec<Option<String>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Order {
    pub field: Field,
    pub descending: bool,
}

impl PartialEq for Field {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}
impl Eq for Field {}

impl Order {
    pub const DEFAULT: Order = Order {
        field: FIELDS[0],
        descending: false,
    };

    /// `$orderby=<field> [asc|desc]`.
    pub fn parse(text: Option<&str>) -> AppResult<Self> {
        let Some(text) = text else {
            return Ok(Self::DEFAULT);
        };
        let mut words = text.split_whitespace();
        let bad = |message: String| AppError::bad_request("$orderby", message);
        let name = words
            .next()
            .ok_or_else(|| bad("'$orderby' names no field.".into()))?;
        let field = find(name, FIELDS).ok_or_else(|| {
            bad(format!(
                "The devices cannot be ordered by '{name}'. Order by one of: {}.",
                FIELDS.iter().map(|f| f.name).collect::<Vec<_>>().join(", ")
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

    /// The index that keeps the devices in this order (migrations 1 and 3 name them so; 12 makes
    /// each end with the rowid).
    pub fn index(&self) -> String {
        match self.field.column {
            "device_name" => "devices_by_name".to_owned(),
            column => format!("devices_by_{column}"),
        }
    }

    fn collate(&self) -> &'static str {
        match self.field.kind {
            Kind::DateTime => "",
            _ => " COLLATE NOCASE",
        }
    }

    /// Ties are broken by the rowid: the order in which the devices were first stored (see
    /// migration 12). The order's index ends with it, so SQLite reads the index as it is.
    pub fn order_by(&self) -> String {
        let direction = if self.descending { "DESC" } else { "ASC" };
        format!(
            "{}{} {direction}, rowid {direction}",
            self.field.column,
            self.collate()
        )
    }

    /// The rows after the cursor in this order, as ranges to read one after the other (each
    /// next one only if the page is not full yet): the rest of the cursor's value (`column = value
    /// AND rowid > cursor`), then the values beyond it, then the NULLs where they come last (NULLs
    /// sort first ascending and last descending). SQLite seeks to the start of each range in the
    /// order's index, so a deep page costs what a first page does; one condition joining them
    /// with OR would read the index from the start of the value's run, or from its very start.
    pub fn after(&self, cursor: &DeviceCursor) -> Vec<Sql> {
        let column = format!("{}{}", self.field.column, self.collate());
        let beyond = if self.descending { "<" } else { ">" };
        // Bound as text: compared with the rowid, it takes the rowid's integer affinity.
        let id = Some(cursor.seq.to_string());
        let range = |text: String, params: Vec<Option<String>>| Sql { text, params };
        match &cursor.value {
            Some(value) => {
                let mut ranges = vec![
                    range(
                        format!("({column} = ? AND rowid {beyond} ?)"),
                        vec![Some(value.clone()), id],
                    ),
                    range(format!("{column} {beyond} ?"), vec![Some(value.clone())]),
                ];
                if self.descending && !NOT_NULL.contains(&self.field.column) {
                    ranges.push(range(format!("{column} IS NULL"), Vec::new()));
                }
                ranges
            }
            None => {
                let mut ranges = vec![range(
                    format!("({column} IS NULL AND rowid {beyond} ?)"),
                    vec![id],
                )];
                if !self.descending {
                    ranges.push(range(format!("{column} IS NOT NULL"), Vec::new()));
                }
                ranges
            }
        }
    }
}

/// Sort columns that are never NULL (the schema says NOT NULL).
const NOT_NULL: &[&str] = &[
    "device_name",
    "managed_by",
    "owner_type",
    "compliance_state",
    "client_health_state",
];

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

/// The fields a resource's `$filter` may name, and what to call the resource in errors.
pub struct Filterable {
    pub noun: &'static str,
    pub fields: &'static [&'static [Field]],
}

const DEVICE_FILTER: Filterable = Filterable {
    noun: "devices",
    fields: &[FIELDS, FILTER_ONLY],
};

/// `$filter` into SQL over the device columns.
pub fn filter_sql(text: &str) -> AppResult<Sql> {
    filter_sql_over(text, &DEVICE_FILTER)
}

/// `$filter` into SQL over the columns of any resource.
pub fn filter_sql_over(text: &str, filterable: &Filterable) -> AppResult<Sql> {
    let parsed = filter::parse(text).map_err(|e| AppError::bad_request("$filter", e.0))?;
    let mut sql = Sql::default();
    write_filter(&parsed, filterable, &mut sql)?;
    Ok(sql)
}

fn filter_field(name: &str, filterable: &Filterable) -> AppResult<Field> {
    filterable
        .fields
        .iter()
        .find_map(|fields| find(name, fields))
        .ok_or_else(|| {
            AppError::bad_request(
                "$filter",
                format!(
                    "The {} have no field '{name}' to filter on.",
                    filterable.noun
                ),
            )
        })
}

fn value_for(field: Field, literal: &Literal) -> AppResult<Option<String>> {
    let bad = |message: String| AppError::bad_request("$filter", message);
    match (field.kind, literal) {
        (_, Literal::Null) => Ok(None),
        (Kind::Text, Literal::Text(text)) => Ok(Some(text.clone())),
        (Kind::Enum(valid), Literal::Text(text)) => {
            if valid(text) {
                Ok(Some(text.clone()))
            } else {
                Err(bad(format!("'{text}' is not a value of '{}'.", field.name)))
            }
        }
        (Kind::DateTime, Literal::DateTime(text)) => crate::store::stored_timestamp(text)
            .map(Some)
            .ok_or_else(|| {
                bad(format!(
                    "'{text}' is not an RFC 3339 date-time between the years 0000 and 9999 (UTC)."
                ))
            }),
        (Kind::DateTime, Literal::Text(text)) => Err(bad(format!(
            "'{}' is a date-time: write it unquoted, e.g. 2026-11-21T00:00:00Z, not '{text}'.",
            field.name
        ))),
        (_, Literal::DateTime(text)) => Err(bad(format!(
            "'{}' takes quoted text, not {text}.",
            field.name
        ))),
    }
}

fn like_pattern(text: &str, prefix_only: bool) -> String {
    let escaped = text
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    if prefix_only {
        format!("{escaped}%")
    } else {
        format!("%{escaped}%")
    }
}

fn write_filter(filter: &Filter, filterable: &Filterable, sql: &mut Sql) -> AppResult<()> {
    match filter {
        Filter::And(left, right) | Filter::Or(left, right) => {
            let joiner = if matches!(filter, Filter::And(..)) {
                " AND "
            } else {
                " OR "
            };
            sql.text.push('(');
            write_filter(left, filterable, sql)?;
            sql.text.push_str(joiner);
            write_filter(right, filterable, sql)?;
            sql.text.push(')');
        }
        Filter::Not(inner) => {
            sql.text.push_str("NOT (");
            write_filter(inner, filterable, sql)?;
            sql.text.push(')');
        }
        Filter::Compare { field, op, value } => {
            let field = filter_field(field, filterable)?;
            let value = value_for(field, value)?;
            let column = field.column;
            match (op, &value) {
                (Comparison::Eq, None) => sql.text.push_str(&format!("{column} IS NULL")),
                (Comparison::Ne, None) => sql.text.push_str(&format!("{column} IS NOT NULL")),
                (Comparison::Eq, Some(_)) => {
                    sql.text.push_str(&format!("{column} = ?"));
                    sql.params.push(value);
                }
                (Comparison::Ne, Some(_)) => {
                    sql.text
                        .push_str(&format!("({column} IS NULL OR {column} <> ?)"));
                    sql.params.push(value);
                }
                (_, None) => {
                    return Err(AppError::bad_request(
                        "$filter",
                        "Only eq and ne compare with null.",
                    ))
                }
                (order, Some(_)) => {
                    if !matches!(field.kind, Kind::DateTime) {
                        return Err(AppError::bad_request(
                            "$filter",
                            format!(
                                "gt, ge, lt and le compare date-times; '{}' is not one.",
                                field.name
                            ),
                        ));
                    }
                    let op = match order {
                        Comparison::Gt => ">",
                        Comparison::Ge => ">=",
                        Comparison::Lt => "<",
                        _ => "<=",
                    };
                    sql.text.push_str(&format!("{column} {op} ?"));
                    sql.params.push(value);
                }
            }
        }
        Filter::In { field, values } => {
            let field = filter_field(field, filterable)?;
            if matches!(field.kind, Kind::DateTime) {
                return Err(AppError::bad_request("$filter", "'in' takes text fields."));
            }
            let mut bound = Vec::new();
            for literal in values {
                match value_for(field, literal)? {
                    Some(value) => bound.push(Some(value)),
                    None => {
                        return Err(AppError::bad_request("$filter", "'in' lists take no null."))
                    }
                }
            }
            sql.text.push_str(&format!(
                "{} IN ({})",
                field.column,
                vec!["?"; bound.len()].join(", ")
            ));
            sql.params.extend(bound);
        }
        Filter::StartsWith { field, value } | Filter::Contains { field, value } => {
            let field = filter_field(field, filterable)?;
            if !matches!(field.kind, Kind::Text) {
                return Err(AppError::bad_request(
                    "$filter",
                    format!(
                        "startswith() and contains() take text fields; '{}' is not one.",
                        field.name
                    ),
                ));
            }
            sql.text
                .push_str(&format!("{} LIKE ? ESCAPE '\\'", field.column));
            sql.params.push(Some(like_pattern(
                value,
                matches!(filter, Filter::StartsWith { .. }),
            )));
        }
    }
    Ok(())
}

/// The terms of `$search="a,b"`.
fn search_terms(text: &str) -> AppResult<Vec<&str>> {
    // The search index stops reading a term at NUL; no name, serial or UPN holds a control
    // character.
    if text.chars().any(char::is_control) {
        return Err(AppError::bad_request(
            "$search",
            "'$search' cannot contain control characters (such as NUL or a line break).",
        ));
    }
    let inner = text
        .strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .unwrap_or(text);
    let terms: Vec<&str> = inner
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .collect();
    if terms.is_empty() {
        return Err(AppError::bad_request(
            "$search",
            "'$search' has no term to look for.",
        ));
    }
    if terms.len() > 50 {
        return Err(AppError::bad_request(
            "$search",
            "'$search' takes at most 50 terms.",
        ));
    }
    Ok(terms)
}

/// Terms the trigram index can look up: three characters or more.
fn is_indexed(term: &&str) -> bool {
    term.chars().count() >= 3
}

/// The trigram index's MATCH for these terms: phrases joined by OR, each quoted with its quotes
/// doubled.
fn match_expression(terms: &[&str]) -> String {
    terms
        .iter()
        .map(|t| format!("\"{}\"", t.replace('"', "\"\"")))
        .collect::<Vec<_>>()
        .join(" OR ")
}

/// The MATCH a `$search` makes in the trigram index, if any of its terms can use it.
pub fn search_match(text: &str) -> AppResult<Option<String>> {
    let indexed: Vec<&str> = search_terms(text)?.into_iter().filter(is_indexed).collect();
    Ok((!indexed.is_empty()).then(|| match_expression(&indexed)))
}

/// `$search="a,b"`: a case-insensitive substring of device name, serial number or UPN; several
/// comma-separated terms match any.
pub fn search_sql(text: &str) -> AppResult<Sql> {
    let terms = search_terms(text)?;
    // Terms of three characters or more are looked up in the trigram index; shorter ones have no
    // trigram and are matched by reading the devices.
    let (indexed, short): (Vec<&str>, Vec<&str>) = terms.into_iter().partition(is_indexed);
    let mut clauses = Vec::new();
    let mut sql = Sql::default();
    if !indexed.is_empty() {
        clauses.push(
            "rowid IN (SELECT rowid FROM devices_search WHERE devices_search MATCH ?)".to_owned(),
        );
        sql.params.push(Some(match_expression(&indexed)));
    }
    for term in short {
        let pattern = like_pattern(term, false);
        for _ in 0..3 {
            sql.params.push(Some(pattern.clone()));
        }
        clauses.push("(device_name LIKE ? ESCAPE '\\' OR serial_number LIKE ? ESCAPE '\\' OR user_principal_name LIKE ? ESCAPE '\\')".to_owned());
    }
    sql.text = format!("({})", clauses.join(" OR "));
    Ok(sql)
}

/// The wire names `$select` may list (and the CSV export's columns).
pub const SELECTABLE: &[&str] = &[
    "id",
    "deviceName",
    "managedBy",
    "ownerType",
    "complianceState",
    "operatingSystem",
    "osVersion",
    "userPrincipalName",
    "userDisplayName",
    "lastSyncDateTime",
    "enrolledDateTime",
    "serialNumber",
    "manufacturer",
    "model",
    "azureADDeviceId",
    "domainName",
    "sku",
    "connectorId",
    "hierarchyName",
    "siteCode",
    "configurationManagerClientInformation",
    "clientHealthState",
    "lastPolicyRequestDateTime",
    "lastActiveDateTime",
    "collections",
];

/// A selectable field as CSV text, in SQL: what its JSON field says (NULL for null), the client
/// information as its JSON object, the collections by name in their order.
pub fn csv_expression(name: &str) -> Option<&'static str> {
    Some(match name {
        "id" => "id",
        "deviceName" => "device_name",
        "managedBy" => "managed_by",
        "ownerType" => "owner_type",
        "complianceState" => "compliance_state",
        "operatingSystem" => "operating_system",
        "osVersion" => "os_version",
        "userPrincipalName" => "user_principal_name",
        "userDisplayName" => "user_display_name",
        "lastSyncDateTime" => "last_sync_at",
        "enrolledDateTime" => "enrolled_at",
        "serialNumber" => "serial_number",
        "manufacturer" => "manufacturer",
        "model" => "model",
        "azureADDeviceId" => "azure_ad_device_id",
        "domainName" => "domain_name",
        "sku" => "sku",
        "connectorId" => "connector_id",
        "hierarchyName" => "hierarchy_name",
        "siteCode" => "site_code",
        "configurationManagerClientInformation" => {
            "CASE WHEN client_identifier IS NOT NULL THEN json_object('clientIdentifier', \
             client_identifier, 'clientVersion', client_version, 'isBlocked', \
             json(CASE WHEN client_is_blocked THEN 'true' ELSE 'false' END)) END"
        }
        "clientHealthState" => "client_health_state",
        "lastPolicyRequestDateTime" => "last_policy_request_at",
        "lastActiveDateTime" => "last_active_at",
        "collections" => {
            "(SELECT group_concat(c.value ->> '$.name', '; ' ORDER BY c.key) \
             FROM json_each(devices.collections) c)"
        }
        _ => return None,
    })
}

/// `$select=f1,f2`: known fields, each once.
pub fn parse_select(text: &str) -> AppResult<Vec<&'static str>> {
    let mut fields = Vec::new();
    for name in text.split(',').map(str::trim) {
        let known = SELECTABLE.iter().find(|f| **f == name).ok_or_else(|| {
            AppError::bad_request(
                "$select",
                format!("The devices have no field '{name}' to select."),
            )
        })?;
        if fields.contains(known) {
            return Err(AppError::bad_request(
                "$select",
                format!("'{name}' is selected twice."),
            ));
        }
        fields.push(*known);
    }
    Ok(fields)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_bind_every_value() {
        let sql = filter_sql("deviceName eq 'x'' OR 1=1 --' or startswith(model,'50%_')").unwrap();
        assert_eq!(sql.text, "(device_name = ? OR model LIKE ? ESCAPE '\\')");
        assert_eq!(
            sql.params,
            vec![Some("x' OR 1=1 --".into()), Some("50\\%\\_%".into())]
        );
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
            assert!(filter_sql(bad).is_err(), "{bad}");
        }
        let dates = filter_sql("lastSyncDateTime ge 2026-11-01T00:00:00+01:00").unwrap();
        assert_eq!(dates.params, vec![Some("2026-10-31T23:00:00Z".into())]);
    }

    #[test]
    fn orders_and_their_keyset_conditions() {
        let order = Order::parse(Some("lastSyncDateTime desc")).unwrap();
        assert_eq!(order.order_by(), "last_sync_at DESC, rowid DESC");
        assert!(Order::parse(Some("color")).is_err());
        assert!(Order::parse(Some("deviceName sideways")).is_err());
        assert_eq!(Order::parse(None).unwrap(), Order::DEFAULT);
        let texts = |order: &Order, value: Option<&str>| {
            order
                .after(&DeviceCursor {
                    order: order.key(),
                    value: value.map(str::to_owned),
                    seq: 1,
                })
                .into_iter()
                .map(|range| range.text)
                .collect::<Vec<_>>()
        };
        assert_eq!(
            texts(&order, None),
            ["(last_sync_at IS NULL AND rowid < ?)"]
        );
        assert_eq!(
            texts(&order, Some("2026-11-01T00:00:00Z")),
            [
                "(last_sync_at = ? AND rowid < ?)",
                "last_sync_at < ?",
                "last_sync_at IS NULL"
            ]
        );
        let ascending = Order::parse(Some("lastSyncDateTime")).unwrap();
        assert_eq!(
            texts(&ascending, None),
            [
                "(last_sync_at IS NULL AND rowid > ?)",
                "last_sync_at IS NOT NULL"
            ]
        );
        let never_null = Order::parse(Some("deviceName desc")).unwrap();
        assert_eq!(
            texts(&never_null, Some("PC-1")),
            [
                "(device_name COLLATE NOCASE = ? AND rowid < ?)",
                "device_name COLLATE NOCASE < ?"
            ]
        );
    }

    #[test]
    fn search_terms_match_any() {
        let sql = search_sql("\"PC-001, PC-002,\"").unwrap();
        assert_eq!(sql.params, vec![Some("\"PC-001\" OR \"PC-002\"".into())]);
        // Quotes in a term are doubled inside its phrase; a short term is matched without the index.
        let sql = search_sql("\"say \"hi\", 7\"").unwrap();
        assert_eq!(sql.params[0].as_deref(), Some("\"say \"\"hi\"\"\""));
        assert_eq!(sql.params[1].as_deref(), Some("%7%"));
        assert_eq!(sql.params.len(), 4);
        assert!(search_sql("\"\"").is_err());
        assert!(search_sql("\"abc\0def\"").is_err());
        assert!(search_match("\"abc\ndef\"").is_err());
    }
}
