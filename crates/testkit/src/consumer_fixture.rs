//! A consumer group under test: a fresh database with the probe table, a
//! fresh topic and dead-letter topic, a random group, and ways to run
//! members in this process or in their own (so they can be killed,
//! stopped and continued), and to count what they did.

use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use signalops_platform::config::ConsumerSettings;
use signalops_platform::consumer::{BatchHandler, ConsumerHealth, ConsumerRuntime, DeadLetterSink};
use signalops_platform::kafka::{Delivered, EventProducer, OutgoingRecord};
use signalops_platform::postgres;
use tokio_util::sync::CancellationToken;

use crate::quiescence::GroupProgress;
use crate::{PROBE_TABLE_SQL, TestDatabase, TestStack, eventually};

pub async fn fixture(partitions: i32) -> Fixture {
    let stack = TestStack::attach();
    let db = stack.fresh_database().await.expect("database");
    db.owner().await.expect("owner").batch_execute(PROBE_TABLE_SQL).await.expect("probe table");
    let topic = stack.topic("runtime", partitions).await.expect("topic");
    let dlq = stack.topic("dlq", 1).await.expect("dlq topic");
    let producer = EventProducer::new(&stack.kafka_settings(), "runtime-test").expect("producer");
    let group = format!("test-group-{}", uuid::Uuid::new_v4().simple());
    Fixture { stack, db, topic, dlq, group, producer, partitions }
}

/// A member running in this process: its task, its stop token, its health.
pub struct Member {
    pub task: tokio::task::JoinHandle<Result<(), signalops_platform::consumer::RuntimeError>>,
    pub stop: CancellationToken,
    pub health: ConsumerHealth,
    /// A test that fails before stopping its member still stops it, so the
    /// poll thread ends and the test's runtime can shut down.
    _stop_on_drop: tokio_util::sync::DropGuard,
}

pub async fn stop(member: Member) {
    member.stop.cancel();
    tokio::time::timeout(Duration::from_secs(20), member.task).await.expect("drained in time").expect("member task").expect("runtime ran");
}

pub struct Fixture {
    pub stack: TestStack,
    pub db: TestDatabase,
    pub topic: String,
    pub dlq: String,
    pub group: String,
    pub producer: EventProducer,
    pub partitions: i32,
}

impl Fixture {
    pub async fn produce(&self, payloads: impl IntoIterator<Item = String>) -> Vec<Delivered> {
        let records: Vec<OutgoingRecord> = payloads
            .into_iter()
            .enumerate()
            .map(|(i, payload)| OutgoingRecord {
                topic: self.topic.clone(),
                key: Some(format!("tenant-{}", i % 17).into_bytes()),
                payload: payload.into_bytes(),
                headers: vec![],
            })
            .collect();
        self.producer.send_all(records).await.into_iter().map(|r| r.expect("delivered")).collect()
    }

    pub async fn produce_n(&self, n: usize) -> Vec<Delivered> {
        self.produce((0..n).map(|i| format!("record-{i}"))).await
    }

    pub fn member(&self, handler: impl BatchHandler) -> Member {
        self.member_with(handler, |_| {})
    }

    pub fn member_with_instance(&self, handler: impl BatchHandler, instance_id: Option<&str>) -> Member {
        self.member_with(handler, |settings| settings.instance_id = instance_id.map(str::to_owned))
    }

    pub fn member_with(&self, handler: impl BatchHandler, adjust: impl FnOnce(&mut ConsumerSettings)) -> Member {
        self.member_on(postgres::connect_pool(&self.db.settings()).expect("pool"), handler, adjust, |runtime| runtime)
    }

    /// A member with its own pool (through a relay, say) and any further
    /// set-up of the runtime (a redrive topic, say).
    pub fn member_on(
        &self,
        pool: postgres::Pool,
        handler: impl BatchHandler,
        adjust: impl FnOnce(&mut ConsumerSettings),
        build: impl FnOnce(ConsumerRuntime) -> ConsumerRuntime,
    ) -> Member {
        let mut settings = ConsumerSettings {
            batch_max_records: 100,
            session_timeout_ms: 10_000,
            drain_timeout_ms: 5_000,
            ..ConsumerSettings::for_group(self.group.clone())
        };
        adjust(&mut settings);
        let runtime = build(ConsumerRuntime::new(
            self.stack.kafka_settings(),
            settings,
            vec![self.topic.clone()],
            pool,
            Arc::new(handler),
            DeadLetterSink::new(self.producer.clone(), self.dlq.clone()),
        ));
        let health = runtime.health();
        let stop = CancellationToken::new();
        let task = tokio::spawn(runtime.run(stop.clone()));
        Member { task, _stop_on_drop: stop.clone().drop_guard(), stop, health }
    }

    /// (rows, distinct (partition, offset) pairs)
    pub async fn counts(&self) -> (i64, i64) {
        let owner = self.db.owner().await.expect("owner");
        let row = owner
            .query_one("SELECT count(*), count(DISTINCT (partition, kafka_offset)) FROM probe_rows WHERE topic = $1", &[&self.topic])
            .await
            .expect("count");
        (row.try_get(0).expect("count"), row.try_get(1).expect("count"))
    }

    pub async fn wait_for_rows(&self, n: i64, timeout: Duration) -> (i64, i64) {
        eventually(timeout, || async {
            let counts = self.counts().await;
            (counts.0 >= n).then_some(counts)
        })
        .await
        .unwrap_or(self.counts().await)
    }

