//! The notifier group against the real broker and database: every
//! notification request is recorded once by its id, whatever redeliveries,
//! poison records or a replay of the topic from the start do.

use std::collections::BTreeSet;
use std::time::Duration;

use chrono::Utc;
use signalops_notifier::NotifierConfig;
use signalops_notifier::settings::NotifierSettings;
use signalops_notify_store::settings::ChannelSettings;
use signalops_platform::config::{ConsumerSettings, Secret};
use signalops_platform::kafka::{EventProducer, OutgoingRecord};
use signalops_platform::postgres;
use signalops_platform::service::WorkerConfig;
use signalops_proto::{DeadLetter, Message as _, NotificationRequest};
use signalops_testkit::consumer_fixture::read_all;
use signalops_testkit::quiescence::GroupProgress;
use signalops_testkit::{TestDatabase, TestStack};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

const PARTITIONS: i32 = 3;
const KEYS: &str = "test:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

struct Fixture {
    stack: TestStack,
    db: TestDatabase,
    topic: String,
    dlq: String,
    producer: EventProducer,
}

async fn fixture() -> Fixture {
    let stack = TestStack::attach();
    let db = stack.fresh_database().await.expect("database");
    let topic = stack.topic("notifications", PARTITIONS).await.expect("topic");
    let dlq = stack.topic("notifier-dlq", 1).await.expect("dlq topic");
    let producer = EventProducer::new(&stack.kafka_settings(), "notifier-test").expect("producer");
    Fixture { stack, db, topic, dlq, producer }
}

fn request(tenant: Uuid, n: usize) -> NotificationRequest {
    let now = signalops_proto::time::to_timestamp(Utc::now());
    NotificationRequest {
        id: Uuid::now_v7().to_string(),
        tenant_id: tenant.to_string(),
        rule_id: Uuid::now_v7().to_string(),
        rule_version: 1,
        action_index: 0,
        source_event_id: format!("evt-{n}"),
        source_event_type: "payment.failed".into(),
        channels: vec!["ops".into(), "pager".into()],
        subject: n.is_multiple_of(2).then(|| format!("subject {n}")),
        body: format!("body {n}"),
        traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".into(),
        tracestate: String::new(),
        created_at: Some(now),
        received_at: Some(now),
    }
}

impl Fixture {
    async fn append(&self, records: Vec<(Uuid, Vec<u8>)>) {
        let records = records
            .into_iter()
            .map(|(tenant, payload)| OutgoingRecord {
                topic: self.topic.clone(),
                key: Some(tenant.to_string().into_bytes()),
                payload,
                headers: vec![],
            })
            .collect();
        for delivered in self.producer.send_all(records).await {
            delivered.expect("delivered");
        }
    }

    fn config(&self, group: &str) -> NotifierConfig {
        let mut kafka = self.stack.kafka_settings();
        kafka.topics.notifications = self.topic.clone();
        kafka.topics.dlq = self.dlq.clone();
        let worker = WorkerConfig {
            kafka,
            consumer: ConsumerSettings {
                batch_max_records: 50,
                session_timeout_ms: 10_000,
                drain_timeout_ms: 5_000,
                ..ConsumerSettings::for_group(group.to_owned())
            },
            ..WorkerConfig::default()
        };
        let channels = ChannelSettings { secret_keys: Secret::new(KEYS), ..ChannelSettings::default() };
        NotifierConfig { worker, notifier: NotifierSettings::default(), channels }
    }

    /// Runs a member of `group` until the group is quiescent, then stops it.
    async fn run_group(&self, group: &str) -> bool {
        let pool = postgres::connect_pool(&self.db.settings()).expect("pool");
        let member = signalops_notifier::spawn(&self.config(group), pool, CancellationToken::new()).expect("member");
        let progress = GroupProgress { brokers: &self.stack.brokers, db: &self.db, group, topic: &self.topic, partitions: PARTITIONS };
        let quiescent = progress.wait_quiescent(Duration::from_secs(60)).await;
        member.stop.cancel();
        member.wait().await.expect("member stopped");
        quiescent
    }

