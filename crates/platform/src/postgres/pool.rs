use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};

use super::DbError;
use super::connection::ConnectionSettings;
use crate::config::DatabaseSettings;

/// A pool of application-role connections. Connections are opened lazily, so
/// call `check_application_role` (or a query) to fail fast at start-up.
/// TLS follows the URL's `sslmode`/`sslrootcert`/`sslcert`/`sslkey`.
pub fn connect_pool(settings: &DatabaseSettings) -> Result<Pool, DbError> {
    let ConnectionSettings { mut config, tls } =
        ConnectionSettings::parse(settings.url.expose()).map_err(|error| DbError::PoolBuild(format!("database.url {error}")))?;
    let tls = tls.connector().map_err(|error| DbError::PoolBuild(format!("database.url: {error}")))?;
    config.connect_timeout(Duration::from_millis(settings.connect_timeout_ms));
    config.application_name("signalops");
    let manager = Manager::from_config(config, tls, ManagerConfig { recycling_method: RecyclingMethod::Fast });
    Pool::builder(manager)
        .max_size(settings.pool_max_size)
        .runtime(Runtime::Tokio1)
        .wait_timeout(Some(Duration::from_millis(settings.connect_timeout_ms)))
        .create_timeout(Some(Duration::from_millis(settings.connect_timeout_ms)))
        .build()
        .map_err(|e| DbError::PoolBuild(e.to_string()))
}

/// One dedicated connection (migrations, admin tools), with the same TLS
/// handling as the pool. The connection task runs until the client is dropped.
pub async fn connect_one(url: &str) -> Result<tokio_postgres::Client, DbError> {
    let ConnectionSettings { config, tls } =
        ConnectionSettings::parse(url).map_err(|error| DbError::PoolBuild(format!("the URL {error}")))?;
    let tls = tls.connector().map_err(DbError::PoolBuild)?;
    let target = describe_target(&config);
    let (client, connection) = config.connect(tls).await.map_err(|source| DbError::Connect { target, source })?;
    tokio::spawn(async move {
        if let Err(error) = connection.await {
            tracing::debug!(%error, "postgres connection closed");
        }
    });
    Ok(client)
}

/// host:port/db without the password, for error messages.
pub(crate) fn describe_target(config: &tokio_postgres::Config) -> String {
    let host = config
        .get_hosts()
        .first()
        .map(|h| match h {
            tokio_postgres::config::Host::Tcp(name) => name.clone(),
            tokio_postgres::config::Host::Unix(path) => path.display().to_string(),
        })
        .unwrap_or_default();
    let port = config.get_ports().first().copied().unwrap_or(5432);
    format!("{host}:{port}/{}", config.get_dbname().unwrap_or(""))
}
