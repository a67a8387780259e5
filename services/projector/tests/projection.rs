//! The events read model against the real broker and database: every
//! record takes effect exactly once (rows and hourly counts), whatever
//! redeliveries, poison records or a SIGKILL mid-batch do. Rows are
//! idempotent by key, so the tests that kill or remove members count
//! applications too: a trigger records every row the projector offers to
//! `events` in the transaction that offers it, conflicts included.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use signalops_platform::config::ConsumerSettings;
use signalops_platform::consumer::{ConsumerRuntime, DeadLetterSink};
use signalops_platform::kafka::{EventProducer, OutgoingRecord};
use signalops_platform::postgres;
use signalops_projector::EventsProjection;
use signalops_proto::{Event, Message as _};
use signalops_testkit::quiescence::GroupProgress;
use signalops_testkit::service_check::{command, free_port};
use signalops_testkit::{TestDatabase, TestStack, eventually};
use tokio_util::sync::CancellationToken;

struct Fixture {
    stack: TestStack,
    db: TestDatabase,
    topic: String,
    partitions: i32,
    dlq: String,
    group: String,
    producer: EventProducer,
}

/// A BEFORE trigger fires for every row an `INSERT … ON CONFLICT DO NOTHING`
/// proposes, so a batch applied twice leaves its rows here twice; rows of a
/// transaction that rolled back (a member killed mid-batch) leave nothing.
const APPLICATION_COUNTER_SQL: &str = "
    CREATE TABLE test_applications (kafka_partition int NOT NULL, kafka_offset bigint NOT NULL);
    CREATE FUNCTION test_count_application() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
    BEGIN
        INSERT INTO public.test_applications VALUES (NEW.kafka_partition, NEW.kafka_offset);
        RETURN NEW;
    END $$;
    CREATE TRIGGER test_count_application BEFORE INSERT ON public.events FOR EACH ROW EXECUTE FUNCTION test_count_application();
";

async fn fixture(partitions: i32) -> Fixture {
    let stack = TestStack::attach();
    let db = stack.fresh_database().await.expect("database");
    let topic = stack.topic("projector", partitions).await.expect("topic");
    let dlq = stack.topic("projector-dlq", 1).await.expect("dlq topic");
    let producer = EventProducer::new(&stack.kafka_settings(), "projector-test").expect("producer");
    let group = format!("test-projector-{}", uuid::Uuid::new_v4().simple());
    Fixture { stack, db, topic, partitions, dlq, group, producer }
}

