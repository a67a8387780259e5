//! A rules group under test: a fresh database, fresh topics (events,
//! notifications, dead letters, redrive) and group, tenants and rules
//! written as the gateway would, members in this process or in their own
//! (so they can be killed), and ways to read what they did.
#![allow(dead_code, clippy::expect_used, clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::{Offset, TopicPartitionList};
use serde_json::Value;
use signalops_platform::config::ConsumerSettings;
use signalops_platform::kafka::{EventProducer, OutgoingRecord};
use signalops_platform::postgres;
use signalops_proto::{Event, Message as _};
use signalops_rules::{RulesConfig, Running};
use signalops_testkit::service_check::command;
use signalops_testkit::{TestDatabase, TestStack};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

pub const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

pub struct Fixture {
    pub stack: TestStack,
    pub db: TestDatabase,
    pub events: String,
    pub notifications: String,
    pub dlq: String,
    pub redrive: String,
    pub group: String,
    pub partitions: i32,
    pub producer: EventProducer,
}

pub async fn fixture(partitions: i32) -> Fixture {
    let stack = TestStack::attach();
    let db = stack.fresh_database().await.expect("database");
    let events = stack.topic("rules-events", partitions).await.expect("events topic");
    let notifications = stack.topic("rules-notifications", 1).await.expect("notifications topic");
    let dlq = stack.topic("rules-dlq", 1).await.expect("dlq topic");
    let redrive = stack.topic("rules-redrive", 1).await.expect("redrive topic");
    let producer = EventProducer::new(&stack.kafka_settings(), "rules-test").expect("producer");
    let group = format!("test-rules-{}", Uuid::new_v4().simple());
    Fixture { stack, db, events, notifications, dlq, redrive, group, partitions, producer }
}

/// 2026-01-01T00:00:00Z plus `seconds`.
pub fn at(seconds: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_767_225_600 + seconds, 0).expect("time")
}

/// An envelope as the gateway writes it, received at `received_at`.
pub fn envelope(tenant: Uuid, event_type: &str, data: &Value, received_at: DateTime<Utc>) -> Event {
    let at = Some(signalops_proto::time::to_timestamp(received_at));
    Event {
        id: Uuid::now_v7().to_string(),
        tenant_id: tenant.to_string(),
        r#type: event_type.to_owned(),
        source: "/test".to_owned(),
        subject: "thing/1".to_owned(),
        time: at,
        received_at: at,
        data_content_type: "application/json".to_owned(),
        data: serde_json::to_vec(data).expect("json"),
        schema_version: 1,
        causation: None,
    }
}

/// A record as read back: (value, headers).
pub type ReadRecord = (Vec<u8>, Vec<(String, Vec<u8>)>);

/// A firing as stored: (rule, version, event id, outcome, reason, produced).
pub type FiringRow = (Uuid, i32, String, String, Option<String>, Value);

impl Fixture {
    pub fn config(&self) -> RulesConfig {
        let mut config = RulesConfig::default();
        let kafka = &mut config.worker.kafka;
        *kafka = self.stack.kafka_settings();
        kafka.topics.events = self.events.clone();
        kafka.topics.notifications = self.notifications.clone();
        kafka.topics.dlq = self.dlq.clone();
        kafka.topics.redrive = self.redrive.clone();
        config.worker.database = self.db.settings();
        config.worker.consumer = ConsumerSettings {
            batch_max_records: 100,
            session_timeout_ms: 10_000,
            drain_timeout_ms: 5_000,
            ..ConsumerSettings::for_group(self.group.clone())
        };
        config
    }

    /// A member in this process.
    pub async fn member(&self) -> Running {
        let pool = postgres::connect_pool(&self.db.settings()).expect("pool");
        signalops_rules::spawn(&self.config(), pool, CancellationToken::new()).await.expect("rules group starts")
    }

    /// A member in its own process (the real binary), so it can be killed.
    pub fn process(&self, binary: &str, port: u16) -> tokio::process::Child {
        let mut cmd = command(binary, &self.stack, &self.db.app_url, port);
        cmd.env("SIGNALOPS_KAFKA__TOPICS__EVENTS", &self.events)
            .env("SIGNALOPS_KAFKA__TOPICS__NOTIFICATIONS", &self.notifications)
            .env("SIGNALOPS_KAFKA__TOPICS__DLQ", &self.dlq)
            .env("SIGNALOPS_KAFKA__TOPICS__REDRIVE", &self.redrive)
            .env("SIGNALOPS_CONSUMER__GROUP_ID", &self.group)
            .env("SIGNALOPS_CONSUMER__BATCH_MAX_RECORDS", "100")
            .env("SIGNALOPS_CONSUMER__SESSION_TIMEOUT_MS", "6000")
            .env("SIGNALOPS_CONSUMER__DRAIN_TIMEOUT_MS", "3000");
        cmd.spawn().expect("rules service starts")
    }

    pub async fn tenant(&self) -> Uuid {
        let id = Uuid::new_v4();
        let db = self.db.superuser().await.expect("superuser");
        db.execute("INSERT INTO tenants (id, name) VALUES ($1, 'test')", &[&id]).await.expect("tenant");
        id
    }

