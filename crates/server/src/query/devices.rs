//! All devices' query options, parsed into a [`DeviceQuery`] that the store runs: `$filter`,
//! `$search` and `$orderby` become a WHERE and an ORDER BY over the device field table's columns,
//! with every value a bound parameter (never text built into SQL); `$select` the fields of each
//! device's JSON; keyset cursors for `$skiptoken`.

use admin_api::collection::{MAX_SEARCH_LENGTH, MAX_SEARCH_TERM, MAX_SEARCH_TERMS};
use admin_api::devices::DEVICE_FIELDS;
pub use admin_api::fields::{Field, FieldType};
use serde::{Deserialize, Serialize};

pub(crate) use super::sql::column;
use super::sql::{filter_sql_over, like_pattern};
pub use super::sql::{Dialect, Filterable, Sql};
use super::PageOptions;
use crate::error::{AppError, AppResult};

/// The device fields `$orderby` takes, in the order errors list them.
pub fn sortable() -> impl Iterator<Item = &'static Field> {
    DEVICE_FIELDS.iter().filter(|field| field.sortable)
}

/// What to list, parsed from a request's query options: the `$filter` and `$search` conditions,
/// the order and the `$select`ed fields. The store runs it; a route never sees its SQL.
#[derive(Debug, Clone, Default)]
pub struct DeviceQuery {
    pub filter: Option<Sql>,
    pub search: Option<Sql>,
    /// The trigram index's MATCH of the search, when it has one.
    pub search_match: Option<String>,
    pub order: Option<Order>,
    /// The fields of each device; `None` for all of them.
    pub select: Option<Vec<&'static Field>>,
}

impl DeviceQuery {
    /// The query that `$filter`, `$search`, `$orderby` and `$select` ask for, in SQLite's SQL.
    pub fn from_options(options: &PageOptions) -> AppResult<Self> {
        Self::in_dialect(options, Dialect::Sqlite)
    }

    /// [`DeviceQuery::from_options`] in the SQL of `dialect`.
    pub fn in_dialect(options: &PageOptions, dialect: Dialect) -> AppResult<Self> {
        Ok(Self {
            filter: options
                .filter
                .as_deref()
                .map(|text| filter_sql(text, dialect))
                .transpose()?,
            search: options
                .search
                .as_deref()
                .map(|text| search_sql(text, dialect))
                .transpose()?,
            search_match: match dialect {
                Dialect::Sqlite => options
                    .search
                    .as_deref()
                    .map(search_match)
                    .transpose()?
                    .flatten(),
                Dialect::Postgres => None,
            },
            order: Some(Order::parse(options.orderby.as_deref())?),
            select: options.select.as_deref().map(parse_select).transpose()?,
        })
    }

    pub fn order(&self) -> Order {
        self.order.unwrap_or(Order::DEFAULT)
    }