fn envelope(tenant: &str, n: usize) -> Event {
    let now = signalops_proto::time::to_timestamp(Utc::now());
    Event {
        id: uuid::Uuid::now_v7().to_string(),
        tenant_id: tenant.to_owned(),
        r#type: if n.is_multiple_of(3) { "invoice.paid".into() } else { "user.signed_up".into() },
        source: "/test".into(),
        subject: format!("thing/{n}"),
        time: Some(now),
        received_at: Some(now),
        data_content_type: "application/json".into(),
        data: format!(r#"{{"n":{n}}}"#).into_bytes(),
        schema_version: 1,
        causation: None,
    }
}

impl Fixture {
    /// Appends the payloads keyed by tenant; returns each one's (partition, offset).
    async fn append(&self, records: Vec<(String, Vec<u8>)>) -> Vec<(i32, i64)> {
        let records = records
            .into_iter()
            .map(|(tenant, payload)| OutgoingRecord { topic: self.topic.clone(), key: Some(tenant.into_bytes()), payload, headers: vec![] })
            .collect();
        self.producer.send_all(records).await.into_iter().map(|r| r.expect("delivered")).map(|d| (d.partition, d.offset)).collect()
    }

    async fn append_events(&self, tenants: &[String], n: usize) -> Vec<(i32, i64)> {
        let records =
            (0..n).map(|i| (tenants[i % tenants.len()].clone(), envelope(&tenants[i % tenants.len()], i).encode_to_vec())).collect();
        self.append(records).await
    }

    fn member(&self) -> (tokio::task::JoinHandle<()>, CancellationToken) {
        let settings = ConsumerSettings {
            batch_max_records: 500,
            session_timeout_ms: 10_000,
            drain_timeout_ms: 5_000,
            ..ConsumerSettings::for_group(self.group.clone())
        };
        let pool = postgres::connect_pool(&self.db.settings()).expect("pool");
        let runtime = ConsumerRuntime::new(
            self.stack.kafka_settings(),
            settings,
            vec![self.topic.clone()],
            pool,
            Arc::new(EventsProjection::new("public")),
            DeadLetterSink::new(self.producer.clone(), self.dlq.clone()),
        );
        let token = CancellationToken::new();
        let stop = token.clone();
        (tokio::spawn(async move { runtime.run(stop).await.expect("runtime ran") }), token)
    }

    /// Rows, distinct Kafka positions, and the hourly counts' total, over
    /// every tenant (read as the superuser, which row-level security exempts).
    async fn totals(&self) -> (i64, i64, i64) {
        let db = self.db.superuser().await.expect("superuser");
        let row = db
            .query_one(
                "SELECT (SELECT count(*) FROM events), (SELECT count(DISTINCT (kafka_partition, kafka_offset)) FROM events), \
                        (SELECT coalesce(sum(count), 0)::bigint FROM event_type_counts)",
                &[],
            )
            .await
            .expect("totals");
        (row.get(0), row.get(1), row.get(2))
    }

    async fn positions(&self) -> BTreeSet<(i32, i64)> {
        let db = self.db.superuser().await.expect("superuser");
        db.query("SELECT kafka_partition, kafka_offset FROM events", &[])
            .await
            .expect("positions")
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect()
    }

    async fn count_applications(&self) {
        self.db.superuser().await.expect("superuser").batch_execute(APPLICATION_COUNTER_SQL).await.expect("application counter");
    }

    /// (rows offered to `events` by committed transactions, distinct positions among them)
    async fn applications(&self) -> (i64, i64) {
        let db = self.db.superuser().await.expect("superuser");
        let row = db
            .query_one("SELECT count(*), count(DISTINCT (kafka_partition, kafka_offset)) FROM test_applications", &[])
            .await
            .expect("applications");
        (row.try_get(0).expect("count"), row.try_get(1).expect("count"))
    }

    /// Waits until the group has committed (to Kafka) and stored (in
    /// Postgres) every partition up to its end offset.
    async fn wait_quiescent(&self, timeout: Duration) -> bool {
        GroupProgress { brokers: &self.stack.brokers, db: &self.db, group: &self.group, topic: &self.topic, partitions: self.partitions }
            .wait_quiescent(timeout)
            .await
    }

    async fn wait_for_rows(&self, n: i64, timeout: Duration) -> (i64, i64, i64) {
        eventually(timeout, || async {
            let totals = self.totals().await;
            (totals.0 >= n).then_some(totals)
        })
        .await
        .unwrap_or(self.totals().await)
    }
}

fn tenants(n: usize) -> Vec<String> {
    (0..n).map(|_| uuid::Uuid::new_v4().to_string()).collect()
}

#[tokio::test]
async fn live_projection_writes_each_event_once_with_hourly_counts_and_skips_poison() {
    let f = fixture(3).await;
    let tenants = tenants(2);
    let mut positions = f.append_events(&tenants, 1_000).await;
    // A poison record (not an envelope) and an envelope appended twice (an
    // at-least-once producer's retry): neither may stop or double anything.
    f.append(vec![(tenants[0].clone(), b"not a protobuf envelope \xff\xff".to_vec())]).await;
    let twice = envelope(&tenants[1], 7).encode_to_vec();
    positions.extend(f.append(vec![(tenants[1].clone(), twice.clone())]).await);
    f.append(vec![(tenants[1].clone(), twice)]).await;
    positions.extend(f.append_events(&tenants, 500).await);

    let (task, stop) = f.member();
    let (rows, distinct, counted) = f.wait_for_rows(1_501, Duration::from_secs(60)).await;
    // Rows are idempotent by key, so count applications too, once every
    // record (1,503) is behind the stored offsets: a batch applied twice
    // would count its records twice.
    let owner = f.db.owner().await.expect("owner");
    let all_stored = eventually(Duration::from_secs(60), || async {
        let row = owner
            .query_one("SELECT coalesce(sum(next_offset), 0)::bigint FROM consumer_offsets WHERE group_id = $1", &[&f.group])
            .await
            .expect("offsets");
        (row.try_get::<_, i64>(0).ok() == Some(1_503)).then_some(())
    })
    .await;
    stop.cancel();
    task.await.expect("member stopped");
    let group_label = format!("group=\"{}\"", f.group);
    let applications: f64 = signalops_platform::metrics::render()
        .lines()
        .filter(|l| l.starts_with("signalops_consumer_records_total{") && l.contains(&group_label))
        .filter_map(|l| l.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok()))
        .sum();

    assert!(all_stored.is_some(), "every record behind the stored offsets");
    assert_eq!(applications, 1_502.0, "every record but the poison one applied exactly once (the repeat is a record of its own)");
    assert_eq!((rows, distinct, counted), (1_501, 1_501, 1_501), "each event once, counted once");
    assert_eq!(f.positions().await, positions.into_iter().collect::<BTreeSet<_>>(), "exactly the appended envelopes (not the repeat)");

    // Row-level security: the application role sees one tenant at a time.
    let mut app = f.db.app().await.expect("app");
    let tx = app.transaction().await.expect("tx");
    tx.execute("SELECT set_config('app.tenant_id', $1, true)", &[&tenants[0]]).await.expect("tenant");
    let seen: Vec<String> =
        tx.query("SELECT DISTINCT tenant_id::text FROM events", &[]).await.expect("events").iter().map(|r| r.get(0)).collect();
    assert_eq!(seen, vec![tenants[0].clone()]);
    let types: i64 = tx.query_one("SELECT count(DISTINCT type) FROM event_type_counts", &[]).await.expect("counts").get(0);
    assert_eq!(types, 2, "both types of tenant 0, nothing of tenant 1");
}

