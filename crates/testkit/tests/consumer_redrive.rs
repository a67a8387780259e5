//! Redriven dead letters, against the real broker and database: the group
//! the dead letter names applies it once, however often it is redriven, and
//! no other group applies it at all.

use std::time::Duration;

use signalops_platform::consumer::dead_letter::{HEADER_REDRIVE_GROUP, HEADER_REDRIVE_SOURCE};
use signalops_platform::kafka::OutgoingRecord;
use signalops_testkit::ProbeHandler;
use signalops_testkit::consumer_fixture::{Fixture, fixture, read_all, stop};

/// Appends a dead letter's value to the redrive topic for `group`, as `signalctl dlq redrive` does.
async fn redrive(f: &Fixture, redrive_topic: &str, group: &str, letter: &[u8], source: &str) {
    f.producer
        .send(OutgoingRecord {
            topic: redrive_topic.to_owned(),
            key: None,
            payload: letter.to_vec(),
            headers: vec![
                (HEADER_REDRIVE_GROUP.into(), group.as_bytes().to_vec()),
                (HEADER_REDRIVE_SOURCE.into(), source.as_bytes().to_vec()),
            ],
        })
        .await
        .expect("redrive appended");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_dead_letter_redriven_twice_is_applied_once_and_only_by_its_group() {
    let f = fixture(1).await;
    let redrive_topic = f.stack.topic("redrive", 1).await.expect("redrive topic");
    let owner = f.db.owner().await.expect("owner");
    owner.batch_execute("CREATE UNIQUE INDEX probe_rows_payload ON probe_rows (payload)").await.expect("index");
    let payloads: Vec<String> = (0..20).map(|i| if i == 7 { "record-3".to_owned() } else { format!("record-{i}") }).collect();
    f.produce(payloads).await;
    let member = f.member_on(
        signalops_platform::postgres::connect_pool(&f.db.settings()).expect("pool"),
        ProbeHandler::new("a"),
        |_| {},
        |r| r.with_redrive_topic(redrive_topic.clone()),
    );
    assert!(f.wait_quiescent(Duration::from_secs(60)).await);
    let letters = read_all(&f.stack.brokers, &f.dlq, Duration::from_secs(10));
    assert_eq!(letters.len(), 1, "record 7 was dead-lettered");

    // Another group reads the same redrive topic (and a topic of its own).
    let other = fixture(1).await;
    let other_member = other.member_on(
        signalops_platform::postgres::connect_pool(&f.db.settings()).expect("pool"),
        ProbeHandler::new("other"),
        |s| s.group_id = other.group.clone(),
        |r| r.with_redrive_topic(redrive_topic.clone()),
    );

    // The cause is fixed, then the dead letter is redriven twice.
    owner.batch_execute("DROP INDEX probe_rows_payload").await.expect("fix");
    redrive(&f, &redrive_topic, &f.group, &letters[0], "0:0").await;
    redrive(&f, &redrive_topic, &f.group, &letters[0], "0:0").await;
    let applied = f.wait_stored_to_end(&f.group, &redrive_topic, Duration::from_secs(60)).await;
    let other_read = f.wait_stored_to_end(&other.group, &redrive_topic, Duration::from_secs(60)).await;
    let copies: i64 = owner
        .query_one("SELECT count(*) FROM probe_rows WHERE payload = 'record-3' AND written_by = 'a'", &[])
        .await
        .expect("count")
        .try_get(0)
        .expect("count");
    let by_other: i64 =
        owner.query_one("SELECT count(*) FROM probe_rows WHERE written_by = 'other'", &[]).await.expect("count").try_get(0).expect("count");
    let claims: i64 = owner
        .query_one("SELECT count(*) FROM consumer_redrives WHERE group_id = $1", &[&f.group])
        .await
        .expect("count")
        .try_get(0)
        .expect("count");
    stop(member).await;
    stop(other_member).await;
    assert!(applied && other_read, "both groups read the redrive topic to its end");
    assert_eq!(copies, 2, "record 3 once, and record 7 (same payload) once through the redrive");
    assert_eq!(claims, 1, "the second redrive was recognised");
    assert_eq!(by_other, 0, "the other group applied nothing");
    let (rows, _) = f.counts().await;
    assert_eq!(rows, 20, "every record applied exactly once in the end");
}