    /// The ranges of the order to read for the page after `after` (one, the whole order, for a
    /// first page; see [`Order::after`]); a cursor of another order is refused.
    pub fn ranges(
        &self,
        after: Option<&DeviceCursor>,
        dialect: Dialect,
    ) -> Result<Vec<Option<Sql>>, OtherOrder> {
        let order = self.order();
        match after {
            None => Ok(vec![None]),
            Some(cursor) if cursor.order != order.key() => Err(OtherOrder),
            Some(cursor) => Ok(order.after(cursor, dialect).into_iter().map(Some).collect()),
        }
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

impl From<OtherOrder> for AppError {
    fn from(_: OtherOrder) -> Self {
        AppError::bad_request(OtherOrder::OPTION, OtherOrder::MESSAGE)
    }
}

/// A page's rows (`top` and one more when more follow; each with its sort value and tie-break),
/// cut to `top`, and the cursor of the next page when there is one.
pub fn next_page<T>(
    rows: &mut Vec<(T, Option<String>, i64)>,
    top: u32,
    order: &Order,
) -> Option<DeviceCursor> {
    if rows.len() <= top as usize {
        return None;
    }
    rows.truncate(top as usize);
    rows.last().map(|(_, value, seq)| DeviceCursor {
        order: order.key(),
        value: value.clone(),
        seq: *seq,
    })
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
    pub fn parse(text: Option<&str>) -> AppResult<Self> {
        let Some(text) = text else {
            return Ok(Self::DEFAULT);
        };
        let mut words = text.split_whitespace();
        let bad = |message: String| AppError::bad_request("$orderby", message);
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

    /// The index that keeps the devices in this order (migrations 1 and 3 name them so; 12 makes
    /// each end with the rowid).
    pub fn index(&self) -> String {
        match column(self.field) {
            "device_name" => "devices_by_name".to_owned(),
            column => format!("devices_by_{column}"),
        }
    }

    /// What the order sorts by: the column, its letters A-Z folded unless it holds date-times.
    pub fn sort_expression(&self, dialect: Dialect) -> String {
        let column = column(self.field);
        match (self.field.field_type, dialect) {
            (FieldType::DateTime, _) => column.to_owned(),
            (_, Dialect::Sqlite) => format!("{column} COLLATE NOCASE"),
            (_, Dialect::Postgres) => format!("ascii_fold({column})"),
        }
    }

    /// A bound value as [`Order::sort_expression`] compares it.
    fn bound_value(&self, dialect: Dialect) -> &'static str {
        match (self.field.field_type, dialect) {
            (FieldType::DateTime, _) | (_, Dialect::Sqlite) => "?",
            (_, Dialect::Postgres) => "ascii_fold(?)",
        }
    }

    /// Ties are broken by the rowid on SQLite (`seq` on PostgreSQL): the order in which the
    /// devices were first stored (see migration 12). The order's index ends with it, so it is
    /// read as it is. NULLs come first ascending and last descending on both.
    pub fn order_by(&self, dialect: Dialect) -> String {
        let direction = if self.descending { "DESC" } else { "ASC" };
        let nulls = match (dialect, self.descending) {
            (Dialect::Sqlite, _) => "",
            (Dialect::Postgres, false) => " NULLS FIRST",
            (Dialect::Postgres, true) => " NULLS LAST",
        };
        format!(
            "{} {direction}{nulls}, {} {direction}",
            self.sort_expression(dialect),
            tie(dialect).0
        )
    }

    /// The rows after the cursor in this order, as ranges to read one after the other (each
    /// next one only if the page is not full yet): the rest of the cursor's value (`column = value
    /// AND rowid > cursor`), then the values beyond it, then the NULLs where they come last (NULLs
    /// sort first ascending and last descending). The database seeks to the start of each range
    /// in the order's index, so a deep page costs what a first page does; one condition joining
    /// them with OR would read the index from the start of the value's run, or from its very
    /// start.
    pub fn after(&self, cursor: &DeviceCursor, dialect: Dialect) -> Vec<Sql> {
        let column = self.sort_expression(dialect);
        let value = self.bound_value(dialect);
        let (tie, tie_value) = tie(dialect);
        let beyond = if self.descending { "<" } else { ">" };
        // Bound as text: SQLite compares it with the rowid's integer affinity; PostgreSQL casts it.
        let id = Some(cursor.seq.to_string());
        let range = |text: String, params: Vec<Option<String>>| Sql { text, params };
        match &cursor.value {
            Some(cursor_value) => {
                let mut ranges = vec![
                    range(
                        format!("({column} = {value} AND {tie} {beyond} {tie_value})"),
                        vec![Some(cursor_value.clone()), id],
                    ),
                    range(
                        format!("{column} {beyond} {value}"),
                        vec![Some(cursor_value.clone())],
                    ),
                ];
                if self.descending && !self.field.required {
                    ranges.push(range(format!("{column} IS NULL"), Vec::new()));
                }
                ranges
            }
            None => {
                let mut ranges = vec![range(
                    format!("({column} IS NULL AND {tie} {beyond} {tie_value})"),
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

/// The tie-break column of every device order, and a bound value as it compares with it.
fn tie(dialect: Dialect) -> (&'static str, &'static str) {
    match dialect {
        Dialect::Sqlite => ("rowid", "?"),
        Dialect::Postgres => ("seq", "CAST(? AS bigint)"),
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

const DEVICE_FILTER: Filterable = Filterable {
    noun: "devices",
    fields: DEVICE_FIELDS,
};

/// `$filter` into SQL over the device columns.
pub fn filter_sql(text: &str, dialect: Dialect) -> AppResult<Sql> {
    filter_sql_over(text, &DEVICE_FILTER, dialect)
}

/// The terms of `$search="a,b"`, each bounded (and their number, and the whole) before any work is
/// done: the trigram index's look-up of one long term grew the server by hundreds of megabytes.
fn search_terms(text: &str) -> AppResult<Vec<&str>> {
    let refused = |message: String| Err(AppError::bad_request("$search", message));
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
    let terms: Vec<&str> = inner
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
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

/// The columns `$search` looks in (the field table's searched fields); the trigram indexes of
/// both backends cover the same columns.
pub fn searched_columns() -> impl Iterator<Item = &'static str> {
    DEVICE_FIELDS
        .iter()
        .filter(|field| field.searched)
        .filter_map(|field| field.column)
}

/// `$search="a,b"`: a case-insensitive substring of device name, serial number or UPN; several
/// comma-separated terms match any.
pub fn search_sql(text: &str, dialect: Dialect) -> AppResult<Sql> {
    let terms = search_terms(text)?;
    // Terms of three characters or more are looked up in a trigram index, their letters' case
    // folded (on SQLite all at once, in its FTS5 table; on PostgreSQL each through pg_trgm over
    // search_fold()); shorter ones have no trigram and are matched with A-Z folded by reading the
    // devices.
    let (together, each): (Vec<&str>, Vec<&str>) = match dialect {
        Dialect::Sqlite => terms.into_iter().partition(is_indexed),
        Dialect::Postgres => (Vec::new(), terms),
    };
    let mut clauses = Vec::new();
    let mut sql = Sql::default();
    if !together.is_empty() {
        clauses.push(
            "rowid IN (SELECT rowid FROM devices_search WHERE devices_search MATCH ?)".to_owned(),
        );
        sql.params.push(Some(match_expression(&together)));
    }
    for term in each {
        sql.params
            .extend(searched_columns().map(|_| Some(like_pattern(term, false))));
        let matches = |column: &str| {
            if is_indexed(&term) {
                format!("search_fold({column}) LIKE search_fold(?) ESCAPE '\\'")
            } else {
                dialect.like(column)
            }
        };
        let each_column: Vec<String> = searched_columns().map(matches).collect();
        clauses.push(format!("({})", each_column.join(" OR ")));
    }
    sql.text = format!("({})", clauses.join(" OR "));
    Ok(sql)
}

/// The device fields `$select` may list (and the CSV export's columns).
pub fn selectable() -> impl Iterator<Item = &'static Field> {
    DEVICE_FIELDS.iter().filter(|field| field.selectable)
}

/// A selectable field as CSV text, in SQL: what its JSON field says (NULL for null), the client
/// information as its JSON object, the collections by name in their order.
pub fn csv_expression(field: &Field, dialect: Dialect) -> String {
    match (field.field_type, dialect) {
        (FieldType::List, Dialect::Sqlite) => format!(
            "(SELECT group_concat(c.value ->> '$.name', '; ' ORDER BY c.key) \
             FROM json_each(devices.{}) c)",
            column(field)
        ),
        (FieldType::List, Dialect::Postgres) => format!(
            "(SELECT string_agg(c.value ->> 'name', '; ' ORDER BY c.n) \
             FROM jsonb_array_elements(devices.{}) WITH ORDINALITY c(value, n))",
            column(field)
        ),
        (FieldType::Bool, Dialect::Postgres) => {
            format!("(CASE WHEN {} THEN 'true' ELSE 'false' END)", column(field))
        }
        // An object as compact JSON text, as SQLite writes it (PostgreSQL's own has spaces).
        (FieldType::Object, Dialect::Postgres) => {
            let children: Vec<&Field> = children(field).collect();
            let members: Vec<String> = children
                .iter()
                .map(|child| {
                    format!(
                        "'\"{}\":' || COALESCE(to_json({})::text, 'null')",
                        &child.name[field.name.len() + 1..],
                        json_value(child, dialect)
                    )
                })
                .collect();
            format!(
                "(CASE WHEN {} IS NOT NULL THEN '{{' || {} || '}}' END)",
                column(children[0]),
                members.join(" || ',' || ")
            )
        }
        _ => json_value(field, dialect),
    }
}

/// The device fields of its JSON object (an object's fields are in it).
pub fn top_level() -> impl Iterator<Item = &'static Field> {
    DEVICE_FIELDS
        .iter()
        .filter(|field| !field.name.contains('/'))
}

/// Devices as JSON objects of these fields, in SQL (the row decoding of every device read on
/// SQLite; PostgreSQL's rows are written as JSON by the server, see [`json_columns`]).
pub fn json_expression<'a>(fields: impl IntoIterator<Item = &'a Field>) -> String {
    let pairs: Vec<String> = fields
        .into_iter()
        .map(|field| format!("'{}', {}", field.name, json_value(field, Dialect::Sqlite)))
        .collect();
    format!("json_object({})", pairs.join(", "))
}

/// The columns a device's JSON object of these fields is written from on PostgreSQL, in the
/// order the writer reads them: each field's column, an object's fields' columns in their
/// order, a list as its JSON text. (PostgreSQL's `json_build_object` took most of a list
/// page's time in the database: it works out each value's type again on every row.)
pub fn json_columns<'a>(fields: impl IntoIterator<Item = &'a Field>) -> String {
    fn push(field: &Field, columns: &mut Vec<String>) {
        match field.field_type {
            FieldType::Object => children(field).for_each(|child| push(child, columns)),
            FieldType::List => columns.push(format!("{}::text", column(field))),
            _ => columns.push(column(field).to_owned()),
        }
    }
    let mut columns = Vec::new();
    fields
        .into_iter()
        .for_each(|field| push(field, &mut columns));
    columns.join(", ")
}

/// A field's JSON value, in SQL: its column (text or NULL), a boolean as `true`/`false` (a NULL
/// one false), an object of its fields when its first field is there, a list as its stored JSON.
fn json_value(field: &Field, dialect: Dialect) -> String {
    match (field.field_type, dialect) {
        (FieldType::Object, _) => {
            let children: Vec<&Field> = children(field).collect();
            let pairs: Vec<String> = children
                .iter()
                .map(|child| {
                    format!(
                        "'{}', {}",
                        &child.name[field.name.len() + 1..],
                        json_value(child, dialect)
                    )
                })
                .collect();
            match dialect {
                Dialect::Sqlite => format!(
                    "json(CASE WHEN {} IS NOT NULL THEN json_object({}) END)",
                    column(children[0]),
                    pairs.join(", ")
                ),
                // Never asked for: on PostgreSQL the CSV export makes the client information's
                // text of its fields' values itself, and the device JSON is the server's.
                Dialect::Postgres => unreachable!("an object's JSON in SQL on PostgreSQL"),
            }
        }
        (FieldType::Bool, Dialect::Sqlite) => format!(
            "json(CASE WHEN {} THEN 'true' ELSE 'false' END)",
            column(field)
        ),
        (FieldType::Bool, Dialect::Postgres) => format!("({} IS TRUE)", column(field)),
        (FieldType::List, Dialect::Sqlite) => format!("json({})", column(field)),
        _ => column(field).to_owned(),
    }
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
pub fn parse_select(text: &str) -> AppResult<Vec<&'static Field>> {
    let mut fields: Vec<&'static Field> = Vec::new();
    for name in text.split(',').map(str::trim) {
        let known = selectable().find(|f| f.name == name).ok_or_else(|| {
            AppError::bad_request(
                "$select",
                format!("The devices have no field '{name}' to select."),
            )
        })?;
        if fields.contains(&known) {
            return Err(AppError::bad_request(
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

    fn filter_sql_sqlite(text: &str) -> AppResult<Sql> {
        filter_sql(text, Dialect::Sqlite)
    }

    #[test]
    fn the_default_order_is_by_device_name() {
        assert_eq!(Order::DEFAULT.field.name, "deviceName");
    }

    #[test]
    fn filters_bind_every_value() {
        let sql =
            filter_sql_sqlite("deviceName eq 'x'' OR 1=1 --' or startswith(model,'50%_')").unwrap();
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
            assert!(filter_sql_sqlite(bad).is_err(), "{bad}");
        }
        let dates = filter_sql_sqlite("lastSyncDateTime ge 2026-11-01T00:00:00+01:00").unwrap();
        assert_eq!(dates.params, vec![Some("2026-10-31T23:00:00Z".into())]);
    }

    #[test]
    fn orders_and_their_keyset_conditions() {
        let order = Order::parse(Some("lastSyncDateTime desc")).unwrap();
        assert_eq!(
            order.order_by(Dialect::Sqlite),
            "last_sync_at DESC, rowid DESC"
        );
        assert!(Order::parse(Some("color")).is_err());
        assert!(Order::parse(Some("deviceName sideways")).is_err());
        assert_eq!(Order::parse(None).unwrap(), Order::DEFAULT);
        let texts = |order: &Order, value: Option<&str>| {
            order
                .after(
                    &DeviceCursor {
                        order: order.key(),
                        value: value.map(str::to_owned),
                        seq: 1,
                    },
                    Dialect::Sqlite,
                )
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
        let sql = search_sql("\"PC-001, PC-002,\"", Dialect::Sqlite).unwrap();
        assert_eq!(sql.params, vec![Some("\"PC-001\" OR \"PC-002\"".into())]);
        // Quotes in a term are doubled inside its phrase; a short term is matched without the index.
        let sql = search_sql("\"say \"hi\", 7\"", Dialect::Sqlite).unwrap();
        assert_eq!(sql.params[0].as_deref(), Some("\"say \"\"hi\"\"\""));
        assert_eq!(sql.params[1].as_deref(), Some("%7%"));
        assert_eq!(sql.params.len(), 4);
        assert!(search_sql("\"\"", Dialect::Sqlite).is_err());
        assert!(search_sql("\"abc\0def\"", Dialect::Sqlite).is_err());
        assert!(search_match("\"abc\ndef\"").is_err());
    }
}