#[tokio::test]
async fn a_projector_killed_with_sigkill_mid_stream_and_restarted_projects_exactly_once() {
    let f = fixture(4).await;
    f.count_applications().await;
    let tenants = tenants(5);
    let mut expected: BTreeSet<(i32, i64)> = f.append_events(&tenants, 20_000).await.into_iter().collect();
    let port = free_port();
    let projector = |port: u16| {
        let mut cmd = command(env!("CARGO_BIN_EXE_projector"), &f.stack, &f.db.app_url, port);
        cmd.env("SIGNALOPS_KAFKA__TOPICS__EVENTS", &f.topic)
            .env("SIGNALOPS_KAFKA__TOPICS__DLQ", &f.dlq)
            .env("SIGNALOPS_CONSUMER__GROUP_ID", &f.group)
            .env("SIGNALOPS_CONSUMER__BATCH_MAX_RECORDS", "200")
            .env("SIGNALOPS_CONSUMER__SESSION_TIMEOUT_MS", "6000")
            .env("SIGNALOPS_CONSUMER__DRAIN_TIMEOUT_MS", "3000");
        cmd.spawn().expect("projector starts")
    };
    let mut first = projector(port);
    let started = eventually(Duration::from_secs(60), || async { (f.totals().await.0 > 0).then_some(()) }).await;
    assert!(started.is_some(), "the projector wrote nothing");
    first.start_kill().expect("SIGKILL");
    let _ = first.wait().await;
    let (after_kill, ..) = f.totals().await;
    assert!(after_kill < 20_000, "killed mid-stream ({after_kill} rows)");

    expected.extend(f.append_events(&tenants, 2_000).await);
    let mut second = projector(free_port());
    let quiescent = f.wait_quiescent(Duration::from_secs(120)).await;
    let totals = f.totals().await;
    let applications = f.applications().await;
    second.start_kill().expect("stop");
    let _ = second.wait().await;

    assert!(quiescent, "the restarted projector applied and committed every partition to its end");
    assert_eq!(totals, (22_000, 22_000, 22_000), "rows, distinct positions, hourly counts");
    assert_eq!(applications, (22_000, 22_000), "every record applied by exactly one committed transaction");
    assert_eq!(f.positions().await, expected, "every appended position exactly once");
}

#[tokio::test]
async fn three_projectors_then_one_removed_mid_stream_project_exactly_once() {
    let f = fixture(6).await;
    f.count_applications().await;
    let tenants = tenants(12);
    let mut expected: BTreeSet<(i32, i64)> = f.append_events(&tenants, 30_000).await.into_iter().collect();
    let members: Vec<_> = (0..3).map(|_| f.member()).collect();
    let midway = eventually(Duration::from_secs(60), || async {
        let (rows, ..) = f.totals().await;
        (rows > 3_000).then_some(rows)
    })
    .await;
    assert!(midway.is_some_and(|rows| rows < 30_000), "removed mid-stream ({midway:?} rows)");
    let mut members = members.into_iter();
    let (removed, stop) = members.next().expect("a member");
    stop.cancel();
    removed.await.expect("removed member drained");

    expected.extend(f.append_events(&tenants, 5_000).await);
    let quiescent = f.wait_quiescent(Duration::from_secs(120)).await;
    let totals = f.totals().await;
    let applications = f.applications().await;
    for (task, stop) in members {
        stop.cancel();
        task.await.expect("member stopped");
    }
    assert!(quiescent, "the remaining members applied and committed every partition to its end");
    assert_eq!(totals, (35_000, 35_000, 35_000), "rows, distinct positions, hourly counts");
    assert_eq!(applications, (35_000, 35_000), "every record applied by exactly one committed transaction");
    assert_eq!(f.positions().await, expected, "every appended position exactly once");
}

#[tokio::test]
async fn the_application_role_creates_missing_monthly_partitions_ahead() {
    let f = fixture(1).await;
    let pool = postgres::connect_pool(&f.db.settings()).expect("pool");
    assert_eq!(signalops_projector::partitions::ensure(&pool).await.expect("ensure as the app role"), 0, "the migration made them");
    let owner = f.db.owner().await.expect("owner");
    let name: String = owner
        .query_one("SELECT format('events_%s', to_char(date_trunc('month', now()) + interval '2 months', 'YYYY_MM'))", &[])
        .await
        .expect("name")
        .get(0);
    owner.batch_execute(&format!("DROP TABLE {name}")).await.expect("drop a future month");
    assert_eq!(signalops_projector::partitions::ensure(&pool).await.expect("ensure"), 1);
    let exists: bool = owner.query_one("SELECT to_regclass($1) IS NOT NULL", &[&name]).await.expect("exists").get(0);
    assert!(exists, "{name} created again");
}
