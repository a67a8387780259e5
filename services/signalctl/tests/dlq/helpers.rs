//! The dead-letter tests' stack: random dead-letter and redrive topics, a
//! fresh database, signalctl run as a process against them, and dead
//! letters produced the way the consumer runtime produces them.

use std::collections::BTreeMap;
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{Headers, Message as _};
use rdkafka::{Offset, TopicPartitionList};
use serde_json::Value;
use signalops_platform::consumer::{DeadLetterSink, ErrorClass, Record};
use signalops_platform::kafka::{EventProducer, OutgoingRecord, base_client_config};
use signalops_proto::{DeadLetter, Event, Message as _};
use signalops_testkit::consumer_fixture::Fixture;
use signalops_testkit::{TestDatabase, TestStack};

pub struct Dlq {
    pub stack: TestStack,
    pub db: TestDatabase,
    pub dlq: String,
    pub redrive: String,
    pub producer: EventProducer,
    pub sink: DeadLetterSink,
    /// Source offsets of the dead letters, distinct unless a test repeats one.
    next_offset: std::sync::atomic::AtomicI64,
}

/// One record read back from a topic, with everything a test compares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Read {
    pub partition: i32,
    pub offset: i64,
    pub timestamp_ms: i64,
    pub key: Option<Vec<u8>>,
    pub value: Vec<u8>,
    pub headers: Vec<(String, Vec<u8>)>,
}

impl Read {
    pub fn header(&self, key: &str) -> Option<&str> {
        signalops_proto::headers::find(&self.headers, key)
    }
}

impl Dlq {
    pub async fn new(dlq_partitions: i32) -> Self {
        let stack = TestStack::attach();
        let db = stack.fresh_database().await.expect("database");
        let dlq = stack.topic("dlq", dlq_partitions).await.expect("dlq topic");
        let redrive = stack.topic("redrive", 2).await.expect("redrive topic");
        let producer = EventProducer::new(&stack.kafka_settings(), "dlq-test").expect("producer");
        let sink = DeadLetterSink::new(producer.clone(), dlq.clone());
        Self { stack, db, dlq, redrive, producer, sink, next_offset: std::sync::atomic::AtomicI64::new(100) }
    }

    /// signalctl on the dead-letter topic and database of a consumer group
    /// under test, redriving to `redrive` (the topic that group reads).
    pub fn over(f: &Fixture, redrive: &str) -> Self {
        Self {
            stack: f.stack.clone(),
            db: f.db.clone(),
            dlq: f.dlq.clone(),
            redrive: redrive.to_owned(),
            producer: f.producer.clone(),
            sink: DeadLetterSink::new(f.producer.clone(), f.dlq.clone()),
            next_offset: std::sync::atomic::AtomicI64::new(100),
        }
    }

    pub fn signalctl(&self, args: &[&str]) -> tokio::process::Command {
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_signalctl"));
        command
            .args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("SIGNALOPS_KAFKA_BROKERS", &self.stack.brokers)
            .env("SIGNALOPS_KAFKA__TOPICS__DLQ", &self.dlq)
            .env("SIGNALOPS_KAFKA__TOPICS__REDRIVE", &self.redrive)
            .env("SIGNALOPS_DATABASE_URL", &self.db.app_url);
        command
    }

