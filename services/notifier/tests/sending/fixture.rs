//! A notifier member on a test clock, channels as the gateway creates
//! them, requests appended as the rules group appends them, and ways to
//! wait for what the sender wrote.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::{Value, json};
use signalops_notifier::clock::ManualClock;
use signalops_notifier::settings::NotifierSettings;
use signalops_notifier::{NotifierConfig, Running};
use signalops_notify_store::channels::{self, NewChannel};
use signalops_notify_store::definition::{Kind, check_config};
use signalops_notify_store::settings::ChannelSettings;
use signalops_platform::TenantId;
use signalops_platform::config::{ConsumerSettings, Secret};
use signalops_platform::kafka::{EventProducer, OutgoingRecord};
use signalops_platform::postgres::{self, Pool};
use signalops_platform::service::WorkerConfig;
use signalops_proto::{DeliveryOutcome, Message as _, NotificationRequest};
use signalops_testkit::consumer_fixture::read_all;
use signalops_testkit::{TestDatabase, TestStack};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

pub const KEYS: &str = "test:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
pub const WAIT: Duration = Duration::from_secs(30);

pub struct Fixture {
    pub stack: TestStack,
    pub db: TestDatabase,
    pub pool: Pool,
    pub notifications: String,
    pub deliveries: String,
    pub dlq: String,
    pub producer: EventProducer,
    pub clock: ManualClock,
    pub tenant: Uuid,
}

pub async fn fixture() -> Fixture {
    let stack = TestStack::attach();
    let db = stack.fresh_database().await.expect("database");
    let notifications = stack.topic("notifications", 2).await.expect("topic");
    let deliveries = stack.topic("deliveries", 1).await.expect("topic");
    let dlq = stack.topic("notifier-dlq", 1).await.expect("topic");
    let producer = EventProducer::new(&stack.kafka_settings(), "notifier-test").expect("producer");
    let pool = postgres::connect_pool(&db.settings()).expect("pool");
    let tenant = Uuid::new_v4();
    db.superuser()
        .await
        .expect("superuser")
        .execute("INSERT INTO tenants (id, name) VALUES ($1, 'test')", &[&tenant])
        .await
        .expect("tenant");
    // Ahead of the database's clock, which stamps recorded requests due:
    // they are due at once on the test clock.
    let clock = ManualClock::new(Utc::now() + TimeDelta::hours(1));
    Fixture { stack, db, pool, notifications, deliveries, dlq, producer, clock, tenant }
}

impl Fixture {
    pub fn config(&self, notifier: NotifierSettings) -> NotifierConfig {
        let mut kafka = self.stack.kafka_settings();
        kafka.topics.notifications = self.notifications.clone();
        kafka.topics.deliveries = self.deliveries.clone();
        kafka.topics.dlq = self.dlq.clone();
        let worker = WorkerConfig {
            kafka,
            consumer: ConsumerSettings {
                batch_max_records: 50,
                session_timeout_ms: 10_000,
                drain_timeout_ms: 5_000,
                ..ConsumerSettings::for_group(format!("test-notifier-{}", Uuid::new_v4().simple()))
            },
            ..WorkerConfig::default()
        };
        let channels = ChannelSettings { secret_keys: Secret::new(KEYS), ..ChannelSettings::default() };
        NotifierConfig { worker, notifier, channels }
    }

    /// Loopback allowed, short timeouts.
    pub fn settings() -> NotifierSettings {
        NotifierSettings {
            allowed_networks: "127.0.0.0/8".into(),
            attempt_timeout_ms: 5_000,
            idle_poll_ms: 20,
            ..NotifierSettings::default()
        }
    }

    pub fn start(&self, notifier: NotifierSettings) -> Running {
        signalops_notifier::spawn_with_clock(
            &self.config(notifier),
            self.pool.clone(),
            CancellationToken::new(),
            Arc::new(self.clock.clone()),
        )
        .expect("notifier")
    }

    /// Creates a channel as the gateway does; answers its generated webhook secret.
    pub async fn channel(&self, id: &str, kind: Kind, config: Value) -> Option<String> {
        let mut problems = Vec::new();
        let checked = check_config(kind, &config, "/config", None, &mut problems).expect("valid channel");
        assert!(problems.is_empty(), "{problems:?}");
        let keyring = ChannelSettings { secret_keys: Secret::new(KEYS), ..ChannelSettings::default() }.keyring().expect("keys");
        let mut app = self.db.app().await.expect("app");
        let tx = postgres::begin_tenant_tx(&mut app, TenantId::from_uuid(self.tenant)).await.expect("tx");
        let new = NewChannel { id, name: id, kind, config: &checked, created_by: None };
        channels::create(&tx, &keyring, TenantId::from_uuid(self.tenant), &new).await.expect("created");
        tx.commit().await.expect("commit");
        checked.generated_secret
    }

