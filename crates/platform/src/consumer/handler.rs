use async_trait::async_trait;
use deadpool_postgres::Transaction;

use super::{ErrorClass, Record};

/// What a consumer group does with its records.
#[async_trait]
pub trait BatchHandler: Send + Sync + 'static {
    /// Applies the effect of `records` — all from one partition, in offset
    /// order — inside `tx`. The runtime commits `tx` together with the
    /// partition's next offset; the handler must not commit it.
    async fn handle(&self, tx: &Transaction<'_>, records: &[Record]) -> Result<(), HandlerError>;
}

#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    /// Retry the whole batch later (database down, deadlock, timeout).
    #[error("transient failure: {0:#}")]
    Transient(anyhow::Error),
    /// `records[index]` can never be processed: dead-letter it, go on.
    #[error("{class} error at batch index {index}: {reason}")]
    Poison { index: usize, class: ErrorClass, reason: String },
    /// Some record of the batch can never be processed, but the handler
    /// cannot tell which: the runtime bisects the batch to find it.
    #[error("{class} error in the batch: {reason}")]
    Permanent { class: ErrorClass, reason: String },
}

impl HandlerError {
    pub fn poison(index: usize, reason: impl Into<String>) -> Self {
        Self::Poison { index, class: ErrorClass::Poison, reason: reason.into() }
    }

    /// `records[index]` is not a record this group can decode.
    pub fn undecodable(index: usize, reason: impl Into<String>) -> Self {
        Self::Poison { index, class: ErrorClass::Decode, reason: reason.into() }
    }
}

impl From<tokio_postgres::Error> for HandlerError {
    /// Classified once for every group (`ErrorClass::of_postgres`): data,
    /// integrity and schema errors are permanent for the batch, which the
    /// runtime then bisects; everything else is retried.
    fn from(error: tokio_postgres::Error) -> Self {
        match ErrorClass::of_postgres(&error) {
            Some(class) => {
                let detail = error.as_db_error().map_or_else(|| error.to_string(), ToString::to_string);
                Self::Permanent { class, reason: format!("Postgres refused the batch: {detail}") }
            }
            None => Self::Transient(error.into()),
        }
    }
}
