use admin_api::{AuditEvent, Collection};

use super::query::encode;
use super::{get, ApiError, API_BASE};

/// Audit events per page.
const PAGE_SIZE: u32 = 50;

/// A page of the audit log, newest first: the events that match `filter`, from `skiptoken` on,
/// with their count.
pub async fn page(
    filter: Option<&str>,
    skiptoken: Option<&str>,
) -> Result<Collection<AuditEvent>, ApiError> {
    get(&url(filter, skiptoken)).await
}

/// The export of every event that matches `filter`, as CSV (the browser downloads it).
pub fn export_url(filter: Option<&str>) -> String {
    let pairs: Vec<(String, String)> = filter
        .map(|f| ("$filter".to_owned(), f.to_owned()))
        .into_iter()
        .collect();
    format!("{API_BASE}/auditEvents/export?{}", encode(&pairs))
}

fn url(filter: Option<&str>, skiptoken: Option<&str>) -> String {
    let mut query = vec![
        ("$top".to_owned(), PAGE_SIZE.to_string()),
        ("$count".to_owned(), "true".to_owned()),
    ];
    if let Some(filter) = filter {
        query.push(("$filter".to_owned(), filter.to_owned()));
    }
    if let Some(token) = skiptoken {
        query.push(("$skiptoken".to_owned(), token.to_owned()));
    }
    format!("{API_BASE}/auditEvents?{}", encode(&query))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_first_page_asks_for_fifty_with_the_count() {
        assert!(super::url(None, None).ends_with("?$top=50&$count=true"));
    }
}
