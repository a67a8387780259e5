//! Postgres access: the pool, tenant-scoped transactions, migrations and the
//! start-up check that row-level security really applies to us.

mod connection;
mod migrate;
mod pool;
mod safety_check;
mod tenant_tx;
mod tls;

pub use connection::{ConnectionError, ConnectionSettings};
pub use deadpool_postgres::{Object as PooledClient, Pool};
pub use migrate::{MigrationReport, migrate};
pub use pool::{connect_one, connect_pool};
pub use safety_check::{SafetyProblem, check_application_role};
pub use tenant_tx::{begin_tenant_tx, set_tenant};
pub use tls::{SslMode, TlsOptions};

/// Postgres failures as the services see them.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("database unreachable at {target}: {source}")]
    Connect { target: String, source: tokio_postgres::Error },
    #[error("database pool: {0}")]
    Pool(#[from] deadpool_postgres::PoolError),
    #[error("database pool configuration: {0}")]
    PoolBuild(String),
    #[error(transparent)]
    Query(#[from] tokio_postgres::Error),
    #[error("migrations failed: {0}")]
    Migration(String),
    #[error("unsafe database role:\n{}", .0.iter().map(|p| format!("  - {p}")).collect::<Vec<_>>().join("\n"))]
    Unsafe(Vec<SafetyProblem>),
}

impl DbError {
    /// Errors worth retrying with backoff (connection lost, server restarting,
    /// serialization failures) as opposed to bugs and bad data.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Connect { .. } | Self::Pool(_) => true,
            Self::Query(e) => is_transient_pg(e),
            _ => false,
        }
    }
}

pub fn is_transient_pg(error: &tokio_postgres::Error) -> bool {
    use tokio_postgres::error::SqlState;
    if error.is_closed() {
        return true;
    }
    match error.code() {
        None => true, // I/O level: connection reset, timeout
        Some(code) => {
            code == &SqlState::T_R_SERIALIZATION_FAILURE
                || code == &SqlState::T_R_DEADLOCK_DETECTED
                || code == &SqlState::ADMIN_SHUTDOWN
                || code == &SqlState::CANNOT_CONNECT_NOW
                || code == &SqlState::TOO_MANY_CONNECTIONS
                || code.code().starts_with("08")
        }
    }
}
