//! The gateway: SignalOps' HTTP front door. It hosts the admin API, ingest,
//! the query API and the live tail under `/v1`, and the health endpoints
//! every service has.

pub mod api_keys;
pub mod audit;
pub mod auth;
pub mod channels;
pub mod config;
pub mod event_schemas;
pub mod extract;
pub mod ingest;
pub mod invitations;
pub mod members;
pub mod openapi;
pub mod pagination;
pub mod problem;
pub mod query;
pub mod request_guard;
pub mod roles;
pub mod rules;
pub mod security_headers;
pub mod startup;
pub mod state;
pub mod system_events;
pub mod tail;
pub mod tenant;

pub use config::GatewayConfig;
pub use startup::Application;

/// Loads config, starts, and serves until SIGINT/SIGTERM.
pub async fn run() -> anyhow::Result<()> {
    let config = GatewayConfig::load()?;
    let application = Application::build(config).await?;
    application.run_until_stopped(signalops_platform::shutdown::on_signal()).await
}
