//! Rebalance handling. Runs on the poll thread inside `poll()`, so it may
//! block on Postgres: on assignment it seeks to the offsets stored with the
//! effect; on revocation it applies what is buffered for the lost partitions
//! and commits before letting them go.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::FutureExt;
use rdkafka::client::ClientContext;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, RebalanceProtocol};
use rdkafka::error::KafkaResult;
use rdkafka::statistics::Statistics;
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use rdkafka::types::RDKafkaRespErr;

use super::apply::{Applier, Outcome};
use super::buffers::{Buffers, PartitionKey};
use super::in_flight::InFlight;
use super::kafka_commits::KafkaCommits;
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
    /// Per partition, the low watermark found past its stored offset: the
    /// records in between were deleted by retention, so starting there is
    /// no gap (see `Slice::floor`).
    pub(crate) floors: Mutex<std::collections::HashMap<PartitionKey, i64>>,
    /// Partitions paused in librdkafka while their batch is stalled.
    pub(crate) paused: Mutex<std::collections::HashSet<PartitionKey>>,
    /// Offsets owed to Kafka, sent until confirmed. They include the
    /// stored offsets of partitions just assigned: a partition whose last
    /// batch committed in Postgres under an owner that could no longer
    /// commit to Kafka (fenced, or revoked past its drain) would otherwise
    /// show lag that no record will ever clear.
    pub(crate) kafka_commits: Mutex<KafkaCommits>,
}

