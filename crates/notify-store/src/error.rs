//! The store's one error type.

use crate::sealing::SealError;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No such channel in the tenant.
    #[error("not found")]
    NotFound,
    /// The tenant already has a channel with that id.
    #[error("a channel with this id exists")]
    Conflict,
    /// Only webhook channels have a signing secret.
    #[error("only webhook channels have a signing secret")]
    NotAWebhook,
    #[error(transparent)]
    Postgres(#[from] tokio_postgres::Error),
    /// Sealed credentials that do not open (a missing key, an altered row).
    #[error("channel credentials: {0}")]
    Sealing(#[from] SealError),
    /// A stored row that does not read back as it was written.
    #[error("channel {channel_id}: stored data is not valid: {message}")]
    Corrupt { channel_id: String, message: String },
}

pub type StoreResult<T> = Result<T, StoreError>;
