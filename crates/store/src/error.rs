//! What the store reports to its callers.

use crate::db::DbError;

/// A store operation that did not succeed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The row changed since it was read: the version guard matched nothing.
    #[error("the order changed since version {expected}")]
    VersionConflict {
        /// The version the writer read.
        expected: i64,
    },
    /// A uniqueness constraint refused the write (for example a duplicate key).
    #[error("duplicate: {0}")]
    Duplicate(String),
    /// A saga job's lease ran out and another worker claimed it (or it was
    /// finished) before this worker wrote its outcome: the write is refused
    /// and its transaction rolls back, so a job never runs to two outcomes.
    #[error("saga job {0} is no longer under this worker's claim")]
    ClaimLost(String),
    /// Stored data does not decode into the domain; a bug or a corrupt row.
    #[error("corrupt row: {0}")]
    Corrupt(String),
    /// The database failed.
    #[error(transparent)]
    Db(DbError),
}

impl From<DbError> for StoreError {
    fn from(e: DbError) -> Self {
        match e {
            DbError::Constraint(m) if m.to_ascii_lowercase().contains("unique") => StoreError::Duplicate(m),
            DbError::Decode(m) => StoreError::Corrupt(m),
            other => StoreError::Db(other),
        }
    }
}

impl From<serde_json::Error> for StoreError {
    fn from(e: serde_json::Error) -> Self {
        StoreError::Corrupt(e.to_string())
    }
}
