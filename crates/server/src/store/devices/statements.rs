//! All devices' SQL, for either backend: a [`DeviceQuery`]'s conditions, order and keyset
//! ranges, its search, and the device's JSON and CSV columns, each written once and compiled for
//! the store's [`Dialect`].

use admin_api::fields::{Field, FieldType};

use super::super::sql::{column, condition_sql, like_pattern, Dialect, Sql};
use crate::query::devices::{
    children, searched, DeviceCursor, DeviceQuery, Order, OtherOrder, Search,
};

/// The ranges of the order to read for the page after `after` (one, the whole order, for a
/// first page; see [`Order::after`]); a cursor of another order is refused.
pub fn ranges(
    query: &DeviceQuery,
    after: Option<&DeviceCursor>,
    dialect: Dialect,
) -> Result<Vec<Option<Sql>>, OtherOrder> {
    let order = query.order();
    match after {
        None => Ok(vec![None]),
        Some(cursor) if cursor.order != order.key() => Err(OtherOrder),
        Some(cursor) => Ok(order.after(cursor, dialect).into_iter().map(Some).collect()),
    }
}

/// The connectors offboarded whose devices are still being deleted.
pub(crate) const REMOVED: &str = "SELECT id FROM connectors WHERE removed_at IS NOT NULL";

/// Whether a device row is in its connector's shown set (not in one that a sync is writing or
/// that is being deleted). The `+` keep SQLite from looking the rows up by connector instead of
/// walking the order's index; the hidden sets are few, and read in the query's own snapshot.
/// [`SHOWN`] as a condition to look the devices up by, with `devices_by_connector`.
const IN_SHOWN_SET: &str =
    "(connector_id, device_set) IN (SELECT id, device_set FROM connectors WHERE removed_at IS NULL)";

const SHOWN: &str =
    "(+connector_id, +device_set) NOT IN (SELECT connector_id, device_set FROM hidden_device_sets)";

/// On PostgreSQL, the devices All devices shows: those of the sets their connectors show (a set a sync is still
/// writing, or one it replaced, is hidden), of connectors not offboarded.
const POSTGRES_SHOWN: &str =
    "(connector_id, device_set) IN (SELECT id, device_set FROM connectors WHERE removed_at IS NULL)";

/// The devices All devices shows, of connectors not offboarded, as a condition in `dialect`.
pub fn shown(dialect: Dialect) -> String {
    match dialect {
        Dialect::Sqlite => format!("connector_id NOT IN ({REMOVED}) AND {SHOWN}"),
        Dialect::Postgres => POSTGRES_SHOWN.to_owned(),
    }
}

/// Which of the shown devices a read may see, beside the query's own conditions.
pub enum Shown<'a> {
    /// On SQLite: none of the connectors in `removed` (offboarded, their devices not yet
    /// deleted; this instance's list of them), none of a hidden set; `by_set` adds the
    /// connectors' shown sets as a condition SQLite can look the devices up by (see
    /// [`Store::few_shown`](crate::store::Store::few_shown)).
    Sqlite { removed: &'a [String], by_set: bool },
    /// On PostgreSQL: of connectors not offboarded, of their shown sets.
    Postgres,
}

/// The devices that match the query's filter and search, within `range` of its order, among
/// those `shown` (a WHERE clause's condition, every value bound).
pub fn conditions(query: &DeviceQuery, range: Option<&Sql>, shown: Shown<'_>) -> Sql {
    let dialect = match shown {
        Shown::Sqlite { .. } => Dialect::Sqlite,
        Shown::Postgres => Dialect::Postgres,
    };
    let mut parts: Vec<Sql> = Vec::new();
    match shown {
        Shown::Sqlite { removed, by_set } => {
            if !removed.is_empty() {
                parts.push(Sql {
                    text: format!(
                        "connector_id NOT IN ({})",
                        vec!["?"; removed.len()].join(", ")
                    ),
                    params: removed.iter().cloned().map(Some).collect(),
                });
            }
            parts.push(Sql {
                text: match by_set {
                    true => format!("{SHOWN} AND {IN_SHOWN_SET}"),
                    false => SHOWN.to_owned(),
                },
                params: Vec::new(),
            });
        }
        Shown::Postgres => parts.push(Sql {
            text: POSTGRES_SHOWN.to_owned(),
            params: Vec::new(),
        }),
    }
    parts.extend(query.filter.as_ref().map(|c| condition_sql(c, dialect)));
    parts.extend(query.search.as_ref().map(|s| search_sql(s, dialect)));
    parts.extend(range.cloned());
    Sql {
        text: parts
            .iter()
            .map(|p| p.text.as_str())
            .collect::<Vec<_>>()
            .join(" AND "),
        params: parts.into_iter().flat_map(|p| p.params).collect(),
    }
}

impl Order {
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

/// The tie-break column of every device order, and a bound value as it compares with it.
fn tie(dialect: Dialect) -> (&'static str, &'static str) {
    match dialect {
        Dialect::Sqlite => ("rowid", "?"),
        Dialect::Postgres => ("seq", "CAST(? AS bigint)"),
    }
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

/// The MATCH a `$search` makes in SQLite's trigram index, if any of its terms can use it.
pub fn search_match(search: &Search) -> Option<String> {
    let indexed: Vec<&str> = terms(search).filter(is_indexed).collect();
    (!indexed.is_empty()).then(|| match_expression(&indexed))
}

fn terms(search: &Search) -> impl Iterator<Item = &str> {
    search.terms.iter().map(String::as_str)
}

/// The columns `$search` looks in (the field table's searched fields); the trigram indexes of
/// both backends cover the same columns.
pub fn searched_columns() -> impl Iterator<Item = &'static str> {
    searched().filter_map(|field| field.column)
}

/// `$search="a,b"`: a case-insensitive substring of device name, serial number or UPN; several
/// comma-separated terms match any.
pub fn search_sql(search: &Search, dialect: Dialect) -> Sql {
    let terms = terms(search);
    // Terms of three characters or more are looked up in a trigram index, their letters' case
    // folded (on SQLite all at once, in its FTS5 table; on PostgreSQL each through pg_trgm over
    // search_fold()); shorter ones have no trigram and are matched with A-Z folded by reading the
    // devices.
    let (together, each): (Vec<&str>, Vec<&str>) = match dialect {
        Dialect::Sqlite => terms.partition(is_indexed),
        Dialect::Postgres => (Vec::new(), terms.collect()),
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
    sql
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

#[cfg(test)]
mod tests {
    use super::*;

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
        let sql = search_sql(
            &Search::parse("\"PC-001, PC-002,\"").unwrap(),
            Dialect::Sqlite,
        );
        assert_eq!(sql.params, vec![Some("\"PC-001\" OR \"PC-002\"".into())]);
        // Quotes in a term are doubled inside its phrase; a short term is matched without the index.
        let sql = search_sql(
            &Search::parse("\"say \"hi\", 7\"").unwrap(),
            Dialect::Sqlite,
        );
        assert_eq!(sql.params[0].as_deref(), Some("\"say \"\"hi\"\"\""));
        assert_eq!(sql.params[1].as_deref(), Some("%7%"));
        assert_eq!(sql.params.len(), 4);
    }
}
