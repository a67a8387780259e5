//! The gateway: SignalOps' HTTP front door. It hosts the ingest and admin
//! APIs under `/v1` and the health endpoints every service has.

pub mod config;
pub mod startup;

pub use config::GatewayConfig;
pub use startup::Application;

/// Loads config, starts, and serves until SIGINT/SIGTERM.
pub async fn run() -> anyhow::Result<()> {
    let config = GatewayConfig::load()?;
    let application = Application::build(config).await?;
    application.run_until_stopped(signalops_platform::shutdown::on_signal()).await
}
