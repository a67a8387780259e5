//! What a consumer group member tells `/readyz`: which partitions have been
//! retrying for too long, and whether Kafka has fenced it for good.
//!
//! A stall is never hidden: from its first transient failure a partition
//! shows in `signalops_consumer_partition_stalled_seconds`, the poll thread
//! pauses its fetching (so its buffer stays bounded), and past
//! `stall_alert_secs` the readiness check fails, naming it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;

use super::buffers::PartitionKey;
use crate::http::ReadinessCheck;
use crate::metrics;

#[derive(Default)]
struct State {
    stalled_since: HashMap<PartitionKey, Instant>,
    fatal: Option<String>,
}

/// Shared by a runtime's apply tasks, its poll thread and `/readyz`.
#[derive(Clone)]
pub struct ConsumerHealth {
    group: String,
    alert_after: Duration,
    state: Arc<Mutex<State>>,
}

impl ConsumerHealth {
    pub(crate) fn new(group: &str, alert_after: Duration) -> Self {
        Self { group: group.to_owned(), alert_after, state: Arc::default() }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // Plain maps: a panic elsewhere cannot leave them half-updated.
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A batch of `key` failed transiently; returns how long it has been stalled.
    pub(crate) fn stalled(&self, key: &PartitionKey) -> Duration {
        let since = *self.state().stalled_since.entry(key.clone()).or_insert_with(Instant::now);
        let stalled = since.elapsed();
        metrics::consumer().stalled_seconds.with_label_values(&[&self.group, &key.0, &key.1.to_string()]).set(stalled.as_secs_f64());
        stalled
    }

    /// A batch of `key` was applied (or the partition went away).
    pub(crate) fn recovered(&self, key: &PartitionKey) {
        if self.state().stalled_since.remove(key).is_some() {
            metrics::consumer().stalled_seconds.with_label_values(&[&self.group, &key.0, &key.1.to_string()]).set(0.0);
        }
    }

    /// Partitions retrying now, for the poll thread to pause.
    pub(crate) fn stalled_partitions(&self) -> Vec<PartitionKey> {
        self.state().stalled_since.keys().cloned().collect()
    }

    pub(crate) fn set_fatal(&self, reason: String) {
        self.state().fatal = Some(reason);
    }

    /// Partitions stalled for longer than the alert threshold, with how long.
    pub fn over_threshold(&self) -> Vec<(PartitionKey, Duration)> {
        let mut over: Vec<(PartitionKey, Duration)> = self
            .state()
            .stalled_since
            .iter()
            .map(|(key, since)| (key.clone(), since.elapsed()))
            .filter(|(_, stalled)| *stalled >= self.alert_after)
            .collect();
        over.sort();
        over
    }
}

#[async_trait]
impl ReadinessCheck for ConsumerHealth {
    fn name(&self) -> &'static str {
        "consumer"
    }

    fn public_detail(&self) -> bool {
        true
    }

    async fn check(&self) -> Result<(), String> {
        if let Some(reason) = self.state().fatal.clone() {
            return Err(format!("group {}: fatal Kafka error: {reason}", self.group));
        }
        let over = self.over_threshold();
        if over.is_empty() {
            return Ok(());
        }
        let partitions: Vec<String> =
            over.iter().map(|((topic, partition), d)| format!("{topic}[{partition}] for {}s", d.as_secs())).collect();
        Err(format!("group {}: stalled partitions: {}", self.group, partitions.join(", ")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_stall_fails_readiness_only_past_the_threshold_and_clears_on_recovery() {
        let health = ConsumerHealth::new("g", Duration::from_millis(20));
        let key = ("t".to_owned(), 4);
        health.stalled(&key);
        assert!(health.check().await.is_ok(), "a fresh stall is not yet an alert");
        let deadline = Instant::now() + Duration::from_secs(5);
        while health.over_threshold().is_empty() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let error = health.check().await.expect_err("past the threshold");
        assert!(error.contains("t[4]"), "{error}");
        health.recovered(&key);
        assert!(health.check().await.is_ok());
        assert!(health.stalled_partitions().is_empty());
    }

    #[tokio::test]
    async fn a_fatal_error_fails_readiness() {
        let health = ConsumerHealth::new("g", Duration::from_secs(60));
        health.set_fatal("fenced".into());
        assert!(health.check().await.expect_err("fatal").contains("fenced"));
    }
}