    /// A rule at version 1, as the gateway would write it.
    pub async fn rule(&self, tenant: Uuid, document: &Value) -> Uuid {
        let id = Uuid::now_v7();
        let status = document.get("status").and_then(Value::as_str).unwrap_or("active");
        let mut db = self.db.superuser().await.expect("superuser");
        let tx = db.transaction().await.expect("tx");
        tx.execute(
            "INSERT INTO rules (id, tenant_id, name, current_version, status) VALUES ($1, $2, 'test', 1, $3)",
            &[&id, &tenant, &status],
        )
        .await
        .expect("rule");
        tx.execute("INSERT INTO rule_versions (tenant_id, rule_id, version, document) VALUES ($1, $2, 1, $3)", &[&tenant, &id, document])
            .await
            .expect("version");
        tx.commit().await.expect("commit");
        id
    }

    /// A new version of a rule, made current.
    pub async fn new_version(&self, tenant: Uuid, rule: Uuid, document: &Value) -> i32 {
        let mut db = self.db.superuser().await.expect("superuser");
        let tx = db.transaction().await.expect("tx");
        let version: i32 =
            tx.query_one("SELECT current_version + 1 FROM rules WHERE id = $1", &[&rule]).await.expect("rule").try_get(0).expect("version");
        tx.execute(
            "INSERT INTO rule_versions (tenant_id, rule_id, version, document) VALUES ($1, $2, $3, $4)",
            &[&tenant, &rule, &version, document],
        )
        .await
        .expect("version");
        tx.execute("UPDATE rules SET current_version = $2, updated_at = now() WHERE id = $1", &[&rule, &version]).await.expect("current");
        tx.commit().await.expect("commit");
        version
    }

    pub async fn set_status(&self, rule: Uuid, status: &str) {
        let db = self.db.superuser().await.expect("superuser");
        db.execute("UPDATE rules SET status = $2 WHERE id = $1", &[&rule, &status]).await.expect("status");
    }

    pub async fn revision(&self, tenant: Uuid) -> i64 {
        let db = self.db.superuser().await.expect("superuser");
        db.query_one("SELECT revision FROM rule_sets WHERE tenant_id = $1", &[&tenant])
            .await
            .expect("revision")
            .try_get(0)
            .expect("revision")
    }

    /// Appends envelopes keyed by tenant, with a trace context header.
    pub async fn send(&self, events: &[Event]) {
        let records = events
            .iter()
            .map(|e| OutgoingRecord {
                topic: self.events.clone(),
                key: Some(e.tenant_id.clone().into_bytes()),
                payload: e.encode_to_vec(),
                headers: vec![("traceparent".into(), TRACEPARENT.as_bytes().to_vec())],
            })
            .collect();
        for result in self.producer.send_all(records).await {
            result.expect("delivered");
        }
    }

    pub async fn firings(&self, tenant: Uuid) -> Vec<FiringRow> {
        let db = self.db.superuser().await.expect("superuser");
        db.query(
            "SELECT rule_id, version, event_id, outcome, reason, produced FROM rule_firings WHERE tenant_id = $1 \
             ORDER BY kafka_partition, kafka_offset, rule_id",
            &[&tenant],
        )
        .await
        .expect("firings")
        .iter()
        .map(|r| {
            (
                r.try_get(0).expect("column"),
                r.try_get(1).expect("column"),
                r.try_get(2).expect("column"),
                r.try_get(3).expect("column"),
                r.try_get(4).expect("column"),
                r.try_get(5).expect("column"),
            )
        })
        .collect()
    }

    /// A digest of every firing of every tenant (what a replay must reproduce).
    pub async fn checksums(&self) -> BTreeMap<Uuid, (i64, String)> {
        let db = self.db.superuser().await.expect("superuser");
        db.query(
            "SELECT tenant_id, count(*), md5(string_agg(concat_ws('|', rule_id, version, event_id, outcome, reason, produced::text), ',' \
                 ORDER BY rule_id, version, event_id)) \
             FROM rule_firings GROUP BY tenant_id",
            &[],
        )
        .await
        .expect("checksums")
        .iter()
        .map(|r| (r.try_get(0).expect("column"), (r.try_get(1).expect("column"), r.try_get(2).expect("column"))))
        .collect()
    }

