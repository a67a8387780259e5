//! Topic management for `signalctl topics ensure` and broker checks.

use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};

use super::client_config::base_client_config;
use crate::config::KafkaSettings;

#[derive(Debug, Clone)]
pub struct TopicPlan {
    pub name: String,
    pub partitions: i32,
    pub replication_factor: i32,
    pub retention_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TopicReport {
    Created { name: String, partitions: i32 },
    Exists { name: String, partitions: usize },
}

/// Creates the topics that do not exist yet; existing ones are left as they
/// are (raising partitions changes key→partition mapping, so it is a
/// deliberate operator action, see docs/operations.md).
pub async fn ensure_topics(settings: &KafkaSettings, plans: &[TopicPlan]) -> Result<Vec<TopicReport>, KafkaError> {
    let admin: AdminClient<DefaultClientContext> = base_client_config(settings, "signalctl-admin").create()?;
    let existing = existing_partitions(settings, plans).await?;
    let to_create: Vec<&TopicPlan> = plans.iter().filter(|p| !existing.iter().any(|(n, _)| n == &p.name)).collect();
    let retention: Vec<String> = to_create.iter().map(|p| p.retention_ms.to_string()).collect();
    let new_topics: Vec<NewTopic<'_>> = to_create
        .iter()
        .zip(&retention)
        .map(|(p, retention)| {
            NewTopic::new(&p.name, p.partitions, TopicReplication::Fixed(p.replication_factor)).set("retention.ms", retention)
        })
        .collect();
    let mut reports: Vec<TopicReport> = existing.into_iter().map(|(name, partitions)| TopicReport::Exists { name, partitions }).collect();
    if !new_topics.is_empty() {
        let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
        for result in admin.create_topics(&new_topics, &options).await? {
            match result {
                Ok(name) => {
                    let partitions = to_create.iter().find(|p| p.name == name).map_or(0, |p| p.partitions);
                    reports.push(TopicReport::Created { name, partitions });
                }
                // Another process created it between our check and our create.
                Err((name, RDKafkaErrorCode::TopicAlreadyExists)) => reports.push(TopicReport::Exists { name, partitions: 0 }),
                Err((_, code)) => return Err(KafkaError::AdminOp(code)),
            }
        }
    }
    Ok(reports)
}

async fn existing_partitions(settings: &KafkaSettings, plans: &[TopicPlan]) -> Result<Vec<(String, usize)>, KafkaError> {
    let settings = settings.clone();
    let names: Vec<String> = plans.iter().map(|p| p.name.clone()).collect();
    tokio::task::spawn_blocking(move || {
        let consumer: BaseConsumer = base_client_config(&settings, "signalctl-admin").create()?;
        let metadata = consumer.fetch_metadata(None, Duration::from_secs(10))?;
        Ok(metadata
            .topics()
            .iter()
            .filter(|t| names.iter().any(|n| n == t.name()))
            .map(|t| (t.name().to_owned(), t.partitions().len()))
            .collect())
    })
    .await
    .map_err(|_| KafkaError::Canceled)?
}

/// Fetches cluster metadata: proves the brokers are reachable.
pub async fn check_broker(settings: &KafkaSettings, timeout: Duration) -> Result<usize, KafkaError> {
    let settings = settings.clone();
    tokio::task::spawn_blocking(move || {
        let consumer: BaseConsumer = base_client_config(&settings, "signalops-readiness").create()?;
        let metadata = consumer.fetch_metadata(None, timeout)?;
        Ok(metadata.brokers().len())
    })
    .await
    .map_err(|_| KafkaError::Canceled)?
}