impl ClientContext for RuntimeContext {
    fn stats(&self, statistics: Statistics) {
        let group = self.applier.settings.group_id.as_str();
        let assigned = lock(&self.assigned);
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
    fn commit_callback(&self, result: KafkaResult<()>, offsets: &TopicPartitionList) {
        if let Err(error) = result {
            // Offered again by `report_to_kafka`.
            tracing::debug!(%error, "kafka offset commit refused (postgres offsets remain authoritative)");
            return;
        }
        let mut commits = lock(&self.kafka_commits);
        for element in offsets.elements() {
            if let (Ok(()), Offset::Offset(next)) = (element.error(), element.offset()) {
                commits.confirmed(&(element.topic().to_owned(), element.partition()), next);
            }
        }
    }

    fn rebalance(&self, consumer: &BaseConsumer<Self>, err: RDKafkaRespErr, tpl: &mut TopicPartitionList) {
        let cooperative = matches!(consumer.rebalance_protocol(), RebalanceProtocol::Cooperative);
        let group = self.applier.settings.group_id.as_str();
        match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => {
                metrics::consumer().rebalances.with_label_values(&[group, "assign"]).inc();
                let stored = self.seek_to_stored_offsets(tpl);
                let mut commits = lock(&self.kafka_commits);
                for (key, next) in stored {
                    commits.assigned(key, next);
                }
                drop(commits);
                let keys: Vec<PartitionKey> = tpl.elements().iter().map(|e| (e.topic().to_owned(), e.partition())).collect();
                self.applier.deadlines.clear_partitions(&keys);
                // A new assignment starts from the stored offsets: nothing
                // abandoned or refused under an earlier one holds it back.
                self.in_flight.forget(&keys);
                lock(&self.assigned).extend(keys);
                let result = if cooperative { consumer.incremental_assign(tpl) } else { consumer.assign(tpl) };
                match result {
                    Ok(()) => tracing::info!(partitions = %describe(tpl), "partitions assigned"),
                    Err(error) => tracing::error!(%error, "assigning partitions failed"),
                }
            }
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => {
                metrics::consumer().rebalances.with_label_values(&[group, "revoke"]).inc();
                let keys: Vec<PartitionKey> = tpl.elements().iter().map(|e| (e.topic().to_owned(), e.partition())).collect();
                if consumer.assignment_lost() {
                    // Someone else may already own them: drop the buffer, the
                    // offset fence makes any late write a no-op anyway.
                    self.lock_buffers().take_partitions(&keys);
                    tracing::warn!(partitions = %describe(tpl), "assignment lost");
                } else {
                    self.drain(consumer, &keys);
                    tracing::info!(partitions = %describe(tpl), "partitions revoked after drain");
                }
                // Another member owns, reports and retries these from now on.
                let mut assigned = lock(&self.assigned);
                let mut paused = lock(&self.paused);
                let mut floors = lock(&self.floors);
                for key in &keys {
                    assigned.remove(key);
                    paused.remove(key);
                    floors.remove(key);
                    self.applier.health.recovered(key);
                    let _ = metrics::consumer().lag.remove_label_values(&[group, &key.0, &key.1.to_string()]);
                }
                drop((assigned, paused, floors));
                self.in_flight.forget(&keys);
                lock(&self.kafka_commits).forget(&keys);
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
    fn seek_to_stored_offsets(&self, tpl: &mut TopicPartitionList) -> Vec<(PartitionKey, i64)> {
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
        let mut set = Vec::with_capacity(stored.len());
        for (topic, partition, next) in stored {
            match tpl.set_partition_offset(&topic, partition, Offset::Offset(next)) {
                Ok(()) => set.push(((topic, partition), next)),
                Err(error) => tracing::error!(%error, topic, partition, "cannot set start offset"),
            }
        }
        set
    }

    /// Sends Kafka the offsets it has not confirmed yet, asynchronously.
    pub(crate) fn report_to_kafka(&self, consumer: &BaseConsumer<Self>) {
        let due = lock(&self.kafka_commits).due(Instant::now());
        self.commit_owned(consumer, due, CommitMode::Async);
    }

    /// Records the completions of partitions this member still owns as owed
    /// to Kafka, and sends what is due.
    pub(crate) fn owe_and_report(&self, consumer: &BaseConsumer<Self>, committed: Vec<(PartitionKey, i64)>) {
        let mut commits = lock(&self.kafka_commits);
        for (key, next) in committed {
            commits.owe(key, next);
        }
        drop(commits);
        self.report_to_kafka(consumer);
    }

    /// Commits to Kafka the completions of partitions this member still
    /// owns. A batch that outlived its partition's revocation (the drain
    /// deadline passed) committed in Postgres, but Kafka's offset now belongs
    /// to the new owner, and an older one from here would overstate lag.
    pub(crate) fn commit_owned(&self, consumer: &BaseConsumer<Self>, mut committed: Vec<(PartitionKey, i64)>, mode: CommitMode) {
        let assigned = lock(&self.assigned);
        committed.retain(|(key, _)| assigned.contains(key));
        drop(assigned);
        commit_to_kafka(consumer, &committed, mode);
    }

    /// Seeks partitions whose batch was refused for starting past the
    /// stored offset back to that offset, dropping what was read after it.
    /// When the broker no longer has the records there (retention deleted
    /// them), the partition goes on from its earliest record, loudly.
    pub(crate) fn seek_back_over_gaps(&self, consumer: &BaseConsumer<Self>) {
        let group = self.applier.settings.group_id.as_str();
        for (key, (stored, first)) in self.in_flight.gaps() {
            if !lock(&self.assigned).contains(&key) {
                self.in_flight.gap_closed(&key);
                continue;
            }
            let (topic, partition) = (key.0.as_str(), key.1);
            let low = match consumer.fetch_watermarks(topic, partition, Duration::from_secs(5)) {
                Ok((low, _)) => low,
                Err(error) => {
                    tracing::warn!(%error, topic, partition, "cannot read watermarks to seek back over a gap; retrying");
                    continue;
                }
            };
            let target = if low > stored {
                tracing::error!(
                    group,
                    topic,
                    partition,
                    stored,
                    earliest = low,
                    "records from the stored offset to the earliest one were deleted by retention before this group applied them; going on from the earliest"
                );
                lock(&self.floors).insert(key.clone(), low);
                low
            } else {
                metrics::consumer().gaps.with_label_values(&[group]).inc();
                tracing::error!(
                    group,
                    topic,
                    partition,
                    stored,
                    first,
                    "internal error: a batch started past the stored offset; refused it and re-reading from the stored offset"
                );
                stored
            };
            self.lock_buffers().take_partitions(std::slice::from_ref(&key));
            match consumer.seek(topic, partition, Offset::Offset(target), Duration::from_secs(5)) {
                Ok(()) => self.in_flight.gap_closed(&key),
                Err(error) => tracing::warn!(%error, topic, partition, "seeking back over a gap failed; retrying"),
            }
        }
    }

    /// Pauses fetching for partitions whose batch is stalled, and resumes
    /// them once it applies, so a stalled partition's buffer stays bounded.
    pub(crate) fn pause_stalled(&self, consumer: &BaseConsumer<Self>) {
        let stalled: std::collections::HashSet<PartitionKey> = self.applier.health.stalled_partitions().into_iter().collect();
        // Called on every poll: nothing stalled and nothing paused is the
        // usual case, and costs no copy of the assignment.
        if stalled.is_empty() && lock(&self.paused).is_empty() {
            return;
        }
        let assigned = lock(&self.assigned).clone();
        let mut paused = lock(&self.paused);
        let to_pause: Vec<PartitionKey> = stalled.iter().filter(|k| assigned.contains(*k) && !paused.contains(*k)).cloned().collect();
        let to_resume: Vec<PartitionKey> = paused.iter().filter(|k| !stalled.contains(*k)).cloned().collect();
        if !to_pause.is_empty() {
            match consumer.pause(&partition_list(&to_pause)) {
                Ok(()) => {
                    tracing::warn!(partitions = ?to_pause, "paused fetching for stalled partitions");
                    paused.extend(to_pause);
                }
                Err(error) => tracing::warn!(%error, "pausing stalled partitions failed"),
            }
        }
        if !to_resume.is_empty() {
            let owned: Vec<PartitionKey> = to_resume.iter().filter(|k| assigned.contains(*k)).cloned().collect();
            if let Err(error) = consumer.resume(&partition_list(&owned)) {
                tracing::warn!(%error, "resuming partitions failed");
            } else {
                for key in &to_resume {
                    paused.remove(key);
                }
                tracing::info!(partitions = ?owned, "resumed fetching");
            }
        }
    }

    /// Hands batches to tasks that apply them while the poll thread reads
    /// on; each reports its completion to `in_flight`.
    pub(crate) fn start(&self, batches: Vec<(PartitionKey, Vec<Record>)>) {
        for (key, records) in batches {
            let done = self.in_flight.begin(key.clone());
            let applier = Arc::clone(&self.applier);
            let floor = lock(&self.floors).get(&key).copied();
            self.runtime.spawn(async move {
                // Handler panics are caught per attempt; this guards the
                // runtime's own code, so a partition is never left busy.
                let outcome = std::panic::AssertUnwindSafe(applier.apply(records, floor)).catch_unwind().await;
                done.finish(outcome.unwrap_or(Outcome::Abandoned));
            });
        }
    }

    /// Waits for the batches in flight for `keys`, then applies what is
    /// buffered for them and commits it all to Kafka. A partition whose
    /// batch is still in flight at the deadline, or was abandoned, keeps its
    /// buffer unapplied: applying later records would skip that batch.
    fn drain(&self, consumer: &BaseConsumer<Self>, keys: &[PartitionKey]) {
        // The revocation that leaving the group causes at shutdown shares
        // the shutdown's deadline: one drain period in all, not two.
        let own = Instant::now() + Duration::from_millis(self.applier.settings.drain_timeout_ms);
        let deadline = self.applier.deadlines.all().map_or(own, |all| all.min(own));
        self.applier.deadlines.set_partitions(keys, deadline);
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
            let floors = lock(&self.floors).clone();
            committed.extend(self.runtime.block_on(apply_all(&self.applier, safe, &floors)));
        }
        // Still owned until this callback returns.
        self.commit_owned(consumer, committed, CommitMode::Sync);
    }
}

/// The runtime's sets and maps hold plain data: a panic elsewhere cannot
/// leave them inconsistent, so a poisoned lock is still usable.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Applies several partitions' batches concurrently (within the drain
/// deadlines already set); returns the next offsets committed in Postgres.
pub(crate) async fn apply_all(
    applier: &Arc<Applier>,
    batches: Vec<(PartitionKey, Vec<Record>)>,
    floors: &std::collections::HashMap<PartitionKey, i64>,
) -> Vec<(PartitionKey, i64)> {
    let tasks = batches.into_iter().map(|(key, records)| {
        let applier = Arc::clone(applier);
        let floor = floors.get(&key).copied();
        async move {
            match applier.apply(records, floor).await {
                Outcome::Committed(next) => Some((key, next)),
                Outcome::Gap { .. } | Outcome::Abandoned => None,
            }
        }
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

fn partition_list(keys: &[PartitionKey]) -> TopicPartitionList {
    let mut tpl = TopicPartitionList::with_capacity(keys.len());
    for (topic, partition) in keys {
        tpl.add_partition(topic, *partition);
    }
    tpl
}

fn describe(tpl: &TopicPartitionList) -> String {
    tpl.elements().iter().map(|e| format!("{}[{}]", e.topic(), e.partition())).collect::<Vec<_>>().join(",")
}
