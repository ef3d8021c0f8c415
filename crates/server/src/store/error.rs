//! What the store answers when a change or a read cannot be made: its own words, no HTTP. The
//! edge (`crate::error`) gives each its status and the contract's error body.

/// Why the store refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// What was asked for does not fit what is stored (a role that does not exist, a batch count
    /// out of range): the field it concerns, and why.
    #[error("{message}")]
    Invalid { target: String, message: String },
    /// Nothing of that id.
    #[error("{0}")]
    NotFound(String),
    /// The change contradicts what is stored, in the contract's words.
    #[error("{0}")]
    Conflict(String),
    /// The caller may not make this change (a permission it lacks, its own roles).
    #[error("{0}")]
    Refused(String),
    /// A bound on work in progress is reached (site requests per user or per connector): try
    /// again once some of it ends.
    #[error("{0}")]
    Bounded(String),
    /// A credential or token the store does not recognize (unknown, used, expired).
    #[error("{0}")]
    Unrecognized(String),
    /// No connection could be had in time: the database is busy.
    #[error("the database is busy")]
    Unavailable,
    #[error("the store failed: {0}")]
    Database(#[from] sqlx::Error),
    #[error("a page read failed: {0}")]
    PageRead(#[from] rusqlite::Error),
    #[error("{0}")]
    Internal(String),
}

impl StoreError {
    /// Whether it failed only because the database was busy (no connection in time): worth
    /// trying again shortly.
    pub fn is_busy(&self) -> bool {
        matches!(
            self,
            Self::Unavailable | Self::Database(sqlx::Error::PoolTimedOut)
        )
    }

    /// [`StoreError::Invalid`] for `target`.
    pub fn invalid(target: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Invalid {
            target: target.into(),
            message: message.into(),
        }
    }
}

impl From<crate::query::devices::OtherOrder> for StoreError {
    fn from(_: crate::query::devices::OtherOrder) -> Self {
        use crate::query::devices::OtherOrder;
        Self::invalid(OtherOrder::OPTION, OtherOrder::MESSAGE)
    }
}

pub type StoreResult<T> = Result<T, StoreError>;
