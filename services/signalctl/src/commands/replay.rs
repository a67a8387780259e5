//! `signalctl replay <group>`: moves a stopped group back (or forward) in a
//! topic, in Postgres (where the runtime resumes from) and in Kafka (what lag
//! tools show), like `kafka-consumer-groups --reset-offsets`: a dry run
//! unless `--execute`, and refused while the group has members. A rules
//! group replays only to the earliest offset, and its state and firings are
//! cleared in the transaction that moves its offsets (see `replay_rules`).

use std::collections::BTreeMap;

use anyhow::{Context as _, bail};
use chrono::{DateTime, Utc};
use clap::Args;
use rdkafka::consumer::{CommitMode, Consumer};
use rdkafka::{Offset, TopicPartitionList};
use serde_json::json;
use signalops_platform::postgres;

use super::Output;
use super::group_state::{self, TIMEOUT};
use super::replay_rules;
use crate::CtlConfig;

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("target").required(true).args(["to_earliest", "to_datetime", "to_offset"])))]
pub struct ReplayArgs {
    /// The consumer group, e.g. signalops-projector.
    pub group: String,
    /// The topic to move in (default: the events topic).
    #[arg(long)]
    pub topic: Option<String>,
    /// Every partition to its first retained record.
    #[arg(long)]
    pub to_earliest: bool,
    /// Every partition to its first record at or after this time (RFC 3339).
    #[arg(long, value_name = "TIME")]
    pub to_datetime: Option<DateTime<Utc>>,
    /// One partition to an offset, `PARTITION:OFFSET`; repeat for more.
    #[arg(long, value_name = "P:O", value_parser = parse_position)]
    pub to_offset: Vec<(i32, i64)>,
    /// Apply the plan (without it nothing changes).
    #[arg(long)]
    pub execute: bool,
}

fn parse_position(text: &str) -> Result<(i32, i64), String> {
    let (p, o) = text.split_once(':').ok_or_else(|| format!("{text:?} is not PARTITION:OFFSET"))?;
    let p = p.parse::<i32>().ok().filter(|p| *p >= 0).ok_or_else(|| format!("{p:?} is not a partition number"))?;
    let o = o.parse::<i64>().ok().filter(|o| *o >= 0).ok_or_else(|| format!("{o:?} is not an offset"))?;
    Ok((p, o))
}

struct Step {
    partition: i32,
    postgres_now: Option<i64>,
    kafka_now: Option<i64>,
    target: i64,
}

