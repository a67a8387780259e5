//! Rebalance handling. Runs on the poll thread inside `poll()`, so it may
//! block on Postgres: on assignment it seeks to the offsets stored with the
//! effect; on revocation it applies what is buffered for the lost partitions
//! and commits before letting them go.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::FutureExt;
use rdkafka::client::ClientContext;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, RebalanceProtocol};
use rdkafka::statistics::Statistics;
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use rdkafka::types::RDKafkaRespErr;

use super::apply::Applier;
use super::buffers::{Buffers, PartitionKey};
use super::in_flight::InFlight;
use super::offsets;
use crate::metrics;

pub(crate) struct RuntimeContext {
    pub(crate) applier: Arc<Applier>,
    pub(crate) buffers: Arc<Mutex<Buffers>>,
    pub(crate) in_flight: InFlight,
    pub(crate) runtime: tokio::runtime::Handle,
    /// Partitions this member owns: librdkafka keeps reporting lag for
    /// partitions it gave away, which must not be exported.
    pub(crate) assigned: Mutex<std::collections::HashSet<PartitionKey>>,
}

impl ClientContext for RuntimeContext {
    fn stats(&self, statistics: Statistics) {
        let group = self.applier.settings.group_id.as_str();
        let assigned = self.assigned.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        for (topic, topic_stats) in &statistics.topics {
            for (partition, p) in &topic_stats.partitions {
                // -1 is librdkafka's internal UA partition; lag -1 means unknown.
                if *partition >= 0 && p.consumer_lag >= 0 && assigned.contains(&(topic.clone(), *partition)) {
                    metrics::consumer().lag.with_label_values(&[group, topic, &partition.to_string()]).set(p.consumer_lag);
                }
            }
        }
    }
}

impl ConsumerContext for RuntimeContext {
    fn rebalance(&self, consumer: &BaseConsumer<Self>, err: RDKafkaRespErr, tpl: &mut TopicPartitionList) {
        let cooperative = matches!(consumer.rebalance_protocol(), RebalanceProtocol::Cooperative);
        let group = self.applier.settings.group_id.as_str();
        match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => {
                metrics::consumer().rebalances.with_label_values(&[group, "assign"]).inc();
                self.seek_to_stored_offsets(tpl);
                self.assigned
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .extend(tpl.elements().iter().map(|e| (e.topic().to_owned(), e.partition())));
                let result = if cooperative { consumer.incremental_assign(tpl) } else { consumer.assign(tpl) };
                match result {
                    Ok(()) => tracing::info!(partitions = %describe(tpl), "partitions assigned"),
                    Err(error) => tracing::error!(%error, "assigning partitions failed"),
                }
            }
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => {
                metrics::consumer().rebalances.with_label_values(&[group, "revoke"]).inc();
                let keys: Vec<PartitionKey> = tpl.elements().iter().map(|e| (e.topic().to_owned(), e.partition())).collect();
                // Another member reports these partitions' lag from now on.
                let mut assigned = self.assigned.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                for (topic, partition) in &keys {
                    assigned.remove(&(topic.clone(), *partition));
                    let _ = metrics::consumer().lag.remove_label_values(&[group, topic, &partition.to_string()]);
                }
                drop(assigned);
                if consumer.assignment_lost() {
                    // Someone else may already own them: drop the buffer, the
                    // offset fence makes any late write a no-op anyway.
                    self.lock_buffers().take_partitions(&keys);
                    tracing::warn!(partitions = %describe(tpl), "assignment lost");
                } else {
                    self.drain(consumer, &keys);
                    tracing::info!(partitions = %describe(tpl), "partitions revoked after drain");
                }
                self.in_flight.forget(&keys);
                let result = if cooperative { consumer.incremental_unassign(tpl) } else { consumer.unassign() };
                if let Err(error) = result {
                    tracing::error!(%error, "unassigning partitions failed");
                }
            }
            other => {
                tracing::error!(error = ?other, "rebalance error");
                if !cooperative {
                    let _ = consumer.unassign();
                }
            }
        }
    }
}

