//! Side-by-side rebuilds against the real broker and database: the
//! projector fleet (in-process here) builds version 2 from the earliest
//! offset while version 1 serves; the rebuild equals the live projection
//! per tenant; promotion flips readers; drops stop and remove a version.

use std::time::Duration;

use chrono::Utc;
use serde_json::Value;
use signalops_platform::config::{ConsumerSettings, DatabaseSettings, Secret};
use signalops_platform::consumer::DeadLetterSink;
use signalops_platform::kafka::{EventProducer, OutgoingRecord};
use signalops_platform::postgres;
use signalops_platform::service::WorkerConfig;
use signalops_proto::{Event, Message as _};
use signalops_testkit::{TestDatabase, TestStack, eventually};
use tokio_util::sync::CancellationToken;

fn envelope(tenant: &str, n: usize) -> Vec<u8> {
    let now = signalops_proto::time::to_timestamp(Utc::now());
    Event {
        id: uuid::Uuid::now_v7().to_string(),
        tenant_id: tenant.to_owned(),
        r#type: if n.is_multiple_of(2) { "order.placed".into() } else { "order.shipped".into() },
        source: "/test".into(),
        time: Some(now),
        received_at: Some(now),
        data_content_type: "application/json".into(),
        data: format!(r#"{{"n":{n}}}"#).into_bytes(),
        schema_version: 1,
        ..Event::default()
    }
    .encode_to_vec()
}

async fn append(producer: &EventProducer, topic: &str, tenants: &[String], n: usize) {
    let records = (0..n)
        .map(|i| {
            let tenant = &tenants[i % tenants.len()];
            OutgoingRecord {
                topic: topic.to_owned(),
                key: Some(tenant.clone().into_bytes()),
                payload: envelope(tenant, i),
                headers: vec![],
            }
        })
        .collect();
    for result in producer.send_all(records).await {
        result.expect("delivered");
    }
}

fn signalctl(db: &TestDatabase, stack: &TestStack, topic: &str, args: &[&str]) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_signalctl"));
    command
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("SIGNALOPS_KAFKA_BROKERS", &stack.brokers)
        .env("SIGNALOPS_KAFKA__TOPICS__EVENTS", topic)
        .env("SIGNALOPS_DATABASE_URL", &db.app_url)
        .env("SIGNALOPS_DATABASE_OWNER_URL", &db.owner_url);
    command
}