    /// What firings appended for `tenant`: (id, kind) of every notification
    /// request and derived event on the topics, as often as it was
    /// appended, sorted.
    pub fn appended(&self, tenant: Uuid) -> Vec<(Uuid, &'static str)> {
        let tenant = tenant.to_string();
        let notifications = self.notifications().into_iter().filter(|n| n.tenant_id == tenant).map(|n| (n.id, "notification"));
        let events = self.derived_events().into_iter().filter(|e| e.tenant_id == tenant).map(|e| (e.id, "event"));
        let mut ids: Vec<(Uuid, &'static str)> =
            notifications.chain(events).map(|(id, kind)| (id.parse().expect("a record id is a UUID"), kind)).collect();
        ids.sort_unstable();
        ids
    }

    /// Stored offsets of the group on the events topic, per partition.
    pub async fn stored_offsets(&self) -> BTreeMap<i32, i64> {
        let db = self.db.superuser().await.expect("superuser");
        db.query("SELECT partition, next_offset FROM consumer_offsets WHERE group_id = $1 AND topic = $2", &[&self.group, &self.events])
            .await
            .expect("offsets")
            .iter()
            .map(|r| (r.try_get(0).expect("column"), r.try_get(1).expect("column")))
            .collect()
    }

    pub fn end_offsets(&self, topic: &str, partitions: i32) -> BTreeMap<i32, i64> {
        let client: BaseConsumer = rdkafka::ClientConfig::new().set("bootstrap.servers", &self.stack.brokers).create().expect("client");
        (0..partitions).map(|p| (p, client.fetch_watermarks(topic, p, Duration::from_secs(10)).expect("watermarks").1)).collect()
    }

    /// Waits until nothing is left to do: every record of the events topic
    /// (derived ones too) applied, seen twice half a second apart with the
    /// same end offsets (a rule chain may still be growing).
    pub async fn wait_quiescent(&self, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut previous: Option<BTreeMap<i32, i64>> = None;
        while tokio::time::Instant::now() < deadline {
            let now = self.quiescent_at().await;
            if now.is_some() && now == previous {
                return true;
            }
            let pause = if now.is_some() { 500 } else { 100 };
            previous = now;
            tokio::time::sleep(Duration::from_millis(pause)).await;
        }
        false
    }

    /// The end offsets of the events topic when everything up to them is
    /// applied, else `None`.
    async fn quiescent_at(&self) -> Option<BTreeMap<i32, i64>> {
        let stored = self.stored_offsets().await;
        let ends = self.end_offsets(&self.events, self.partitions);
        ends.iter().filter(|(_, end)| **end > 0).all(|(p, end)| stored.get(p) == Some(end)).then_some(ends)
    }

    /// Every record on `topic` (all partitions): (value, headers).
    pub fn read(&self, topic: &str, partitions: i32) -> Vec<ReadRecord> {
        let consumer: BaseConsumer = rdkafka::ClientConfig::new()
            .set("bootstrap.servers", &self.stack.brokers)
            .set("group.id", format!("reader-{}", Uuid::new_v4().simple()))
            .set("enable.auto.commit", "false")
            .create()
            .expect("reader");
        let ends = self.end_offsets(topic, partitions);
        let total: i64 = ends.values().sum();
        let mut tpl = TopicPartitionList::new();
        for p in 0..partitions {
            tpl.add_partition_offset(topic, p, Offset::Beginning).expect("tpl");
        }
        consumer.assign(&tpl).expect("assign");
        let mut values = Vec::new();
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while (values.len() as i64) < total && std::time::Instant::now() < deadline {
            if let Some(Ok(message)) = consumer.poll(Duration::from_millis(200)) {
                let headers = message
                    .headers()
                    .map(|hs| hs.iter().map(|h| (h.key.to_owned(), h.value.map(<[u8]>::to_vec).unwrap_or_default())).collect())
                    .unwrap_or_default();
                values.push((message.payload().unwrap_or_default().to_vec(), headers));
            }
        }
        values
    }

    /// Notification requests on the notifications topic.
    pub fn notifications(&self) -> Vec<signalops_proto::NotificationRequest> {
        self.read(&self.notifications, 1)
            .iter()
            .map(|(v, _)| signalops_proto::NotificationRequest::decode(v.as_slice()).expect("notification request"))
            .collect()
    }

    /// Derived events on the events topic (those with causation).
    pub fn derived_events(&self) -> Vec<Event> {
        self.read(&self.events, self.partitions)
            .iter()
            .map(|(v, _)| Event::decode(v.as_slice()).expect("envelope"))
            .filter(|e| e.causation.is_some())
            .collect()
    }
}

/// A stateless rule on `event_type` that notifies `ops` and emits `derived`.
pub fn notify_and_emit(event_type: &str, derived: &str) -> Value {
    serde_json::json!({
        "name": "notify and emit",
        "event_types": [event_type],
        "when": {"path": "/data/amount", "op": "gte", "value": 100},
        "actions": [
            {"notify": {"channels": ["ops", "ops-backup"], "subject": "Large {{ event.type }}", "body": "{{ event.data.customer }} paid {{ event.data.amount }}"}},
            {"emit": {"type": derived, "data": {"customer": "{{ event.data.customer }}", "from": "{{ event.id }}"}}}
        ]
    })
}

/// A rule on `event_type` that only notifies, with extra fields (window, throttle, …).
pub fn notify_with(event_type: &str, extra: Value) -> Value {
    let mut rule = serde_json::json!({
        "name": "notify",
        "event_types": [event_type],
        "when": {"path": "data", "op": "exists"},
        "actions": [{"notify": {"channels": ["ops"], "body": "{{ event.id }}"}}]
    });
    for (k, v) in extra.as_object().expect("object") {
        rule[k] = v.clone();
    }
    rule
}
