//! `signalctl`: the operator's and analyst's command line.

mod commands;
mod config;

use clap::{Parser, Subcommand};

pub use config::CtlConfig;

#[derive(Debug, Parser)]
#[command(name = "signalctl", version, about = "Operate SignalOps: schema, topics, tenants, API keys")]
pub struct Cli {
    /// Print results as JSON instead of text.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Apply pending schema migrations (safe to run concurrently).
    Migrate(commands::migrate::MigrateArgs),
    /// Kafka topics.
    #[command(subcommand)]
    Topics(commands::topics::TopicsCommand),
    /// Tenants.
    #[command(subcommand)]
    Tenants(commands::tenants::TenantsCommand),
    /// API keys.
    #[command(subcommand)]
    Keys(commands::keys::KeysCommand),
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let output = commands::Output { json: cli.json };
    match cli.command {
        Command::Migrate(args) => commands::migrate::run(args, output).await,
        Command::Topics(command) => commands::topics::run(command, output).await,
        Command::Tenants(command) => commands::tenants::run(command, output).await,
        Command::Keys(command) => commands::keys::run(command, output).await,
    }
}
