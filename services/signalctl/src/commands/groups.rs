//! `signalctl groups list | describe <group>`.

use std::collections::BTreeSet;

use clap::Subcommand;
use serde_json::json;
use signalops_platform::postgres;

use super::Output;
use super::group_state::{self, GroupState};
use crate::CtlConfig;

#[derive(Debug, Subcommand)]
pub enum GroupsCommand {
    /// Every consumer group the broker knows, with its state and members.
    List,
    /// Members, partition assignment, Kafka and Postgres offsets and lag per partition.
    Describe {
        group: String,
        /// Topics to show (default: the events topic and every topic the
        /// group has Postgres offsets or assignments for).
        #[arg(long = "topic")]
        topics: Vec<String>,
    },
}

pub async fn run(command: GroupsCommand, output: Output) -> anyhow::Result<()> {
    let config = CtlConfig::load()?;
    let kafka = config.require_kafka()?.clone();
    match command {
        GroupsCommand::List => {
            let groups = tokio::task::spawn_blocking(move || group_state::list_groups(&kafka)).await??;
            let text = std::iter::once(format!("{:<40} {:<14} {}", "GROUP", "STATE", "MEMBERS"))
                .chain(groups.iter().map(|(name, state, members)| format!("{name:<40} {state:<14} {members}")))
                .collect::<Vec<_>>()
                .join("\n");
            let value = json!(groups.iter().map(|(g, s, m)| json!({"group": g, "state": s, "members": m})).collect::<Vec<_>>());
            output.print(text, value);
            Ok(())
        }
        GroupsCommand::Describe { group, topics } => {
            let state = describe(&config, &group, topics).await?;
            output.print(render(&state), serde_json::to_value(&state)?);
            Ok(())
        }
    }
}

/// The group's state over the topics asked for (or those it works on).
pub async fn describe(config: &CtlConfig, group: &str, topics: Vec<String>) -> anyhow::Result<GroupState> {
    let kafka = config.require_kafka()?.clone();
    let client = postgres::connect_one(config.require_database()?.url.expose()).await?;
    let offsets = group_state::postgres_offsets(&client, group).await?;
    let group = group.to_owned();
    tokio::task::spawn_blocking(move || {
        let consumer = group_state::outside_consumer(&kafka, &group)?;
        let mut wanted: BTreeSet<String> = topics.into_iter().collect();
        if wanted.is_empty() {
            wanted.insert(kafka.topics.events.clone());
            wanted.extend(offsets.keys().map(|(t, _)| t.clone()));
            let (_, members) = group_state::members(&consumer, &group)?;
            wanted.extend(members.iter().flat_map(|m| m.assignment.iter().map(|(t, _)| t.clone())));
        }
        group_state::describe(&consumer, &group, &wanted, &offsets)
    })
    .await?
}

fn render(state: &GroupState) -> String {
    let mut lines = vec![format!("group {}  state {}  members {}", state.group, state.state, state.members.len())];
    for m in &state.members {
        let parts: Vec<String> = m.assignment.iter().map(|(t, p)| format!("{t}:{p}")).collect();
        lines.push(format!("  member {} ({}, {})  {}", m.client_id, m.member_id, m.host, parts.join(" ")));
    }
    lines.push(format!(
        "{:<32} {:>4} {:>12} {:>12} {:>14} {:>14} {:>10}  {}",
        "TOPIC", "PART", "LOG-START", "LOG-END", "KAFKA-OFFSET", "PG-OFFSET", "LAG", "MEMBER"
    ));
    let dash = |v: Option<i64>| v.map_or("-".to_owned(), |v| v.to_string());
    for p in &state.partitions {
        lines.push(format!(
            "{:<32} {:>4} {:>12} {:>12} {:>14} {:>14} {:>10}  {}",
            p.topic,
            p.partition,
            p.log_start,
            p.log_end,
            dash(p.kafka_committed),
            dash(p.postgres_next),
            p.lag,
            p.member.as_deref().unwrap_or("-")
        ));
    }
    lines.join("\n")
}