pub async fn run(args: ReplayArgs, output: Output) -> anyhow::Result<()> {
    let config = CtlConfig::load()?;
    let kafka = config.require_kafka()?.clone();
    let topic = args.topic.clone().unwrap_or_else(|| kafka.topics.events.clone());
    let mut client = postgres::connect_one(config.require_database()?.url.expose()).await?;
    let rules_group = replay_rules::is_rules_group(&client, &args.group).await?;
    if rules_group {
        replay_rules::check_target(&args.group, args.to_earliest, &topic, &kafka.topics.events)?;
    }
    let stored = group_state::postgres_offsets(&client, &args.group).await?;
    let (group, plan_topic) = (args.group.clone(), topic.clone());
    let (to_earliest, to_datetime, to_offset) = (args.to_earliest, args.to_datetime, args.to_offset.clone());
    let (consumer, steps) = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
        let consumer = group_state::outside_consumer(&kafka, &group)?;
        refuse_if_active(&consumer, &group)?;
        let partitions = group_state::partitions_of(&consumer, &plan_topic)?;
        let mut list = TopicPartitionList::new();
        for p in &partitions {
            list.add_partition(&plan_topic, *p);
        }
        let committed = consumer.committed_offsets(list, TIMEOUT).context("cannot read committed offsets")?;
        let mut targets: BTreeMap<i32, i64> = BTreeMap::new();
        for p in &partitions {
            let (low, high) = consumer.fetch_watermarks(&plan_topic, *p, TIMEOUT).context("cannot read watermarks")?;
            if to_earliest {
                targets.insert(*p, low);
            } else if let Some(at) = to_datetime {
                targets.insert(*p, offset_at(&consumer, &plan_topic, *p, at, high)?);
            } else if let Some((_, o)) = to_offset.iter().find(|(tp, _)| tp == p) {
                if !(low..=high).contains(o) {
                    bail!("offset {o} is outside partition {p}'s retained range {low}..={high}");
                }
                targets.insert(*p, *o);
            }
        }
        if let Some((p, _)) = to_offset.iter().find(|(p, _)| !partitions.contains(p)) {
            bail!("topic {plan_topic} has no partition {p} (it has {})", partitions.len());
        }
        let steps: Vec<Step> = targets
            .into_iter()
            .map(|(partition, target)| Step {
                partition,
                postgres_now: stored.get(&(plan_topic.clone(), partition)).copied(),
                kafka_now: match committed.find_partition(&plan_topic, partition).map(|e| e.offset()) {
                    Some(Offset::Offset(o)) => Some(o),
                    _ => None,
                },
                target,
            })
            .collect();
        Ok((consumer, steps))
    })
    .await??;

    let dash = |v: Option<i64>| v.map_or("-".to_owned(), |v| v.to_string());
    let mut lines = vec![format!("{:<4} {:>14} {:>14} {:>14}", "PART", "PG-OFFSET", "KAFKA-OFFSET", "NEW-OFFSET")];
    lines.extend(
        steps.iter().map(|s| format!("{:<4} {:>14} {:>14} {:>14}", s.partition, dash(s.postgres_now), dash(s.kafka_now), s.target)),
    );
    let plan = json!(steps.iter().map(|s| json!({"partition": s.partition, "postgres_offset": s.postgres_now, "kafka_offset": s.kafka_now, "new_offset": s.target})).collect::<Vec<_>>());
    if !args.execute {
        if rules_group {
            lines.push("and every tenant's rule state and firings would be cleared (the rules recompute them)".to_owned());
        }
        lines.insert(0, format!("dry run: group {} on {topic} would move as below; nothing changed (add --execute to apply)", args.group));
        output.print(
            lines.join("\n"),
            json!({"group": args.group, "topic": topic, "executed": false, "rules_group": rules_group, "partitions": plan}),
        );
        return Ok(());
    }

    // Postgres first: it is where every member resumes from. Kafka's
    // offsets only follow, for lag tools; if that commit fails the group
    // still resumes at the new offsets, and a rerun aligns Kafka.
    let tx = client.transaction().await?;
    for step in &steps {
        tx.execute(
            "INSERT INTO consumer_offsets (group_id, topic, partition, next_offset) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (group_id, topic, partition) DO UPDATE SET next_offset = EXCLUDED.next_offset, updated_at = now()",
            &[&args.group, &topic, &step.partition, &step.target],
        )
        .await?;
    }
    // A rules group restarts its fold over the events from empty state, in
    // the same step: no member can see the new offsets with the old state.
    let cleared = if rules_group { Some(replay_rules::clear(&tx).await?) } else { None };
    let group = args.group.clone();
    let commit_topic = topic.clone();
    let targets: Vec<(i32, i64)> = steps.iter().map(|s| (s.partition, s.target)).collect();
    // Check again right before applying: a member may have started meanwhile.
    let consumer = tokio::task::spawn_blocking(move || refuse_if_active(&consumer, &group).map(|()| consumer)).await??;
    tx.commit().await?;
    tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
        let mut list = TopicPartitionList::new();
        for (p, o) in &targets {
            list.add_partition_offset(&commit_topic, *p, Offset::Offset(*o))?;
        }
        consumer.assign(&list)?;
        consumer.commit(&list, CommitMode::Sync).context("Postgres offsets moved, but committing Kafka's failed; run again")?;
        Ok(())
    })
    .await??;
    lines.insert(0, format!("group {} on {topic} moved:", args.group));
    if let Some(c) = cleared {
        lines.push(format!("rule state cleared: {} state row(s), {} firing(s); the rules recompute them", c.states, c.firings));
    }
    let cleared = cleared.map(|c| json!({"states": c.states, "firings": c.firings}));
    output.print(
        lines.join("\n"),
        json!({"group": args.group, "topic": topic, "executed": true, "rules_group": rules_group, "rules_cleared": cleared, "partitions": plan}),
    );
    Ok(())
}

fn refuse_if_active(consumer: &rdkafka::consumer::BaseConsumer, group: &str) -> anyhow::Result<()> {
    let (state, members) = group_state::members(consumer, group)?;
    if !members.is_empty() {
        bail!("group {group} has {} active member(s) (state {state}); stop them before replaying", members.len());
    }
    Ok(())
}

/// The first offset at or after `at` in one partition (the log end when
/// every record is older).
fn offset_at(consumer: &rdkafka::consumer::BaseConsumer, topic: &str, partition: i32, at: DateTime<Utc>, high: i64) -> anyhow::Result<i64> {
    let mut query = TopicPartitionList::new();
    query.add_partition_offset(topic, partition, Offset::Offset(at.timestamp_millis()))?;
    let found = consumer.offsets_for_times(query, TIMEOUT).context("cannot look offsets up by time")?;
    Ok(match found.find_partition(topic, partition).map(|e| e.offset()) {
        Some(Offset::Offset(o)) => o,
        _ => high,
    })
}
