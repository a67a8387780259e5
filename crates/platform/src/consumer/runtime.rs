//! The poll loop. It runs on a blocking thread that owns the Kafka consumer,
//! so rebalance callbacks (which fire inside `poll`) can wait for Postgres.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use deadpool_postgres::Pool;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::error::KafkaError;
use tokio_util::sync::CancellationToken;

use super::apply::{Applier, Deadlines};
use super::buffers::{Buffers, PartitionKey};
use super::context::{RuntimeContext, apply_all, lock};
use super::health::ConsumerHealth;
use super::in_flight::InFlight;
use super::{BatchHandler, DeadLetterSink, Record};
use crate::config::{ConsumerSettings, KafkaSettings};
use crate::kafka::base_client_config;

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("kafka consumer for group {group}: {source}")]
    Kafka { group: String, source: KafkaError },
    /// Kafka will not let this member go on (a static member fenced by
    /// another with the same `group.instance.id`, say).
    #[error("group {group}: fatal Kafka error, the member stops: {reason}")]
    Fatal { group: String, reason: String },
    #[error("consumer thread failed: {0}")]
    Thread(String),
}

/// A consumer group member that applies records through a `BatchHandler`.
pub struct ConsumerRuntime {
    kafka: KafkaSettings,
    settings: ConsumerSettings,
    topics: Vec<String>,
    pool: Pool,
    handler: Arc<dyn BatchHandler>,
    dead_letters: DeadLetterSink,
    redrive_topic: Option<String>,
    health: ConsumerHealth,
}

impl ConsumerRuntime {
    pub fn new(
        kafka: KafkaSettings,
        settings: ConsumerSettings,
        topics: Vec<String>,
        pool: Pool,
        handler: Arc<dyn BatchHandler>,
        dead_letters: DeadLetterSink,
    ) -> Self {
        let health = ConsumerHealth::new(&settings.group_id, Duration::from_secs(settings.stall_alert_secs));
        Self { kafka, settings, topics, pool, handler, dead_letters, redrive_topic: None, health }
    }

    /// Also reads `topic` for dead letters redriven to this group (see
    /// `dead_letter`), applying each at most once.
    #[must_use]
    pub fn with_redrive_topic(mut self, topic: impl Into<String>) -> Self {
        self.redrive_topic = Some(topic.into());
        self
    }

    /// The member's readiness: add it to the service's `/readyz` checks.
    pub fn health(&self) -> ConsumerHealth {
        self.health.clone()
    }

    /// Consumes until `shutdown` is cancelled, then drains: buffered records
    /// are applied and offsets committed within `drain_timeout_ms`, and the
    /// member leaves the group. Returns `RuntimeError::Fatal` when Kafka
    /// fences the member; the service should exit.
    pub async fn run(self, shutdown: CancellationToken) -> Result<(), RuntimeError> {
        let runtime = tokio::runtime::Handle::current();
        tokio::task::spawn_blocking(move || self.run_blocking(runtime, shutdown)).await.map_err(|e| RuntimeError::Thread(e.to_string()))?
    }