    pub async fn webhook(&self, id: &str, url: &str) -> String {
        self.channel(id, Kind::Webhook, json!({"url": url})).await.expect("generated secret")
    }

    /// Appends a request for `chain`; answers its id.
    pub async fn request(&self, chain: &[&str], body: &str) -> Uuid {
        let id = Uuid::now_v7();
        let now = signalops_proto::time::to_timestamp(Utc::now());
        let request = NotificationRequest {
            id: id.to_string(),
            tenant_id: self.tenant.to_string(),
            rule_id: Uuid::now_v7().to_string(),
            rule_version: 1,
            action_index: 0,
            source_event_id: format!("evt-{id}"),
            source_event_type: "payment.failed".into(),
            channels: chain.iter().map(|c| (*c).to_owned()).collect(),
            subject: Some("Payment failed".into()),
            body: body.to_owned(),
            traceparent: String::new(),
            tracestate: String::new(),
            created_at: Some(now),
            received_at: Some(now),
        };
        let record = OutgoingRecord {
            topic: self.notifications.clone(),
            key: Some(self.tenant.to_string().into_bytes()),
            payload: request.encode_to_vec(),
            headers: vec![],
        };
        self.producer.send(record).await.expect("appended");
        id
    }

    pub fn clock_now(&self) -> DateTime<Utc> {
        use signalops_notifier::clock::Clock as _;
        self.clock.now()
    }

    pub fn advance(&self, by: TimeDelta) {
        self.clock.advance(by);
    }

    /// Waits until `sql` (one bigint column, `$1` the delivery id) answers
    /// at least `want`; answers the last value.
    pub async fn wait_count(&self, sql: &str, id: Uuid, want: i64) -> i64 {
        let db = self.db.superuser().await.expect("superuser");
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let n: i64 = db.query_one(sql, &[&id]).await.expect("count").try_get(0).expect("value");
            if n >= want || tokio::time::Instant::now() > deadline {
                return n;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub async fn wait_attempts(&self, id: Uuid, want: i64) -> i64 {
        self.wait_count("SELECT count(*) FROM delivery_attempts WHERE delivery_id = $1", id, want).await
    }

    pub async fn wait_finished(&self, id: Uuid) -> bool {
        self.wait_count("SELECT count(*) FROM deliveries WHERE id = $1 AND status <> 'pending'", id, 1).await == 1
    }

    /// (status, channel_index, attempts, delivered_channel).
    pub async fn delivery(&self, id: Uuid) -> (String, i32, i32, Option<String>) {
        let db = self.db.superuser().await.expect("superuser");
        let row = db
            .query_one("SELECT status, channel_index, attempts, delivered_channel FROM deliveries WHERE id = $1", &[&id])
            .await
            .expect("delivery");
        (row.try_get(0).expect("column"), row.try_get(1).expect("column"), row.try_get(2).expect("column"), row.try_get(3).expect("column"))
    }

    /// (attempt, channel, status code, outcome, next attempt) in order.
    pub async fn attempts(&self, id: Uuid) -> Vec<(i32, String, Option<i32>, String, Option<DateTime<Utc>>)> {
        let db = self.db.superuser().await.expect("superuser");
        let rows = db
            .query(
                "SELECT attempt, channel_id, status_code, outcome, next_attempt_at FROM delivery_attempts WHERE delivery_id = $1 ORDER BY attempt",
                &[&id],
            )
            .await
            .expect("attempts");
        rows.iter()
            .map(|r| {
                (
                    r.try_get(0).expect("column"),
                    r.try_get(1).expect("column"),
                    r.try_get(2).expect("column"),
                    r.try_get(3).expect("column"),
                    r.try_get(4).expect("column"),
                )
            })
            .collect()
    }

    pub fn outcomes(&self) -> Vec<DeliveryOutcome> {
        read_all(&self.stack.brokers, &self.deliveries, Duration::from_secs(5))
            .iter()
            .map(|v| DeliveryOutcome::decode(v.as_slice()).expect("outcome"))
            .collect()
    }

    /// System event types staged for the tenant, oldest first.
    pub async fn system_events(&self) -> Vec<String> {
        let db = self.db.superuser().await.expect("superuser");
        let rows = db.query("SELECT envelope FROM outbox WHERE tenant_id = $1 ORDER BY id", &[&self.tenant]).await.expect("outbox");
        rows.iter()
            .map(|r| signalops_proto::Event::decode(r.try_get::<_, Vec<u8>>(0).expect("column").as_slice()).expect("envelope").r#type)
            .collect()
    }
}
