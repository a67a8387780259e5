//! `signalctl`: the operator's and analyst's command line.

mod commands;
mod config;

use clap::{Parser, Subcommand};

pub use config::CtlConfig;

#[derive(Debug, Parser)]
#[command(
    name = "signalctl",
    version,
    about = "Operate SignalOps: schema, topics, tenants, API keys, consumer groups, replay and dead letters"
)]
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
    /// Consumer groups: members, assignment, offsets, lag.
    #[command(subcommand)]
    Groups(commands::groups::GroupsCommand),
    /// Move a stopped group's offsets (Postgres and Kafka); a dry run unless --execute.
    Replay(commands::replay::ReplayArgs),
    /// Versions of the events read model: rebuild side by side, promote, drop.
    #[command(subcommand)]
    Projections(commands::projections::ProjectionsCommand),
    /// Dead letters: list, show, redrive to their group, purge old ones.
    #[command(subcommand)]
    Dlq(commands::dlq::DlqCommand),
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let output = commands::Output { json: cli.json };
    match cli.command {
        Command::Migrate(args) => commands::migrate::run(args, output).await,
        Command::Topics(command) => commands::topics::run(command, output).await,
        Command::Tenants(command) => commands::tenants::run(command, output).await,
        Command::Keys(command) => commands::keys::run(command, output).await,
        Command::Groups(command) => commands::groups::run(command, output).await,
        Command::Replay(args) => commands::replay::run(args, output).await,
        Command::Projections(command) => commands::projections::run(command, output).await,
        Command::Dlq(command) => commands::dlq::run(command, output).await,
    }
}
