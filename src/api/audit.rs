use admin_api::{AuditEvent, Collection};

use super::{get, ApiError};

/// A page of the audit log; `url` comes from the view's query (or a nextLink).
pub async fn page(url: &str) -> Result<Collection<AuditEvent>, ApiError> {
    get(url).await
}