    fn run_blocking(self, runtime: tokio::runtime::Handle, shutdown: CancellationToken) -> Result<(), RuntimeError> {
        let group = self.settings.group_id.clone();
        let kafka_error = |source| RuntimeError::Kafka { group: group.clone(), source };
        let mut topics = self.topics.clone();
        topics.extend(self.redrive_topic.iter().filter(|t| !self.topics.contains(t)).cloned());
        let applier = Arc::new(Applier {
            settings: self.settings.clone(),
            pool: self.pool,
            handler: self.handler,
            dead_letters: self.dead_letters,
            shutdown: shutdown.clone(),
            health: self.health.clone(),
            redrive_topic: self.redrive_topic,
            deadlines: Deadlines::default(),
        });
        let buffers =
            Arc::new(Mutex::new(Buffers::new(self.settings.batch_max_records, Duration::from_millis(self.settings.batch_max_wait_ms))));
        let context = RuntimeContext {
            applier: Arc::clone(&applier),
            buffers: Arc::clone(&buffers),
            in_flight: InFlight::new(),
            runtime: runtime.clone(),
            assigned: Mutex::default(),
            floors: Mutex::default(),
            paused: Mutex::default(),
            kafka_commits: Mutex::default(),
        };
        let consumer: BaseConsumer<RuntimeContext> =
            consumer_config(&self.kafka, &self.settings).create_with_context(context).map_err(kafka_error)?;
        let names: Vec<&str> = topics.iter().map(String::as_str).collect();
        consumer.subscribe(&names).map_err(kafka_error)?;
        tracing::info!(group, topics = ?topics, instance = ?self.settings.instance_id, "consumer started");

        // Batches are applied by tasks while this thread keeps polling, so
        // librdkafka's (small) prefetch queue never runs dry behind a slow
        // batch. `budget` bounds what waits here meanwhile: two batches'
        // worth, so each partition's next batch is ready when a slot frees
        // and no more is held in memory (ADR 0014). Records of stalled
        // (paused) partitions do not count, so one stalled partition never
        // stops the others.
        let concurrency = self.settings.apply_concurrency;
        let budget = self.settings.batch_max_records.saturating_mul(2);
        let mut fatal = None;
        while !shutdown.is_cancelled() {
            let context = consumer.context();
            context.owe_and_report(&consumer, context.in_flight.settle_ready());
            context.seek_back_over_gaps(&consumer);
            context.pause_stalled(&consumer);
            // Usually empty: then nothing is copied on this poll.
            let paused = Some(lock(&context.paused)).filter(|p| !p.is_empty()).map(|p| p.clone()).unwrap_or_default();
            let blocked = |key: &PartitionKey| paused.contains(key) || context.in_flight.is_blocked(key);
            let slots = concurrency.saturating_sub(context.in_flight.count());
            let now = Instant::now();
            let (ready, buffered, due) = {
                let mut buffers = context.lock_buffers();
                let ready = buffers.take_ready(now, blocked, slots);
                (ready, buffers.len_where(|key| !paused.contains(key)), buffers.time_until_due(now, blocked))
            };
            let started = ready.len();
            context.start(ready);
            if buffered >= budget {
                // Over budget: read no further until a batch commits.
                if context.in_flight.count() > 0 {
                    context.owe_and_report(&consumer, context.in_flight.settle_one(Instant::now() + IDLE_FLUSH * 20));
                    continue;
                }
                let largest = context.lock_buffers().take_largest(blocked, concurrency);
                if !largest.is_empty() {
                    context.start(largest);
                    continue;
                }
            }
            // With records buffered, wait at most IDLE_FLUSH for more: when
            // nothing arrives in that time the traffic is light, and the
            // batches go now instead of after batch_max_wait_ms. Under a
            // backlog records keep coming, so batches still fill up. With
            // batches in flight, look for their completions as often.
            let wait = match due {
                Some(due) => due.min(IDLE_FLUSH),
                None if started > 0 || context.in_flight.count() > 0 => IDLE_FLUSH,
                None => Duration::from_millis(100),
            };
            match consumer.poll(wait) {
                Some(Ok(message)) => context.lock_buffers().push(Record::from_message(&message)),
                Some(Err(KafkaError::MessageConsumptionFatal(code))) => {
                    let reason = consumer.client().fatal_error().map_or_else(|| code.to_string(), |(_, reason)| reason);
                    // /readyz fails from here on, before the process exits.
                    self.health.set_fatal(reason.clone());
                    tracing::error!(group, %reason, "fatal Kafka error; the member stops without draining");
                    fatal = Some(reason);
                    break;
                }
                Some(Err(error)) => tracing::warn!(%error, "kafka consumer error"),
                None => {
                    let slots = concurrency.saturating_sub(context.in_flight.count());
                    let idle = context.lock_buffers().take_largest(blocked, slots);
                    context.start(idle);
                }
            }
        }
        if let Some(reason) = fatal {
            // Fenced: the partitions belong to another member, and Kafka
            // refuses this one's commits. Batches in flight still hit the
            // offset fence, so whatever they do is safe.
            shutdown.cancel();
            return Err(RuntimeError::Fatal { group, reason });
        }

        // Drain: batches in flight finish, what is buffered gets applied
        // (bounded), all is committed, and the member leaves so its
        // partitions move on at once.
        let deadline = Instant::now() + Duration::from_millis(self.settings.drain_timeout_ms);
        applier.deadlines.set_all(deadline);
        let context = consumer.context();
        let mut committed = context.in_flight.settle_all(deadline);
        let (rest, held): (Vec<_>, Vec<_>) =
            context.lock_buffers().take_all().into_iter().partition(|(key, _)| !context.in_flight.is_blocked(key));
        if !held.is_empty() {
            // Their earlier batch did not commit: applying these would skip it.
            tracing::warn!(partitions = held.len(), "records left unapplied behind an unfinished batch; the next owner reads them again");
        }
        let pending = rest.iter().map(|(_, r)| r.len()).sum::<usize>();
        let floors = lock(&context.floors).clone();
        committed.extend(runtime.block_on(apply_all(&applier, rest, &floors)));
        context.commit_owned(&consumer, committed, CommitMode::Sync);
        if self.settings.instance_id.is_none() {
            // Leave the group now so the partitions move on at once. A static
            // member instead keeps its assignment until the session timeout,
            // so a restart within it resumes without a rebalance.
            consumer.unsubscribe();
            let _ = consumer.poll(Duration::from_millis(100));
        }
        tracing::info!(group, drained = pending, "consumer stopped");
        Ok(())
    }
}