    /// Runs `signalctl --json <args>` and returns its result.
    pub async fn json(&self, args: &[&str]) -> Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let output = self.signalctl(&all).output().await.expect("signalctl runs");
        assert!(output.status.success(), "signalctl {args:?} failed: {}", String::from_utf8_lossy(&output.stderr));
        serde_json::from_slice(&output.stdout).expect("json")
    }

    /// Runs signalctl expecting a clean failure; returns stderr.
    pub async fn fails(&self, args: &[&str]) -> String {
        let output = self.signalctl(args).output().await.expect("signalctl runs");
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        assert!(!output.status.success(), "{args:?} should fail, stdout: {}", String::from_utf8_lossy(&output.stdout));
        assert!(!stderr.contains("panicked"), "a panic instead of a message: {stderr}");
        stderr
    }

    /// Dead-letters an event of `tenant` that `group` read from `source`.
    pub async fn dead_letter(&self, group: &str, source: &str, tenant: &str, class: ErrorClass, error: &str) {
        let offset = self.next_offset.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.dead_letter_at(group, source, offset, tenant, class, error).await;
    }

    /// Like `dead_letter`, for the record at `offset` of `source`.
    pub async fn dead_letter_at(&self, group: &str, source: &str, offset: i64, tenant: &str, class: ErrorClass, error: &str) {
        let event = Event {
            id: uuid::Uuid::now_v7().to_string(),
            tenant_id: tenant.to_owned(),
            r#type: "invoice.paid".into(),
            source: "/billing".into(),
            time: Some(signalops_proto::time::to_timestamp(chrono::Utc::now())),
            received_at: Some(signalops_proto::time::to_timestamp(chrono::Utc::now())),
            data_content_type: "application/json".into(),
            data: br#"{"amount":42}"#.to_vec(),
            schema_version: 1,
            ..Event::default()
        };
        self.dead_letter_bytes(group, source, offset, tenant, event.encode_to_vec(), class, error).await;
    }

    #[allow(clippy::too_many_arguments)]
    pub async fn dead_letter_bytes(
        &self,
        group: &str,
        source: &str,
        offset: i64,
        tenant: &str,
        payload: Vec<u8>,
        class: ErrorClass,
        error: &str,
    ) {
        let record = Record {
            topic: source.to_owned(),
            partition: 0,
            offset,
            key: Some(tenant.as_bytes().to_vec()),
            payload: Some(payload),
            headers: vec![("ce_type".into(), b"invoice.paid".to_vec())],
            timestamp_ms: None,
        };
        self.sink.send(group, &record, class, error).await.expect("dead letter appended");
    }

    /// A dead letter as written before error classes existed: no
    /// `error_class` field and no `dlq_error_class` header.
    pub async fn classless_dead_letter(&self, group: &str, source: &str, tenant: &str, error: &str) {
        let letter = DeadLetter {
            group_id: group.to_owned(),
            topic: source.to_owned(),
            partition: 1,
            offset: 3,
            original_key: tenant.as_bytes().to_vec(),
            error: error.to_owned(),
            ..DeadLetter::default()
        };
        let record = OutgoingRecord {
            topic: self.dlq.clone(),
            key: Some(tenant.as_bytes().to_vec()),
            payload: letter.encode_to_vec(),
            headers: vec![("dlq_group".into(), group.as_bytes().to_vec()), ("dlq_error".into(), error.as_bytes().to_vec())],
        };
        self.producer.send(record).await.expect("appended");
    }

    /// Every record of `topic`, from its log start to its end now.
    pub fn read_topic(&self, topic: &str) -> Vec<Read> {
        read_topic(&self.stack, topic)
    }

    /// `partition -> (log start, log end)`.
    pub fn watermarks(&self, topic: &str) -> BTreeMap<i32, (i64, i64)> {
        let consumer = reader(&self.stack);
        let metadata = consumer.fetch_metadata(Some(topic), Duration::from_secs(10)).expect("metadata");
        let partitions: Vec<i32> = metadata.topics()[0].partitions().iter().map(|p| p.id()).collect();
        partitions.into_iter().map(|p| (p, consumer.fetch_watermarks(topic, p, Duration::from_secs(10)).expect("watermarks"))).collect()
    }

    /// The `operator_audit` rows: (action, actor, tenants, details).
    pub async fn audit(&self) -> Vec<(String, String, Vec<String>, Value)> {
        let client = self.db.app().await.expect("app");
        let rows = client.query("SELECT action, actor, tenants, details FROM operator_audit ORDER BY id", &[]).await.expect("audit rows");
        rows.iter()
            .map(|r| {
                (
                    r.try_get(0).expect("action"),
                    r.try_get(1).expect("actor"),
                    r.try_get(2).expect("tenants"),
                    r.try_get(3).expect("details"),
                )
            })
            .collect()
    }
}

fn reader(stack: &TestStack) -> BaseConsumer {
    let mut config = base_client_config(&stack.kafka_settings(), "dlq-test-reader");
    config.set("group.id", "dlq-test-reader").set("enable.auto.commit", "false").set("enable.partition.eof", "true");
    config.create().expect("consumer")
}

pub fn read_topic(stack: &TestStack, topic: &str) -> Vec<Read> {
    let consumer = reader(stack);
    let metadata = consumer.fetch_metadata(Some(topic), Duration::from_secs(10)).expect("metadata");
    let mut list = TopicPartitionList::new();
    let mut open = std::collections::HashSet::new();
    for p in metadata.topics()[0].partitions() {
        let (low, high) = consumer.fetch_watermarks(topic, p.id(), Duration::from_secs(10)).expect("watermarks");
        if high > low {
            list.add_partition_offset(topic, p.id(), Offset::Offset(low)).expect("partition");
            open.insert(p.id());
        }
    }
    let mut records = Vec::new();
    if open.is_empty() {
        return records;
    }
    consumer.assign(&list).expect("assign");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !open.is_empty() {
        assert!(std::time::Instant::now() < deadline, "reading {topic} took more than 30 s");
        match consumer.poll(Duration::from_millis(200)) {
            Some(Ok(m)) => records.push(Read {
                partition: m.partition(),
                offset: m.offset(),
                timestamp_ms: m.timestamp().to_millis().unwrap_or(0),
                key: m.key().map(<[u8]>::to_vec),
                value: m.payload().unwrap_or_default().to_vec(),
                headers: m
                    .headers()
                    .map(|hs| hs.iter().map(|h| (h.key.to_owned(), h.value.unwrap_or_default().to_vec())).collect())
                    .unwrap_or_default(),
            }),
            Some(Err(KafkaError::PartitionEOF(p))) => {
                open.remove(&p);
            }
            Some(Err(e)) => panic!("reading {topic}: {e}"),
            None => {}
        }
    }
    records.sort_by_key(|r| (r.partition, r.offset));
    records
}

/// `(group, error_class) -> count` from a `dlq list --json` result.
pub fn counts(listed: &Value) -> BTreeMap<(String, String), u64> {
    listed["counts"]
        .as_array()
        .expect("counts")
        .iter()
        .map(|c| {
            (
                (c["group"].as_str().expect("group").to_owned(), c["error_class"].as_str().expect("class").to_owned()),
                c["count"].as_u64().expect("n"),
            )
        })
        .collect()
}

/// The errors of the records in a `dlq list --json` result, sorted.
pub fn errors(listed: &Value) -> Vec<String> {
    let mut errors: Vec<String> =
        listed["records"].as_array().expect("records").iter().map(|r| r["error"].as_str().expect("error").to_owned()).collect();
    errors.sort();
    errors
}