async fn json_of(mut command: tokio::process::Command) -> Value {
    let output = tokio::time::timeout(Duration::from_secs(180), command.output()).await.expect("in time").expect("runs");
    assert!(output.status.success(), "signalctl failed: {}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).expect("json")
}

/// (tenant, rows, checksum of rows, total of hourly counts) per tenant.
async fn digest(db: &TestDatabase, schema: &str) -> Vec<(String, i64, String, i64)> {
    let su = db.superuser().await.expect("superuser");
    let sql = format!(
        "SELECT e.tenant_id::text, count(*), md5(string_agg(e.id || '|' || e.type || '|' || e.data::text || '|' || e.kafka_partition || ':' || e.kafka_offset, ',' ORDER BY e.id)), \
                (SELECT sum(count)::bigint FROM {schema}.event_type_counts c WHERE c.tenant_id = e.tenant_id) \
         FROM {schema}.events e GROUP BY e.tenant_id ORDER BY 1"
    );
    su.query(&sql, &[]).await.expect("digest").iter().map(|r| (r.get(0), r.get(1), r.get(2), r.get(3))).collect()
}

async fn rows(db: &TestDatabase, schema: &str) -> i64 {
    let su = db.superuser().await.expect("superuser");
    su.query_one(&format!("SELECT count(*) FROM {schema}.events"), &[]).await.expect("count").get(0)
}

/// The projector fleet (every live read-model version), in-process.
fn start_fleet(
    stack: &TestStack,
    db: &TestDatabase,
    producer: &EventProducer,
    topic: &str,
    dlq: &str,
    base: &str,
) -> (CancellationToken, tokio::task::JoinHandle<anyhow::Result<()>>) {
    let mut config = WorkerConfig {
        kafka: stack.kafka_settings(),
        database: DatabaseSettings { url: Secret::new(db.app_url.clone()), pool_max_size: 8, ..DatabaseSettings::default() },
        consumer: ConsumerSettings { session_timeout_ms: 10_000, drain_timeout_ms: 5_000, ..ConsumerSettings::for_group(base.to_owned()) },
        ..WorkerConfig::default()
    };
    config.kafka.topics.events = topic.to_owned();
    config.kafka.topics.dlq = dlq.to_owned();
    let pool = postgres::connect_pool(&config.database).expect("pool");
    let stop = CancellationToken::new();
    let fleet = tokio::spawn(signalops_projector::versions::supervise(
        config,
        pool,
        DeadLetterSink::new(producer.clone(), dlq.to_owned()),
        signalops_platform::http::Readiness::default(),
        stop.clone(),
    ));
    (stop, fleet)
}

/// The definitions of the indexes on `schema.events`, schema name removed.
async fn indexes(db: &TestDatabase, schema: &str) -> Vec<String> {
    let su = db.superuser().await.expect("superuser");
    let rows = su
        .query("SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = $1 AND tablename = 'events' ORDER BY indexname", &[&schema])
        .await
        .expect("indexes");
    rows.iter()
        .map(|r| {
            let (name, def): (String, String) = (r.get(0), r.get(1));
            format!("{name}: {}", def.replace(&format!("{schema}."), "").replace(&format!("INDEX {name} "), "INDEX "))
        })
        .collect()
}

#[tokio::test]
async fn a_registered_rebuild_loads_without_query_indexes_and_a_rerun_finishes_it_with_them() {
    let stack = TestStack::attach();
    let db = stack.fresh_database().await.expect("database");
    let topic = stack.topic("rebuild-resume", 2).await.expect("topic");
    let dlq = stack.topic("rebuild-resume-dlq", 1).await.expect("dlq");
    let producer = EventProducer::new(&stack.kafka_settings(), "rebuild-resume-test").expect("producer");
    let tenants: Vec<String> = (0..2).map(|_| uuid::Uuid::new_v4().to_string()).collect();
    append(&producer, &topic, &tenants, 400).await;
    let base = format!("test-projector-{}", uuid::Uuid::new_v4().simple());

    // Registered while no projector runs: it stays building, keyed only.
    let registered =
        json_of(signalctl(&db, &stack, &topic, &["--json", "projections", "rebuild", "--version", "2", "--no-wait", "--group", &base]))
            .await;
    assert_eq!(registered["state"], "building", "{registered}");
    assert_eq!(
        indexes(&db, "read_v2").await,
        vec!["events_pkey: CREATE UNIQUE INDEX ON ONLY events USING btree (tenant_id, \"time\", id)"]
    );
    let promote = signalctl(&db, &stack, &topic, &["projections", "promote", "2", "--group", &base]).output().await.expect("runs");
    assert!(!promote.status.success() && String::from_utf8_lossy(&promote.stderr).contains("is building"));

    // A second run watches the same version to the end and indexes it.
    let (stop, fleet) = start_fleet(&stack, &db, &producer, &topic, &dlq, &base);
    let built = json_of(signalctl(&db, &stack, &topic, &["--json", "projections", "rebuild", "--version", "2", "--group", &base])).await;
    assert_eq!((built["state"].as_str(), built["records"].as_i64(), built["resumed"].as_bool()), (Some("ready"), Some(400), Some(true)));
    assert_eq!(rows(&db, "read_v2").await, 400);
    let (public, rebuilt) = (indexes(&db, "public").await, indexes(&db, "read_v2").await);
    assert_eq!(rebuilt.len(), 4, "{rebuilt:?}");
    assert_eq!(rebuilt, public, "the rebuilt version has the serving version's indexes");

    // A ready version is not rebuilt over.
    let again =
        signalctl(&db, &stack, &topic, &["projections", "rebuild", "--version", "2", "--group", &base]).output().await.expect("runs");
    assert!(!again.status.success() && String::from_utf8_lossy(&again.stderr).contains("already exists (state ready)"));
    stop.cancel();
    fleet.await.expect("fleet task").expect("fleet drained");
}

#[tokio::test]
async fn a_rebuild_equals_the_live_projection_and_promotion_switches_readers() {
    let stack = TestStack::attach();
    let db = stack.fresh_database().await.expect("database");
    let topic = stack.topic("rebuild", 3).await.expect("topic");
    let dlq = stack.topic("rebuild-dlq", 1).await.expect("dlq");
    let producer = EventProducer::new(&stack.kafka_settings(), "rebuild-test").expect("producer");
    let tenants: Vec<String> = (0..3).map(|_| uuid::Uuid::new_v4().to_string()).collect();
    append(&producer, &topic, &tenants, 3_000).await;

    let base = format!("test-projector-{}", uuid::Uuid::new_v4().simple());
    let (stop, fleet) = start_fleet(&stack, &db, &producer, &topic, &dlq, &base);
    let live = eventually(Duration::from_secs(60), || async { (rows(&db, "public").await >= 3_000).then_some(()) }).await;
    assert!(live.is_some(), "version 1 projected the log");

    // Version 2, side by side, from the earliest offset.
    let built = json_of(signalctl(&db, &stack, &topic, &["--json", "projections", "rebuild", "--version", "2", "--group", &base])).await;
    assert_eq!((built["state"].as_str(), built["records"].as_i64()), (Some("ready"), Some(3_000)), "{built}");
    append(&producer, &topic, &tenants, 300).await;
    let both = eventually(Duration::from_secs(60), || async {
        (rows(&db, "public").await >= 3_300 && rows(&db, "read_v2").await >= 3_300).then_some(())
    })
    .await;
    assert!(both.is_some(), "both versions follow the live log");
    let (v1, v2) = (digest(&db, "public").await, digest(&db, "read_v2").await);
    assert_eq!(v1.len(), 3);
    assert!(v1.iter().all(|(_, n, _, counted)| *n == 1_100 && *counted == 1_100), "{v1:?}");
    assert_eq!(v1, v2, "the rebuild equals the live projection, tenant by tenant");

    // Nothing outside the read model: no record appended by the rebuild.
    let (_, dlq_end) = {
        use rdkafka::consumer::{BaseConsumer, Consumer};
        let consumer: BaseConsumer =
            signalops_platform::kafka::base_client_config(&stack.kafka_settings(), "check").create().expect("client");
        consumer.fetch_watermarks(&dlq, 0, Duration::from_secs(10)).expect("watermarks")
    };
    assert_eq!(dlq_end, 0, "no dead letters");

    // Promotion: refused for unknown versions, then readers switch at once.
    let output = signalctl(&db, &stack, &topic, &["projections", "promote", "7", "--group", &base]).output().await.expect("runs");
    assert!(!output.status.success() && String::from_utf8_lossy(&output.stderr).contains("no read model version 7"));
    let promoted = json_of(signalctl(&db, &stack, &topic, &["--json", "projections", "promote", "2", "--group", &base])).await;
    assert_eq!(promoted["changed"], true);
    let mut app = db.app().await.expect("app");
    let tx = app.transaction().await.expect("tx");
    tx.execute("SELECT set_config('app.tenant_id', $1, true)", &[&tenants[0]]).await.expect("tenant");
    tx.execute(
        "SELECT set_config('search_path', coalesce((SELECT quote_ident(schema_name) FROM read_models WHERE state = 'serving'), 'public') || ', public', true)",
        &[],
    )
    .await
    .expect("serving model");
    let path: String = tx.query_one("SELECT current_setting('search_path')", &[]).await.expect("path").get(0);
    let visible: i64 = tx.query_one("SELECT count(*) FROM events", &[]).await.expect("count").get(0);
    tx.commit().await.expect("commit");
    assert!(path.starts_with("read_v2"), "{path}");
    assert_eq!(visible, 1_100, "readers see version 2, one tenant only");

    // Drops: never the serving one; the old one stops and its tables empty.
    let output = signalctl(&db, &stack, &topic, &["projections", "drop", "2", "--group", &base]).output().await.expect("runs");
    assert!(!output.status.success() && String::from_utf8_lossy(&output.stderr).contains("serving"));
    let dropped = json_of(signalctl(&db, &stack, &topic, &["--json", "projections", "drop", "1", "--group", &base])).await;
    assert_eq!(dropped["dropped"], true);
    let listed = json_of(signalctl(&db, &stack, &topic, &["--json", "projections", "list", "--group", &base])).await;
    let versions: Vec<(i64, String)> = listed
        .as_array()
        .expect("list")
        .iter()
        .map(|v| (v["version"].as_i64().expect("v"), v["state"].as_str().expect("s").to_owned()))
        .collect();
    assert_eq!(versions, vec![(2, "serving".to_owned())]);
    assert_eq!(rows(&db, "public").await, 0);
    append(&producer, &topic, &tenants, 30).await;
    let follows = eventually(Duration::from_secs(60), || async { (rows(&db, "read_v2").await >= 3_330).then_some(()) }).await;
    assert!(follows.is_some(), "version 2 keeps following the log");
    assert_eq!(rows(&db, "public").await, 0, "the dropped version is no longer projected");

    stop.cancel();
    fleet.await.expect("fleet task").expect("fleet drained");
}
