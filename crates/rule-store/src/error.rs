//! The store's one error type.

use uuid::Uuid;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No such rule (or version) in the tenant, or the rule is deleted.
    #[error("not found")]
    NotFound,
    #[error(transparent)]
    Postgres(#[from] tokio_postgres::Error),
    /// A stored row that does not read back as it was written.
    #[error("rule {rule_id}: stored data is not valid: {message}")]
    Corrupt { rule_id: Uuid, message: String },
}

pub type StoreResult<T> = Result<T, StoreError>;
