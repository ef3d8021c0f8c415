//! `$filter` compiled into SQL over a resource's fields (see `admin_api::fields`): a WHERE
//! fragment over known columns, with every value a bound parameter (never text built into SQL).

use admin_api::fields::{Field, FieldType};

use super::filter::{self, Comparison, Filter, Literal};
use crate::error::{AppError, AppResult};

/// The SQL a backend speaks. Fragments are written with `?` for each bound value in both; a
/// whole PostgreSQL statement is then [`numbered`] (`$1`, `$2`, …).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

impl Dialect {
    /// `column LIKE pattern` with A-Z folded and nothing else, as SQLite's LIKE does. On
    /// PostgreSQL both sides go through ascii_fold(), whose index then answers a prefix.
    pub(crate) fn like(self, column: &str) -> String {
        match self {
            Dialect::Sqlite => format!("{column} LIKE ? ESCAPE '\\'"),
            Dialect::Postgres => format!("ascii_fold({column}) LIKE ascii_fold(?) ESCAPE '\\'"),
        }
    }

    /// A column that SQLite declares `COLLATE NOCASE`, as it compares and sorts there (A-Z
    /// folded).
    pub fn nocase(self, column: &str) -> String {
        match self {
            Dialect::Sqlite => column.to_owned(),
            Dialect::Postgres => format!("ascii_fold({column})"),
        }
    }

    /// The devices' insertion order, which breaks ties (SQLite's rowid, PostgreSQL's identity).
    pub fn rowid(self) -> &'static str {
        match self {
            Dialect::Sqlite => "rowid",
            Dialect::Postgres => "seq",
        }
    }

    /// `column = ?` for such a column.
    pub fn nocase_eq(self, column: &str) -> String {
        match self {
            Dialect::Sqlite => format!("{column} = ?"),
            Dialect::Postgres => format!("ascii_fold({column}) = ascii_fold(?)"),
        }
    }
}

/// A statement's `?`s numbered as PostgreSQL wants them (`$1`, `$2`, …). The statements are the
/// server's own: a `?` in them is always a placeholder (values are bound, never written in).
pub fn numbered(text: &str) -> String {
    numbered_with(text, |_| false)
}

/// [`numbered`], with `?N` kept as the Nth value (as on SQLite: a plain `?` then follows the
/// highest so far), and the values `cast_to_jsonb(n)` names cast to `jsonb` where bound.
pub fn numbered_with(text: &str, cast_to_jsonb: impl Fn(usize) -> bool) -> String {
    let mut out = String::with_capacity(text.len() + 16);
    let mut highest = 0;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '?' {
            out.push(c);
            continue;
        }
        let mut digits = String::new();
        while let Some(digit) = chars.next_if(char::is_ascii_digit) {
            digits.push(digit);
        }
        let n = digits.parse::<usize>().unwrap_or(highest + 1);
        highest = highest.max(n);
        if cast_to_jsonb(n) {
            out.push_str(&format!("CAST(${n} AS jsonb)"));
        } else {
            out.push_str(&format!("${n}"));
        }
    }
    out
}

/// An SQL fragment and the values bound to its `?`s, in order.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Sql {
    pub text: String,
    pub params: Vec<Option<String>>,
}

/// The fields of a resource (those its `$filter` may name are `filterable`), and what to call
/// the resource in errors.
pub struct Filterable {
    pub noun: &'static str,
    pub fields: &'static [Field],
}

/// The column of a field that has one (every field a query names has).
pub(crate) fn column(field: &Field) -> &'static str {
    field
        .column
        .unwrap_or_else(|| panic!("the field {} has no column of its own", field.name))
}

/// `$filter` into SQL over the columns of any resource.
pub fn filter_sql_over(text: &str, filterable: &Filterable, dialect: Dialect) -> AppResult<Sql> {
    let parsed = filter::parse(text).map_err(|e| AppError::bad_request("$filter", e.0))?;
    let mut sql = Sql::default();
    write_filter(&parsed, filterable, dialect, &mut sql)?;
    Ok(sql)
}

fn filter_field(name: &str, filterable: &Filterable) -> AppResult<&'static Field> {
    filterable
        .fields
        .iter()
        .find(|field| field.filterable && field.name == name)
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

fn value_for(field: &Field, literal: &Literal) -> AppResult<Option<String>> {
    let bad = |message: String| AppError::bad_request("$filter", message);
    match (field.field_type, literal) {
        (_, Literal::Null) => Ok(None),
        (FieldType::Enum(values), Literal::Text(text)) => {
            if values.contains(&text.as_str()) {
                Ok(Some(text.clone()))
            } else {
                Err(bad(format!("'{text}' is not a value of '{}'.", field.name)))
            }
        }
        (FieldType::DateTime, Literal::DateTime(text)) => crate::store::stored_timestamp(text)
            .map(Some)
            .ok_or_else(|| {
                bad(format!(
                    "'{text}' is not an RFC 3339 date-time between the years 0000 and 9999 (UTC)."
                ))
            }),
        (FieldType::DateTime, Literal::Text(text)) => Err(bad(format!(
            "'{}' is a date-time: write it unquoted, e.g. 2026-11-21T00:00:00Z, not '{text}'.",
            field.name
        ))),
        (_, Literal::Text(text)) => Ok(Some(text.clone())),
        (_, Literal::DateTime(text)) => Err(bad(format!(
            "'{}' takes quoted text, not {text}.",
            field.name
        ))),
    }
}

pub(crate) fn like_pattern(text: &str, prefix_only: bool) -> String {
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

fn write_filter(
    filter: &Filter,
    filterable: &Filterable,
    dialect: Dialect,
    sql: &mut Sql,
) -> AppResult<()> {
    match filter {
        Filter::And(left, right) | Filter::Or(left, right) => {
            let joiner = if matches!(filter, Filter::And(..)) {
                " AND "
            } else {
                " OR "
            };
            sql.text.push('(');
            write_filter(left, filterable, dialect, sql)?;
            sql.text.push_str(joiner);
            write_filter(right, filterable, dialect, sql)?;
            sql.text.push(')');
        }
        Filter::Not(inner) => {
            sql.text.push_str("NOT (");
            write_filter(inner, filterable, dialect, sql)?;
            sql.text.push(')');
        }
        Filter::Compare { field, op, value } => {
            let field = filter_field(field, filterable)?;
            let value = value_for(field, value)?;
            let column = column(field);
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
                    if !matches!(field.field_type, FieldType::DateTime) {
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
            if matches!(field.field_type, FieldType::DateTime) {
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
                column(field),
                vec!["?"; bound.len()].join(", ")
            ));
            sql.params.extend(bound);
        }
        Filter::StartsWith { field, value } | Filter::Contains { field, value } => {
            let field = filter_field(field, filterable)?;
            if !matches!(field.field_type, FieldType::Text) {
                return Err(AppError::bad_request(
                    "$filter",
                    format!(
                        "startswith() and contains() take text fields; '{}' is not one.",
                        field.name
                    ),
                ));
            }
            sql.text.push_str(&dialect.like(column(field)));
            sql.params.push(Some(like_pattern(
                value,
                matches!(filter, Filter::StartsWith { .. }),
            )));
        }
    }
    Ok(())
}
