use async_trait::async_trait;
use deadpool_postgres::Transaction;

use super::Record;

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
    #[error("poison record at batch index {index}: {reason}")]
    Poison { index: usize, reason: String },
}

impl HandlerError {
    pub fn poison(index: usize, reason: impl Into<String>) -> Self {
        Self::Poison { index, reason: reason.into() }
    }
}

impl From<tokio_postgres::Error> for HandlerError {
    /// Database errors are transient by default; handlers that can tell a
    /// bad record from a bad moment map the former to `Poison` themselves.
    fn from(error: tokio_postgres::Error) -> Self {
        Self::Transient(error.into())
    }
}
