//! `signalctl dlq list | show | redrive | purge`: the dead letters of every
//! group (`kafka.topics.dlq`), for the operator who finds them, reads one,
//! fixes the cause and sends them back, or drops the old ones.
//!
//! A redrive never goes back to the source topic (every other group would
//! see the record again): it appends the dead letter unchanged to the
//! redrive topic (`kafka.topics.redrive`), addressed by header to the one
//! group that failed it, which records each `redrive_source` with its
//! effect, so redriving twice applies once (ADR 0019).

mod audit;
mod filter;
mod letter;
mod list;
mod purge;
mod redrive;
mod scan;
mod select;
mod show;

use clap::Subcommand;

use super::Output;

#[derive(Debug, Subcommand)]
pub enum DlqCommand {
    /// Dead letters matching the filters, with counts per group and error class.
    List(list::ListArgs),
    /// One dead letter: its headers, the error, where it came from, the decoded event.
    Show(show::ShowArgs),
    /// Send selected dead letters back to their group; a dry run unless --execute.
    Redrive(redrive::RedriveArgs),
    /// Delete dead letters older than a time (Kafka DeleteRecords); a dry run unless --execute.
    Purge(purge::PurgeArgs),
}

pub async fn run(command: DlqCommand, output: Output) -> anyhow::Result<()> {
    match command {
        DlqCommand::List(args) => list::run(args, output).await,
        DlqCommand::Show(args) => show::run(args, output).await,
        DlqCommand::Redrive(args) => redrive::run(args, output).await,
        DlqCommand::Purge(args) => purge::run(args, output).await,
    }
}