    /// (rows, distinct ids) over every tenant, read as the superuser.
    async fn recorded(&self) -> (i64, BTreeSet<String>) {
        let db = self.db.superuser().await.expect("superuser");
        let rows = db.query("SELECT id::text FROM deliveries", &[]).await.expect("deliveries");
        let ids: BTreeSet<String> = rows.iter().map(|r| r.try_get(0).expect("id")).collect();
        (i64::try_from(rows.len()).expect("count"), ids)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn each_request_is_recorded_once_through_redeliveries_poison_and_a_replay() {
    let f = fixture().await;
    let tenants: Vec<Uuid> = (0..3).map(|_| Uuid::now_v7()).collect();
    let requests: Vec<(Uuid, NotificationRequest)> = (0..300).map(|n| (tenants[n % 3], request(tenants[n % 3], n))).collect();
    f.append(requests.iter().map(|(t, r)| (*t, r.encode_to_vec())).collect()).await;
    // The relay appends at least once: the first 30 again, as after a crash.
    f.append(requests.iter().take(30).map(|(t, r)| (*t, r.encode_to_vec())).collect()).await;
    f.append(vec![(tenants[0], b"not a notification request \xff".to_vec())]).await;

    assert!(f.run_group("test-notifier-a").await, "the group applied and committed every partition to its end");
    let (rows, ids) = f.recorded().await;
    let sent: BTreeSet<String> = requests.iter().map(|(_, r)| r.id.clone()).collect();
    assert_eq!((rows, &ids), (300, &sent), "every request once, the repeats recorded nothing");
    let letters: Vec<DeadLetter> = read_all(&f.stack.brokers, &f.dlq, Duration::from_secs(10))
        .iter()
        .map(|v| DeadLetter::decode(v.as_slice()).expect("letter"))
        .collect();
    assert_eq!(letters.len(), 1, "only the record that is not a request");
    assert_eq!(
        (letters[0].error_class.as_str(), letters[0].original_value.as_slice()),
        ("decode", b"not a notification request \xff".as_slice())
    );

    // A replay: a group reading the topic from the start records nothing new.
    assert!(f.run_group("test-notifier-replay").await, "the replaying group caught up");
    assert_eq!(f.recorded().await.0, 300, "nothing recorded twice");

    // A recorded request is the request, field by field (the sender may
    // have tried it since: its channels do not exist).
    let db = f.db.superuser().await.expect("superuser");
    let (tenant, sent) = &requests[4];
    let row = db
        .query_one(
            "SELECT tenant_id, rule_id::text, channels, subject, body, traceparent FROM deliveries WHERE id = $1::text::uuid",
            &[&sent.id],
        )
        .await
        .expect("row");
    assert_eq!(row.try_get::<_, Uuid>(0).expect("column"), *tenant);
    assert_eq!(row.try_get::<_, String>(1).expect("column"), sent.rule_id);
    assert_eq!(row.try_get::<_, Vec<String>>(2).expect("column"), sent.channels, "the fallback chain, in order");
    assert_eq!(
        (row.try_get::<_, Option<String>>(3).expect("column"), row.try_get::<_, String>(4).expect("column")),
        (sent.subject.clone(), sent.body.clone())
    );
    assert_eq!(row.try_get::<_, Option<String>>(5).expect("column").as_deref(), Some(sent.traceparent.as_str()));
    // Row-level security: the application role sees one tenant at a time.
    let mut app = f.db.app().await.expect("app");
    let tx = app.transaction().await.expect("tx");
    tx.execute("SELECT set_config('app.tenant_id', $1, true)", &[&tenants[1].to_string()]).await.expect("tenant");
    let seen: i64 = tx.query_one("SELECT count(*) FROM deliveries", &[]).await.expect("count").try_get(0).expect("column");
    assert_eq!(seen, 100, "only tenant 1's requests");
}
