//! A `$filter` checked against a resource's fields (see `admin_api::fields`): the parsed tree
//! ([`super::filter`]) becomes a [`Condition`] over known fields, each value of the field's type,
//! each operator one the field takes. It holds no SQL: the store compiles it for its backend.

use admin_api::fields::{Field, FieldType};
use time::OffsetDateTime;

use super::filter::{self, Comparison, Filter, Literal};
use super::{QueryError, QueryResult};

/// The fields of a resource (those its `$filter` may name are `filterable`), and what to call
/// the resource in errors.
pub struct Filterable {
    pub noun: &'static str,
    pub fields: &'static [Field],
}

/// A value a condition compares a field with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// Text, or one of an enum field's values.
    Text(String),
    /// An instant in UTC, within the years 0000 to 9999.
    DateTime(OffsetDateTime),
}

/// How a date-time field is compared with a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ordering {
    Gt,
    Ge,
    Lt,
    Le,
}

/// A checked `$filter`: which rows of a resource match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Condition {
    And(Box<Condition>, Box<Condition>),
    Or(Box<Condition>, Box<Condition>),
    Not(Box<Condition>),
    /// `field eq null` (or `ne null` when `negated`).
    IsNull {
        field: &'static Field,
        negated: bool,
    },
    /// `field eq value`.
    Equals {
        field: &'static Field,
        value: Value,
    },
    /// `field ne value`: a field without a value is not equal to it either.
    NotEquals {
        field: &'static Field,
        value: Value,
    },
    /// `field gt|ge|lt|le value`, for date-times.
    Compare {
        field: &'static Field,
        ordering: Ordering,
        value: Value,
    },
    /// `field in (a, b, …)`.
    In {
        field: &'static Field,
        values: Vec<Value>,
    },
    /// `startswith(field, 'text')` (`prefix`) or `contains(field, 'text')`, A-Z folded.
    Like {
        field: &'static Field,
        text: String,
        prefix: bool,
    },
}

/// `$filter`'s text, parsed and checked against `filterable`'s fields.
pub fn check(text: &str, filterable: &Filterable) -> QueryResult<Condition> {
    let parsed = filter::parse(text).map_err(|e| bad(e.0))?;
    checked(&parsed, filterable)
}

fn bad(message: impl Into<String>) -> QueryError {
    QueryError::new("$filter", message)
}

fn checked(filter: &Filter, filterable: &Filterable) -> QueryResult<Condition> {
    let both = |left: &Filter, right: &Filter| -> QueryResult<_> {
        Ok((
            Box::new(checked(left, filterable)?),
            Box::new(checked(right, filterable)?),
        ))
    };
    Ok(match filter {
        Filter::And(left, right) => {
            let (left, right) = both(left, right)?;
            Condition::And(left, right)
        }
        Filter::Or(left, right) => {
            let (left, right) = both(left, right)?;
            Condition::Or(left, right)
        }
        Filter::Not(inner) => Condition::Not(Box::new(checked(inner, filterable)?)),
        Filter::Compare { field, op, value } => {
            let field = filter_field(field, filterable)?;
            match (op, value_for(field, value)?) {
                (Comparison::Eq, None) => Condition::IsNull {
                    field,
                    negated: false,
                },
                (Comparison::Ne, None) => Condition::IsNull {
                    field,
                    negated: true,
                },
                (Comparison::Eq, Some(value)) => Condition::Equals { field, value },
                (Comparison::Ne, Some(value)) => Condition::NotEquals { field, value },
                (_, None) => return Err(bad("Only eq and ne compare with null.")),
                (order, Some(value)) => {
                    if !matches!(field.field_type, FieldType::DateTime) {
                        return Err(bad(format!(
                            "gt, ge, lt and le compare date-times; '{}' is not one.",
                            field.name
                        )));
                    }
                    let ordering = match order {
                        Comparison::Gt => Ordering::Gt,
                        Comparison::Ge => Ordering::Ge,
                        Comparison::Lt => Ordering::Lt,
                        _ => Ordering::Le,
                    };
                    Condition::Compare {
                        field,
                        ordering,
                        value,
                    }
                }
            }
        }
        Filter::In { field, values } => {
            let field = filter_field(field, filterable)?;
            if matches!(field.field_type, FieldType::DateTime) {
                return Err(bad("'in' takes text fields."));
            }
            let values = values
                .iter()
                .map(|literal| {
                    value_for(field, literal)?.ok_or_else(|| bad("'in' lists take no null."))
                })
                .collect::<QueryResult<Vec<_>>>()?;
            Condition::In { field, values }
        }
        Filter::StartsWith { field, value } | Filter::Contains { field, value } => {
            let field = filter_field(field, filterable)?;
            if !matches!(field.field_type, FieldType::Text) {
                return Err(bad(format!(
                    "startswith() and contains() take text fields; '{}' is not one.",
                    field.name
                )));
            }
            Condition::Like {
                field,
                text: value.clone(),
                prefix: matches!(filter, Filter::StartsWith { .. }),
            }
        }
    })
}

fn filter_field(name: &str, filterable: &Filterable) -> QueryResult<&'static Field> {
    filterable
        .fields
        .iter()
        .find(|field| field.filterable && field.name == name)
        .ok_or_else(|| {
            bad(format!(
                "The {} have no field '{name}' to filter on.",
                filterable.noun
            ))
        })
}

/// A literal as a value of `field`'s type (`None` for null).
fn value_for(field: &Field, literal: &Literal) -> QueryResult<Option<Value>> {
    match (field.field_type, literal) {
        (_, Literal::Null) => Ok(None),
        (FieldType::Enum(values), Literal::Text(text)) => {
            if values.contains(&text.as_str()) {
                Ok(Some(Value::Text(text.clone())))
            } else {
                Err(bad(format!("'{text}' is not a value of '{}'.", field.name)))
            }
        }
        (FieldType::DateTime, Literal::DateTime(text)) => crate::timestamps::utc_instant(text)
            .map(|at| Some(Value::DateTime(at)))
            .ok_or_else(|| {
                bad(format!(
                    "'{text}' is not an RFC 3339 date-time between the years 0000 and 9999 (UTC)."
                ))
            }),
        (FieldType::DateTime, Literal::Text(text)) => Err(bad(format!(
            "'{}' is a date-time: write it unquoted, e.g. 2026-11-21T00:00:00Z, not '{text}'.",
            field.name
        ))),
        (_, Literal::Text(text)) => Ok(Some(Value::Text(text.clone()))),
        (_, Literal::DateTime(text)) => Err(bad(format!(
            "'{}' takes quoted text, not {text}.",
            field.name
        ))),
    }
}
