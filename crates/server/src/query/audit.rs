//! The audit log's query options, parsed and checked into an [`AuditQuery`] that the store runs.

use admin_api::audit::AUDIT_FIELDS;

use super::condition::{self, Condition, Filterable};
use super::PageOptions;
use super::QueryResult;

const AUDIT_FILTER: Filterable = Filterable {
    noun: "audit events",
    fields: AUDIT_FIELDS,
};

/// Which audit events to list: the `$filter` condition.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    pub filter: Option<Condition>,
}

impl AuditQuery {
    /// The query `$filter` asks for.
    pub fn from_options(options: &PageOptions) -> QueryResult<Self> {
        Ok(Self {
            filter: options
                .filter
                .as_deref()
                .map(|text| condition::check(text, &AUDIT_FILTER))
                .transpose()?,
        })
    }
}