    pub async fn rows_by_member(&self) -> Vec<(String, i64)> {
        let owner = self.db.owner().await.expect("owner");
        owner
            .query("SELECT written_by, count(*) FROM probe_rows GROUP BY 1 ORDER BY 1", &[])
            .await
            .expect("by member")
            .iter()
            .map(|r| (r.try_get(0).expect("member"), r.try_get(1).expect("count")))
            .collect()
    }

    pub async fn stored_offsets_total(&self) -> i64 {
        let owner = self.db.owner().await.expect("owner");
        owner
            .query_one("SELECT coalesce(sum(next_offset), 0)::bigint FROM consumer_offsets WHERE group_id = $1", &[&self.group])
            .await
            .expect("offsets")
            .try_get(0)
            .expect("sum")
    }

    /// A member in its own process (so it can be killed), slowed down so
    /// there is always a batch in flight.
    pub fn probe_process(&self, name: &str) -> tokio::process::Child {
        self.probe_process_with(name, &[])
    }

    /// Like `probe_process`, with more `consumer-probe` arguments; stderr is
    /// piped so a test can read how the member ended.
    pub fn probe_process_with(&self, name: &str, extra: &[&str]) -> tokio::process::Child {
        tokio::process::Command::new(crate::probe_binary())
            .args(["--brokers", &self.stack.brokers, "--database-url", &self.db.app_url, "--topic", &self.topic])
            .args(["--dlq-topic", &self.dlq, "--group", &self.group, "--name", name, "--batch-max-records", "20", "--delay-ms", "20"])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("probe starts")
    }

    fn progress(&self) -> GroupProgress<'_> {
        GroupProgress { brokers: &self.stack.brokers, db: &self.db, group: &self.group, topic: &self.topic, partitions: self.partitions }
    }

    /// End offset (high watermark) of every partition of the topic.
    pub fn end_offsets(&self) -> Vec<i64> {
        self.progress().end_offsets()
    }

    /// Waits until the group is quiescent (see [`GroupProgress`]).
    pub async fn wait_quiescent(&self, timeout: Duration) -> bool {
        self.progress().wait_quiescent(timeout).await
    }

    /// Waits until `group` has applied and stored partition 0 of `topic`
    /// (a redrive topic, say) up to the end offset it has now.
    pub async fn wait_stored_to_end(&self, group: &str, topic: &str, timeout: Duration) -> bool {
        let client: BaseConsumer = rdkafka::ClientConfig::new().set("bootstrap.servers", &self.stack.brokers).create().expect("client");
        let (_, end) = client.fetch_watermarks(topic, 0, Duration::from_secs(10)).expect("watermarks");
        let owner = self.db.owner().await.expect("owner");
        eventually(timeout, || async {
            let row = owner
                .query_opt(
                    "SELECT next_offset FROM consumer_offsets WHERE group_id = $1 AND topic = $2 AND partition = 0",
                    &[&group, &topic],
                )
                .await
                .expect("offset");
            (row.and_then(|r| r.try_get::<_, i64>(0).ok()) == Some(end)).then_some(())
        })
        .await
        .is_some()
    }

    /// Per partition: (Kafka committed offset, Postgres next_offset).
    pub async fn kafka_and_postgres_offsets(&self, partitions: i32) -> Vec<(i32, i64, i64)> {
        GroupProgress { partitions, ..self.progress() }.offsets().await
    }

    /// Members currently in the group, as the broker reports them.
    pub fn group_members(&self) -> usize {
        let client: BaseConsumer = rdkafka::ClientConfig::new().set("bootstrap.servers", &self.stack.brokers).create().expect("client");
        client
            .fetch_group_list(Some(&self.group), Duration::from_secs(5))
            .ok()
            .and_then(|list| list.groups().first().map(|g| if g.state() == "Stable" { g.members().len() } else { 0 }))
            .unwrap_or(0)
    }
}

/// The sum of the samples of metric `name` for `group` (and whose labels
/// contain `extra`), as this process's `/metrics` would show them: members
/// run in the test process share its registry.
pub fn group_metric(name: &str, group: &str, extra: &str) -> f64 {
    let text = signalops_platform::metrics::render();
    text.lines()
        .filter(|l| l.starts_with(name) && l.contains(&format!("group=\"{group}\"")) && l.contains(extra))
        .filter_map(|l| l.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok()))
        .sum()
}

/// Every record currently on `topic` (single partition), read from the start.
pub fn read_all(brokers: &str, topic: &str, timeout: Duration) -> Vec<Vec<u8>> {
    let consumer: BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", format!("reader-{}", uuid::Uuid::new_v4().simple()))
        .set("enable.auto.commit", "false")
        .create()
        .expect("reader");
    let (_, high) = consumer.fetch_watermarks(topic, 0, Duration::from_secs(5)).expect("watermarks");
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, 0, Offset::Beginning).expect("tpl");
    consumer.assign(&tpl).expect("assign");
    let mut values = Vec::new();
    let deadline = std::time::Instant::now() + timeout;
    while (values.len() as i64) < high && std::time::Instant::now() < deadline {
        if let Some(Ok(message)) = consumer.poll(Duration::from_millis(200)) {
            values.push(message.payload().unwrap_or_default().to_vec());
        }
    }
    values
}
