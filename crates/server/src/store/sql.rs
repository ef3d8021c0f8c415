//! The SQL both backends speak, and a checked `$filter` ([`Condition`]) compiled into it: a WHERE
//! fragment over the field table's columns, with every value a bound parameter (never text built
//! into SQL).

use admin_api::fields::Field;

use super::timestamp;
use crate::query::condition::{Condition, Ordering, Value};

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

/// The column of a field that has one (every field a query names has).
pub(crate) fn column(field: &Field) -> &'static str {
    field
        .column
        .unwrap_or_else(|| panic!("the field {} has no column of its own", field.name))
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

/// A checked `$filter` as a WHERE fragment in `dialect`'s SQL, every value bound.
pub fn condition_sql(condition: &Condition, dialect: Dialect) -> Sql {
    let mut sql = Sql::default();
    write_condition(condition, dialect, &mut sql);
    sql
}

/// A value as the store keeps it: text as it is, a date-time in its stored form.
fn bound(value: &Value) -> Option<String> {
    Some(match value {
        Value::Text(text) => text.clone(),
        Value::DateTime(at) => timestamp(*at),
    })
}

fn write_condition(condition: &Condition, dialect: Dialect, sql: &mut Sql) {
    match condition {
        Condition::And(left, right) | Condition::Or(left, right) => {
            let joiner = match condition {
                Condition::And(..) => " AND ",
                _ => " OR ",
            };
            sql.text.push('(');
            write_condition(left, dialect, sql);
            sql.text.push_str(joiner);
            write_condition(right, dialect, sql);
            sql.text.push(')');
        }
        Condition::Not(inner) => {
            sql.text.push_str("NOT (");
            write_condition(inner, dialect, sql);
            sql.text.push(')');
        }
        Condition::IsNull { field, negated } => {
            let not = if *negated { " NOT" } else { "" };
            sql.text
                .push_str(&format!("{} IS{not} NULL", column(field)));
        }
        Condition::Equals { field, value } => {
            sql.text.push_str(&format!("{} = ?", column(field)));
            sql.params.push(bound(value));
        }
        Condition::NotEquals { field, value } => {
            let column = column(field);
            sql.text
                .push_str(&format!("({column} IS NULL OR {column} <> ?)"));
            sql.params.push(bound(value));
        }
        Condition::Compare {
            field,
            ordering,
            value,
        } => {
            let op = match ordering {
                Ordering::Gt => ">",
                Ordering::Ge => ">=",
                Ordering::Lt => "<",
                Ordering::Le => "<=",
            };
            sql.text.push_str(&format!("{} {op} ?", column(field)));
            sql.params.push(bound(value));
        }
        Condition::In { field, values } => {
            sql.text.push_str(&format!(
                "{} IN ({})",
                column(field),
                vec!["?"; values.len()].join(", ")
            ));
            sql.params.extend(values.iter().map(bound));
        }
        Condition::Like {
            field,
            text,
            prefix,
        } => {
            sql.text.push_str(&dialect.like(column(field)));
            sql.params.push(Some(like_pattern(text, *prefix)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::condition::check;
    use crate::query::devices::DEVICE_FILTER;

    fn filter_sql_sqlite(text: &str) -> Sql {
        condition_sql(&check(text, &DEVICE_FILTER).unwrap(), Dialect::Sqlite)
    }

    #[test]
    fn filters_bind_every_value() {
        let sql = filter_sql_sqlite("deviceName eq 'x'' OR 1=1 --' or startswith(model,'50%_')");
        assert_eq!(sql.text, "(device_name = ? OR model LIKE ? ESCAPE '\\')");
        assert_eq!(
            sql.params,
            vec![Some("x' OR 1=1 --".into()), Some("50\\%\\_%".into())]
        );
        let dates = filter_sql_sqlite("lastSyncDateTime ge 2026-11-01T00:00:00+01:00");
        assert_eq!(dates.params, vec![Some("2026-10-31T23:00:00Z".into())]);
    }
}
