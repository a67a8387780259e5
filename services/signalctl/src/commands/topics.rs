use anyhow::Context as _;
use clap::Subcommand;
use serde_json::json;
use signalops_platform::kafka::{TopicPlan, TopicReport, ensure_topics};

use super::Output;
use crate::CtlConfig;

#[derive(Debug, Subcommand)]
pub enum TopicsCommand {
    /// Create the configured topics that do not exist yet (partitions and
    /// retention from `kafka.partitions` / `kafka.retention_ms`, and
    /// `kafka.dlq_retention_ms` for the dead-letter topic).
    Ensure,
}

pub async fn run(command: TopicsCommand, output: Output) -> anyhow::Result<()> {
    match command {
        TopicsCommand::Ensure => ensure(output).await,
    }
}

async fn ensure(output: Output) -> anyhow::Result<()> {
    let config = CtlConfig::load()?;
    let kafka = config.require_kafka()?;
    let plans: Vec<TopicPlan> = kafka
        .topics
        .all()
        .iter()
        .map(|name| TopicPlan {
            name: (*name).to_owned(),
            partitions: kafka.partitions,
            replication_factor: kafka.replication_factor,
            retention_ms: if *name == kafka.topics.dlq || *name == kafka.topics.redrive {
                kafka.dlq_retention_ms
            } else {
                kafka.retention_ms
            },
        })
        .collect();
    let reports = ensure_topics(kafka, &plans)
        .await
        .with_context(|| format!("cannot manage topics on Kafka at {}; is the stack up? (make stack-up)", kafka.brokers))?;
    let mut lines = Vec::new();
    let mut values = Vec::new();
    for report in reports {
        match report {
            TopicReport::Created { name, partitions } => {
                lines.push(format!("created  {name} ({partitions} partitions)"));
                values.push(json!({"topic": name, "status": "created", "partitions": partitions}));
            }
            TopicReport::Exists { name, partitions } => {
                lines.push(format!("exists   {name} ({partitions} partitions)"));
                values.push(json!({"topic": name, "status": "exists", "partitions": partitions}));
            }
        }
    }
    output.print(lines.join("\n"), json!(values));
    Ok(())
}
