//! `signalctl groups` and `signalctl replay` against the real broker and
//! database: dry runs change nothing, --execute moves Postgres and Kafka
//! offsets together, --to-datetime lands on the right offsets, and a group
//! with members is refused.

use std::collections::BTreeMap;
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer};
use serde_json::Value;
use signalops_platform::kafka::{EventProducer, OutgoingRecord, base_client_config};
use signalops_testkit::{TestDatabase, TestStack, eventually};

fn signalctl(db: &TestDatabase, stack: &TestStack, args: &[&str]) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_signalctl"));
    command
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("SIGNALOPS_KAFKA_BROKERS", &stack.brokers)
        .env("SIGNALOPS_DATABASE_URL", &db.app_url);
    command
}

async fn json_of(mut command: tokio::process::Command) -> Value {
    let output = command.output().await.expect("signalctl runs");
    assert!(output.status.success(), "signalctl failed: {}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).expect("json")
}

/// Appends `n` records; returns (partition, offset) of each.
async fn append(producer: &EventProducer, topic: &str, n: usize) -> Vec<(i32, i64)> {
    let records = (0..n)
        .map(|i| OutgoingRecord {
            topic: topic.to_owned(),
            key: Some(format!("k{i}").into_bytes()),
            payload: b"x".to_vec(),
            headers: vec![],
        })
        .collect();
    producer.send_all(records).await.into_iter().map(|r| r.expect("delivered")).map(|d| (d.partition, d.offset)).collect()
}

async fn postgres_offsets(db: &TestDatabase, group: &str) -> BTreeMap<i32, i64> {
    let client = db.app().await.expect("app");
    client
        .query("SELECT partition, next_offset FROM consumer_offsets WHERE group_id = $1", &[&group])
        .await
        .expect("offsets")
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect()
}

fn new_offsets(plan: &Value) -> BTreeMap<i32, i64> {
    plan["partitions"]
        .as_array()
        .expect("partitions")
        .iter()
        .map(|p| (p["partition"].as_i64().expect("p") as i32, p["new_offset"].as_i64().expect("o")))
        .collect()
}

#[tokio::test]
async fn replay_plans_by_default_applies_with_execute_lands_on_times_and_refuses_active_groups() {
    let stack = TestStack::attach();
    let db = stack.fresh_database().await.expect("database");
    let topic = stack.topic("replay", 3).await.expect("topic");
    let group = format!("test-replay-{}", uuid::Uuid::new_v4().simple());
    let producer = EventProducer::new(&stack.kafka_settings(), "replay-test").expect("producer");
    append(&producer, &topic, 30).await;
    // Record timestamps are the producer's clock: leave a clear gap.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let cut = chrono::Utc::now();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let later = append(&producer, &topic, 30).await;

    // As if the group had consumed everything.
    let client = db.app().await.expect("app");
    for p in 0..3 {
        let end = later.iter().filter(|(lp, _)| *lp == p).map(|(_, o)| o + 1).max().unwrap_or(0);
        client
            .execute(
                "INSERT INTO consumer_offsets (group_id, topic, partition, next_offset) VALUES ($1, $2, $3, $4)",
                &[&group, &topic, &p, &end],
            )
            .await
            .expect("seed offsets");
    }
    let consumed = postgres_offsets(&db, &group).await;

    // Dry run: a plan, no change.
    let plan = json_of(signalctl(&db, &stack, &["--json", "replay", &group, "--topic", &topic, "--to-earliest"])).await;
    assert_eq!(plan["executed"], false);
    assert_eq!(new_offsets(&plan), (0..3).map(|p| (p, 0)).collect());
    assert_eq!(postgres_offsets(&db, &group).await, consumed, "a dry run changes nothing");

    // --to-datetime: the first record of the second batch in each partition.
    let cut_text = cut.to_rfc3339();
    let moved =
        json_of(signalctl(&db, &stack, &["--json", "replay", &group, "--topic", &topic, "--to-datetime", &cut_text, "--execute"])).await;
    let expected: BTreeMap<i32, i64> =
        (0..3).map(|p| (p, later.iter().filter(|(lp, _)| *lp == p).map(|(_, o)| *o).min().unwrap_or(consumed[&p]))).collect();
    assert_eq!((moved["executed"].clone(), new_offsets(&moved)), (Value::Bool(true), expected.clone()));
    assert_eq!(postgres_offsets(&db, &group).await, expected, "Postgres moved");
    let described = json_of(signalctl(&db, &stack, &["--json", "groups", "describe", &group, "--topic", &topic])).await;
    for p in described["partitions"].as_array().expect("partitions") {
        let partition = p["partition"].as_i64().expect("p") as i32;
        assert_eq!(p["kafka_committed"].as_i64(), Some(expected[&partition]), "Kafka moved with Postgres: {p}");
        assert_eq!(p["postgres_next"].as_i64(), Some(expected[&partition]));
    }

    // --to-offset on one partition; others untouched. Out of range refused.
    let moved = json_of(signalctl(&db, &stack, &["--json", "replay", &group, "--topic", &topic, "--to-offset", "1:2", "--execute"])).await;
    assert_eq!(new_offsets(&moved), BTreeMap::from([(1, 2)]));
    let after = postgres_offsets(&db, &group).await;
    assert_eq!((after[&0], after[&1], after[&2]), (expected[&0], 2, expected[&2]));
    let output = signalctl(&db, &stack, &["replay", &group, "--topic", &topic, "--to-offset", "1:999999"]).output().await.expect("runs");
    assert!(!output.status.success() && String::from_utf8_lossy(&output.stderr).contains("outside partition 1"));

    // An active member: refused, nothing changes.
    let mut config = base_client_config(&stack.kafka_settings(), "replay-member");
    config.set("group.id", &group).set("session.timeout.ms", "6000");
    let member: BaseConsumer = config.create().expect("consumer");
    member.subscribe(&[&topic]).expect("subscribe");
    let joined = eventually(Duration::from_secs(30), || async {
        let _ = member.poll(Duration::from_millis(100));
        (!member.assignment().map(|a| a.count() == 0).unwrap_or(true)).then_some(())
    })
    .await;
    assert!(joined.is_some(), "the member joined");
    let output = signalctl(&db, &stack, &["replay", &group, "--topic", &topic, "--to-earliest", "--execute"]).output().await.expect("runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success() && stderr.contains("active member"), "{stderr}");
    assert_eq!(postgres_offsets(&db, &group).await, after, "a refused replay changes nothing");
    let described = json_of(signalctl(&db, &stack, &["--json", "groups", "describe", &group, "--topic", &topic])).await;
    assert_eq!(described["members"].as_array().map(Vec::len), Some(1), "{described}");
    assert!(described["partitions"].as_array().expect("partitions").iter().all(|p| p["member"].is_string()), "{described}");
    let listed = json_of(signalctl(&db, &stack, &["--json", "groups", "list"])).await;
    assert!(listed.as_array().expect("groups").iter().any(|g| g["group"] == group.as_str()), "{listed}");
}