/// How long a partial batch waits for another record before it is applied
/// anyway: the latency a record pays when traffic is light.
const IDLE_FLUSH: Duration = Duration::from_millis(5);

/// One fetch response fills about two partitions' prefetch queues, never
/// less than the largest record the broker accepts by default (1 MB).
fn fetch_max_bytes(prefetch_kbytes: u32) -> u32 {
    (prefetch_kbytes.saturating_mul(2 * 1024)).clamp(1_048_576, 64 * 1_048_576)
}

fn consumer_config(kafka: &KafkaSettings, settings: &ConsumerSettings) -> rdkafka::ClientConfig {
    let client_id = settings.instance_id.clone().unwrap_or_else(|| settings.group_id.clone());
    let mut config = base_client_config(kafka, &client_id);
    config
        .set("group.id", &settings.group_id)
        .set("partition.assignment.strategy", "cooperative-sticky")
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("session.timeout.ms", settings.session_timeout_ms.to_string())
        .set("heartbeat.interval.ms", (settings.session_timeout_ms / 10).max(1_000).to_string())
        .set("statistics.interval.ms", "5000")
        .set("enable.partition.eof", "false")
        // librdkafka prefetches up to 100,000 records (64 MiB) per partition
        // by default: with 12 partitions that is most of a gigabyte. A small
        // queue trades some catch-up rate for bounded memory (ADR 0013).
        .set("queued.min.messages", (settings.batch_max_records * 4).clamp(1_000, 100_000).to_string())
        .set("queued.max.messages.kbytes", settings.prefetch_kbytes.to_string())
        .set("fetch.max.bytes", fetch_max_bytes(settings.prefetch_kbytes).to_string())
        // A queue that small drains in milliseconds; librdkafka's default
        // second of back-off after finding it full would leave the
        // partition unfetched meanwhile (ADR 0017).
        .set("fetch.queue.backoff.ms", settings.fetch_backoff_ms.to_string());
    if let Some(instance) = &settings.instance_id {
        config.set("group.instance.id", instance);
    }
    config
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fetch_fills_two_prefetch_queues_and_never_drops_below_the_broker_record_limit() {
        assert_eq!(fetch_max_bytes(1024), 2 * 1_048_576);
        assert_eq!(fetch_max_bytes(64), 1_048_576);
        assert_eq!(fetch_max_bytes(2_097_151), 64 * 1_048_576);
    }

    #[test]
    fn the_prefetch_setting_reaches_librdkafka() {
        let settings = ConsumerSettings { prefetch_kbytes: 2048, ..ConsumerSettings::for_group("g") };
        let config = consumer_config(&KafkaSettings::default(), &settings);
        assert_eq!(config.get("queued.max.messages.kbytes"), Some("2048"));
        assert_eq!(config.get("fetch.max.bytes"), Some("4194304"));
        assert_eq!(config.get("fetch.queue.backoff.ms"), Some("10"));
    }
}
