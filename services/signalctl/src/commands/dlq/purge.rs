//! `signalctl dlq purge --before T`: deletes the dead letters written before
//! `T` with Kafka's DeleteRecords, per partition up to the first offset at or
//! after `T` (a log is only ever cut at its start). A dry run unless
//! `--execute`; the plan counts what would go, per group and error class,
//! and how many of those were never redriven.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use anyhow::{Context as _, bail};
use chrono::{DateTime, Utc};
use clap::Args;
use rdkafka::admin::{AdminClient, AdminOptions};
use rdkafka::client::DefaultClientContext;
use rdkafka::{Offset, TopicPartitionList};
use serde_json::json;
use signalops_platform::kafka::base_client_config;
use signalops_platform::postgres;

use super::Output;
use super::audit::{self, Entry};
use super::letter::{Letter, clip};
use super::scan;
use crate::CtlConfig;

#[derive(Debug, Args)]
pub struct PurgeArgs {
    /// Delete the dead letters written before this time (RFC 3339).
    #[arg(long, value_name = "TIME")]
    pub before: DateTime<Utc>,
    /// Delete (without it nothing changes).
    #[arg(long)]
    pub execute: bool,
    /// Who is acting, for the audit entry (default: the login name).
    #[arg(long, env = "SIGNALOPS_OPERATOR")]
    pub actor: Option<String>,
}

struct Cut {
    partition: i32,
    log_start: i64,
    /// The first offset kept.
    up_to: i64,
}

pub async fn run(args: PurgeArgs, output: Output) -> anyhow::Result<()> {
    let config = CtlConfig::load()?;
    let kafka = config.require_kafka()?.clone();
    let topic = kafka.topics.dlq.clone();
    let client = if args.execute { Some(postgres::connect_one(config.require_database()?.url.expose()).await?) } else { None };
    let before = args.before;
    let (cuts, letters, redriven) = tokio::task::spawn_blocking({
        let (kafka, topic) = (kafka.clone(), topic.clone());
        move || -> anyhow::Result<_> {
            let consumer = scan::reader(&kafka)?;
            let marks = scan::watermarks(&consumer, &topic)?;
            let at = scan::offsets_at(&consumer, &topic, &marks, before)?;
            let cuts: Vec<Cut> = marks.iter().map(|(p, (low, _))| Cut { partition: *p, log_start: *low, up_to: at[p].max(*low) }).collect();
            let ranges = cuts.iter().map(|c| (c.partition, (c.log_start, c.up_to))).collect();
            let letters: Vec<Letter> = scan::read(&consumer, &topic, &ranges)?.into_iter().map(Letter::from_record).collect();
            let redriven = scan::redriven(&consumer, &kafka.topics.redrive)?;
            Ok((cuts, letters, redriven))
        }
    })
    .await??;
    let total: i64 = cuts.iter().map(|c| c.up_to - c.log_start).sum();
    let never_redriven = letters
        .iter()
        .filter(|l| !redriven.positions.contains(&l.position()) && !l.source_key().is_some_and(|k| redriven.sources.contains(&k)))
        .count();
    let mut counts: BTreeMap<(String, String), usize> = BTreeMap::new();
    for l in &letters {
        *counts.entry((l.group.clone(), l.error_class.clone())).or_insert(0) += 1;
    }
    let tenants: BTreeSet<String> = letters.iter().filter(|l| !l.tenant.is_empty()).map(|l| l.tenant.clone()).collect();

    let mut lines = vec![format!("{:<4} {:>12} {:>12} {:>10}", "PART", "LOG-START", "DELETE-TO", "RECORDS")];
    lines.extend(cuts.iter().map(|c| format!("{:<4} {:>12} {:>12} {:>10}", c.partition, c.log_start, c.up_to, c.up_to - c.log_start)));
    lines.push(format!("{:<28} {:<11} {:>8}", "GROUP", "CLASS", "COUNT"));
    lines.extend(counts.iter().map(|((g, c), n)| format!("{:<28} {c:<11} {n:>8}", clip(g, 28))));
    let partitions = json!(
        cuts.iter()
            .map(|c| json!({"partition": c.partition, "log_start": c.log_start, "delete_to": c.up_to, "records": c.up_to - c.log_start}))
            .collect::<Vec<_>>()
    );
    let mut value = json!({
        "executed": args.execute,
        "topic": topic,
        "before": before.to_rfc3339(),
        "records": total,
        "never_redriven": never_redriven,
        "partitions": partitions,
        "counts": counts.iter().map(|((g, c), n)| json!({"group": g, "error_class": c, "count": n})).collect::<Vec<_>>(),
    });
    let Some(client) = client else {
        lines.insert(
            0,
            format!(
                "dry run: {total} dead letter(s) on {topic} written before {} would be deleted ({never_redriven} never redriven); nothing changed (add --execute to apply)",
                before.to_rfc3339()
            ),
        );
        output.print(lines.join("\n"), value);
        return Ok(());
    };
    if total == 0 {
        lines.insert(0, format!("no dead letter on {topic} was written before {}; nothing changed", before.to_rfc3339()));
        output.print(lines.join("\n"), value);
        return Ok(());
    }

    let mut list = TopicPartitionList::new();
    for c in cuts.iter().filter(|c| c.up_to > c.log_start) {
        list.add_partition_offset(&topic, c.partition, Offset::Offset(c.up_to))?;
    }
    let admin: AdminClient<DefaultClientContext> =
        base_client_config(&kafka, "signalctl-admin").create().context("cannot create a Kafka admin client")?;
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    let result = admin.delete_records(&list, &options).await.with_context(|| format!("DeleteRecords on {topic} failed"))?;
    let mut problems = Vec::new();
    for e in result.elements() {
        if let Err(error) = e.error() {
            problems.push(format!("partition {}: {error}", e.partition()));
        }
    }
    let details = json!({"topic": topic, "before": before.to_rfc3339(), "records": total, "never_redriven": never_redriven,
                         "partitions": value["partitions"], "counts": value["counts"], "errors": problems});
    let actor = audit::actor(args.actor.clone());
    let entry = Entry { actor: &actor, action: "dlq.purge", target: &topic, tenants, details };
    let audit_id = audit::write(&client, entry).await.context("records were deleted, but the audit entry was not written")?;
    value["audit_id"] = json!(audit_id);
    if !problems.is_empty() {
        output.print(lines.join("\n"), value);
        bail!("DeleteRecords failed on {}", problems.join(", "));
    }
    lines.insert(0, format!("{total} dead letter(s) written before {} deleted from {topic} (audit entry {audit_id})", before.to_rfc3339()));
    output.print(lines.join("\n"), value);
    Ok(())
}
