//! The audit log's query options, parsed into an [`AuditQuery`] that the store runs.

use admin_api::audit::AUDIT_FIELDS;

use super::sql::{filter_sql_over, Dialect, Filterable, Sql};
use super::PageOptions;
use crate::error::AppResult;

const AUDIT_FILTER: Filterable = Filterable {
    noun: "audit events",
    fields: AUDIT_FIELDS,
};

/// Which audit events to list: the `$filter` condition.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    pub filter: Option<Sql>,
}

impl AuditQuery {
    /// The query `$filter` asks for, in SQLite's SQL.
    pub fn from_options(options: &PageOptions) -> AppResult<Self> {
        Self::in_dialect(options, Dialect::Sqlite)
    }

    /// [`AuditQuery::from_options`] in the SQL of `dialect`.
    pub fn in_dialect(options: &PageOptions, dialect: Dialect) -> AppResult<Self> {
        Ok(Self {
            filter: options
                .filter
                .as_deref()
                .map(|text| filter_sql_over(text, &AUDIT_FILTER, dialect))
                .transpose()?,
        })
    }
}