impl RuntimeContext {
    pub(crate) fn lock_buffers(&self) -> std::sync::MutexGuard<'_, Buffers> {
        // The buffers hold plain data: a panic elsewhere cannot leave them
        // inconsistent, so a poisoned lock is still usable.
        self.buffers.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Sets each assigned partition's start offset to the one stored with the
    /// effect. Retries while Postgres is unreachable: starting anywhere else
    /// would only cost re-reads (the fence keeps effects exact), but it
    /// would make Kafka lag lie.
    fn seek_to_stored_offsets(&self, tpl: &mut TopicPartitionList) {
        let group = self.applier.settings.group_id.clone();
        let mut by_topic: std::collections::BTreeMap<String, Vec<i32>> = Default::default();
        for element in tpl.elements() {
            by_topic.entry(element.topic().to_owned()).or_default().push(element.partition());
        }
        let mut backoff = Duration::from_millis(100);
        let stored = loop {
            let result = self.runtime.block_on(async {
                let client = self.applier.pool.get().await?;
                let mut all = Vec::new();
                for (topic, partitions) in &by_topic {
                    for (partition, next) in offsets::load(&**client, &group, topic, partitions).await? {
                        all.push((topic.clone(), partition, next));
                    }
                }
                anyhow::Ok(all)
            });
            match result {
                Ok(stored) => break stored,
                Err(error) if !self.applier.shutdown.is_cancelled() => {
                    tracing::warn!(error = %format!("{error:#}"), "cannot read stored offsets; retrying");
                    std::thread::sleep(backoff);
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
                Err(_) => break Vec::new(),
            }
        };
        for (topic, partition, next) in stored {
            if let Err(error) = tpl.set_partition_offset(&topic, partition, Offset::Offset(next)) {
                tracing::error!(%error, topic, partition, "cannot set start offset");
            }
        }
    }

    /// Commits to Kafka the completions of partitions this member still
    /// owns. A batch that outlived its partition's revocation (the drain
    /// deadline passed) committed in Postgres, but Kafka's offset now belongs
    /// to the new owner, and an older one from here would overstate lag.
    pub(crate) fn commit_owned(&self, consumer: &BaseConsumer<Self>, mut committed: Vec<(PartitionKey, i64)>) {
        let assigned = self.assigned.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        committed.retain(|(key, _)| assigned.contains(key));
        drop(assigned);
        commit_to_kafka(consumer, &committed, CommitMode::Async);
    }

    /// Hands batches to tasks that apply them while the poll thread reads
    /// on; each reports its completion to `in_flight`.
    pub(crate) fn start(&self, batches: Vec<(PartitionKey, Vec<Record>)>) {
        for (key, records) in batches {
            let done = self.in_flight.begin(key.clone());
            let applier = Arc::clone(&self.applier);
            self.runtime.spawn(async move {
                // A panicking handler must not leave its partition busy forever.
                let applied = std::panic::AssertUnwindSafe(applier.apply(records, None)).catch_unwind().await;
                let _ = done.send((key, applied.ok().and_then(Result::ok)));
            });
        }
    }

    /// Waits for the batches in flight for `keys`, then applies what is
    /// buffered for them and commits it all to Kafka. A partition whose
    /// batch is still in flight at the deadline, or was abandoned, keeps its
    /// buffer unapplied: applying later records would skip that batch.
    fn drain(&self, consumer: &BaseConsumer<Self>, keys: &[PartitionKey]) {
        let deadline = Instant::now() + Duration::from_millis(self.applier.settings.drain_timeout_ms);
        let mut committed = self.in_flight.settle_partitions(keys, deadline);
        let batches = self.lock_buffers().take_partitions(keys);
        let (safe, unsafe_to_apply): (Vec<_>, Vec<_>) = batches.into_iter().partition(|(key, _)| !self.in_flight.is_blocked(key));
        if !unsafe_to_apply.is_empty() {
            tracing::warn!(
                partitions = unsafe_to_apply.len(),
                "revoked with a batch still in flight; its successors are left to the next owner"
            );
        }
        if !safe.is_empty() {
            committed.extend(self.runtime.block_on(apply_all(&self.applier, safe, Some(deadline))));
        }
        commit_to_kafka(consumer, &committed, CommitMode::Sync);
    }
}

/// Applies several partitions' batches concurrently; returns the next offsets
/// that were committed in Postgres.
pub(crate) async fn apply_all(
    applier: &Arc<Applier>,
    batches: Vec<(PartitionKey, Vec<Record>)>,
    deadline: Option<Instant>,
) -> Vec<(PartitionKey, i64)> {
    let tasks = batches.into_iter().map(|(key, records)| {
        let applier = Arc::clone(applier);
        async move { applier.apply(records, deadline).await.ok().map(|next| (key, next)) }
    });
    futures::future::join_all(tasks).await.into_iter().flatten().collect()
}

use super::Record;

/// Kafka commits follow Postgres commits, for lag tooling only.
pub(crate) fn commit_to_kafka<C: ConsumerContext>(consumer: &BaseConsumer<C>, committed: &[(PartitionKey, i64)], mode: CommitMode) {
    if committed.is_empty() {
        return;
    }
    let mut tpl = TopicPartitionList::with_capacity(committed.len());
    for ((topic, partition), next) in committed {
        if let Err(error) = tpl.add_partition_offset(topic, *partition, Offset::Offset(*next)) {
            tracing::warn!(%error, "cannot build commit list");
        }
    }
    if let Err(error) = consumer.commit(&tpl, mode) {
        tracing::debug!(%error, "kafka offset commit failed (postgres offsets remain authoritative)");
    }
}

fn describe(tpl: &TopicPartitionList) -> String {
    tpl.elements().iter().map(|e| format!("{}[{}]", e.topic(), e.partition())).collect::<Vec<_>>().join(",")
}
