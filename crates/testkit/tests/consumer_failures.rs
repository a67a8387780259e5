//! How the consumer runtime fails, against the real broker and database:
//! no record skipped, no partition stuck, nothing silent. The probe handler
//! writes one row per application, so a count shows both a record missing
//! and a record applied twice; counts are taken once the group is
//! quiescent (every partition applied and committed to its end).

use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Offset, TopicPartitionList};
use signalops_platform::config::ConsumerSettings;
use signalops_platform::consumer::ConsumerHealth;
use signalops_platform::http::{Readiness, ReadinessCheck, start_health_server};
use signalops_platform::kafka::EventProducer;
use signalops_platform::{config::DatabaseSettings, config::HttpSettings, config::Secret, postgres};
use signalops_proto::{DeadLetter, Message as _};
use signalops_testkit::consumer_fixture::{Fixture, fixture, group_metric, read_all, stop};
use signalops_testkit::{ProbeHandler, eventually, relay_binary};
use tokio::io::AsyncBufReadExt;

fn dead_letters(f: &Fixture) -> Vec<DeadLetter> {
    read_all(&f.stack.brokers, &f.dlq, Duration::from_secs(10)).iter().map(|v| DeadLetter::decode(v.as_slice()).expect("decodes")).collect()
}

fn signal(child: &tokio::process::Child, signal: &str) {
    let pid = child.id().expect("pid").to_string();
    let status = std::process::Command::new("kill").args([&format!("-{signal}"), &pid]).status().expect("kill runs");
    assert!(status.success(), "kill -{signal} {pid}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_batch_starting_past_the_stored_offset_is_refused_and_read_again_from_the_stored_offset() {
    let f = fixture(1).await;
    f.produce_n(100).await;
    // Kafka says 50 but Postgres has no offset for the group (a restored
    // database, say): the first batch would start past the stored 0.
    let committer: BaseConsumer =
        rdkafka::ClientConfig::new().set("bootstrap.servers", &f.stack.brokers).set("group.id", &f.group).create().expect("client");
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(&f.topic, 0, Offset::Offset(50)).expect("tpl");
    committer.commit(&tpl, rdkafka::consumer::CommitMode::Sync).expect("commit 50");
    drop(committer);

    let member = f.member(ProbeHandler::new("a"));
    let quiescent = f.wait_quiescent(Duration::from_secs(60)).await;
    let counts = f.counts().await;
    stop(member).await;
    assert!(quiescent, "the partition was applied and committed to its end");
    assert_eq!(counts, (100, 100), "records 0..50 were not skipped, none applied twice");
    assert!(group_metric("signalops_consumer_gaps_refused_total", &f.group, "") >= 1.0, "the refusal was counted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_unique_violation_in_the_middle_of_a_batch_dead_letters_exactly_that_record() {
    let f = fixture(1).await;
    f.db.owner()
        .await
        .expect("owner")
        .batch_execute("CREATE UNIQUE INDEX probe_rows_payload ON probe_rows (payload)")
        .await
        .expect("index");
    // Record 37 repeats record 5's payload: the batch's INSERT fails with 23505.
    let payloads: Vec<String> = (0..60).map(|i| if i == 37 { "record-5".to_owned() } else { format!("record-{i}") }).collect();
    let deliveries = f.produce(payloads).await;
    let member = f.member(ProbeHandler::new("a"));
    let quiescent = f.wait_quiescent(Duration::from_secs(60)).await;
    let counts = f.counts().await;
    stop(member).await;
    assert!(quiescent, "the partition moved on past the failing record");
    assert_eq!(counts, (59, 59), "every other record applied once");
    let letters = dead_letters(&f);
    assert_eq!(letters.len(), 1, "exactly one dead letter");
    assert_eq!(letters[0].offset, deliveries[37].offset, "and it is the duplicate");
    assert_eq!(letters[0].error_class, "constraint");
    assert!(letters[0].error.contains("duplicate key"), "{}", letters[0].error);
    assert_eq!(group_metric("signalops_dlq_records_total", &f.group, "error_class=\"constraint\""), 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_handler_that_panics_on_one_record_dead_letters_it_and_the_partition_moves_on() {
    let f = fixture(1).await;
    let payloads: Vec<String> = (0..40).map(|i| if i == 13 { "panic-13".to_owned() } else { format!("record-{i}") }).collect();
    let deliveries = f.produce(payloads).await;
    let member = f.member(ProbeHandler::new("a"));
    assert!(f.wait_quiescent(Duration::from_secs(60)).await, "not blocked by the panic");
    assert_eq!(f.counts().await, (39, 39));
    // The partition is not left busy: later records are applied too.
    f.produce((40..50).map(|i| format!("record-{i}"))).await;
    let quiescent = f.wait_quiescent(Duration::from_secs(60)).await;
    let counts = f.counts().await;
    stop(member).await;
    assert!(quiescent);
    assert_eq!(counts, (49, 49));
    let letters = dead_letters(&f);
    assert_eq!(letters.iter().map(|l| (l.offset, l.error_class.as_str())).collect::<Vec<_>>(), [(deliveries[13].offset, "panic")]);
    assert!(letters[0].error.contains("payload says panic"), "{}", letters[0].error);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_handler_naming_a_record_outside_its_batch_dead_letters_the_record_that_fails_and_no_other() {
    let f = fixture(1).await;
    // Record 21 makes the handler name an index past the end of the batch:
    // the runtime must find record 21 by bisection, not clamp the index to
    // the batch's last record, which is good.
    let payloads: Vec<String> = (0..40).map(|i| if i == 21 { "misindex-21".to_owned() } else { format!("record-{i}") }).collect();
    let deliveries = f.produce(payloads).await;
    let member = f.member(ProbeHandler::new("a"));
    let quiescent = f.wait_quiescent(Duration::from_secs(60)).await;
    let counts = f.counts().await;
    stop(member).await;
    assert!(quiescent, "every record applied or dead-lettered, and committed");
    assert_eq!(counts, (39, 39), "every good record applied once");
    let letters = dead_letters(&f);
    assert_eq!(letters.iter().map(|l| l.offset).collect::<Vec<_>>(), [deliveries[21].offset], "only the failing record");
    assert_eq!(letters[0].original_value, b"misindex-21");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_batch_waiting_on_a_row_lock_does_not_hold_shutdown_past_the_drain_deadline() {
    let f = fixture(1).await;
    f.produce_n(50).await;
    // Another session holds the probe table, so the member's insert waits
    // on the lock for as long as that session keeps it.
    let mut locker = f.db.owner().await.expect("owner");
    let lock = locker.transaction().await.expect("transaction");
    lock.batch_execute("LOCK TABLE probe_rows IN ACCESS EXCLUSIVE MODE").await.expect("lock");
    // In its own process, so a shutdown that never ends fails this test
    // instead of hanging it. The probe drains for 5 s, its attempts may
    // take 30 s, and its session times out after 10 s.
    let mut member = f.probe_process("a");
    // Only a superuser sees what other roles' sessions wait for.
    let superuser = f.db.superuser().await.expect("superuser");
    let waiting = eventually(Duration::from_secs(30), || async {
        let row = superuser
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND usename = 'signalops_app' \
                 AND wait_event_type = 'Lock'",
                &[],
            )
            .await
            .expect("activity");
        (row.try_get::<_, i64>(0).ok() > Some(0)).then_some(())
    })
    .await;
    assert!(waiting.is_some(), "the member's batch waits on the lock");

    // The session timeout is 10 s: shutdown must end before it.
    signal(&member, "TERM");
    let drained = tokio::time::timeout(Duration::from_secs(9), member.wait()).await;
    lock.rollback().await.expect("release the lock");
    let status = drained.expect("shutdown waited on the row lock past the 5 s drain deadline").expect("exit status");
    assert!(status.success(), "a clean exit after SIGTERM: {status}");

    // What the abandoned batch did not commit, the next member applies once.
    let next = f.member(ProbeHandler::new("b"));
    let quiescent = f.wait_quiescent(Duration::from_secs(60)).await;
    let counts = f.counts().await;
    stop(next).await;
    assert!(quiescent, "every partition applied and committed to its end");
    assert_eq!(counts, (50, 50), "none missing, none twice");
}

/// A relay process between the member and Postgres, to SIGSTOP.
async fn postgres_relay(app_url: &str) -> (tokio::process::Child, String) {
    let config: tokio_postgres::Config = app_url.parse().expect("url");
    let port = config.get_ports().first().copied().expect("port");
    let mut relay = tokio::process::Command::new(relay_binary())
        .args(["--target", &format!("127.0.0.1:{port}")])
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("relay starts");
    let mut lines = tokio::io::BufReader::new(relay.stdout.take().expect("stdout")).lines();
    let relay_port = lines.next_line().await.expect("read").expect("port line");
    let url = app_url.replacen(&format!(":{port}/"), &format!(":{relay_port}/"), 1);
    assert_ne!(url, app_url, "the URL points at the relay");
    (relay, url)
}

async fn readyz(port: u16) -> (u16, serde_json::Value) {
    let response = reqwest::get(format!("http://127.0.0.1:{port}/readyz")).await.expect("readyz answers");
    let status = response.status().as_u16();
    (status, response.json().await.expect("json"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_stopped_past_the_stall_threshold_turns_readiness_red_then_green_and_applies_exactly_n() {
    let f = fixture(3).await;
    let n = 1_500;
    f.produce_n(n).await;
    let (relay, url) = postgres_relay(&f.db.app_url).await;
    let pool =
        postgres::connect_pool(&DatabaseSettings { url: Secret::new(url), pool_max_size: 4, connect_timeout_ms: 1_000 }).expect("pool");
    let adjust = |s: &mut ConsumerSettings| {
        s.batch_max_records = 50;
        s.stall_alert_secs = 2;
        s.attempt_timeout_ms = 1_000;
        s.retry_max_backoff_ms = 500;
    };
    let member = f.member_on(pool, ProbeHandler::new("a").with_delay(Duration::from_millis(10)), adjust, |r| r);
    let health: std::sync::Arc<dyn ReadinessCheck> = std::sync::Arc::new(member.health.clone());
    let server = start_health_server(&HttpSettings::with_port(0), Readiness::new(vec![health])).expect("health server");
    let port = server.local_addr.port();
    assert_eq!(readyz(port).await.0, 200, "ready while applying");
    f.wait_for_rows(200, Duration::from_secs(60)).await;

    signal(&relay, "STOP");
    let red = eventually(Duration::from_secs(30), || async {
        let (status, body) = readyz(port).await;
        (status == 503).then_some(body)
    })
    .await;
    // The gauge is set at every retry, so it may trail readiness by one step.
    let stalled = eventually(Duration::from_secs(15), || async {
        let stalled = group_metric("signalops_consumer_partition_stalled_seconds", &f.group, "");
        (stalled >= 2.0).then_some(stalled)
    })
    .await;
    signal(&relay, "CONT");
    let red = red.expect("readiness went red while Postgres did not answer");
    assert!(red["checks"]["consumer"]["detail"].as_str().is_some_and(|d| d.contains("stalled partitions")), "{red}");
    assert!(stalled.is_some(), "the stall gauge showed it");

    let quiescent = f.wait_quiescent(Duration::from_secs(90)).await;
    let counts = f.counts().await;
    let green = eventually(Duration::from_secs(20), || async { (readyz(port).await.0 == 200).then_some(()) }).await;
    stop(member).await;
    server.stop().await;
    assert!(quiescent, "every partition applied and committed to its end after Postgres came back");
    assert_eq!(counts, (n as i64, n as i64), "none lost, none twice");
    assert!(green.is_some(), "readiness green again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_unavailable_dead_letter_topic_stalls_the_partition_and_never_skips_the_record() {
    let mut f = fixture(1).await;
    // The dead-letter topic does not exist yet (topics are never auto-created).
    f.dlq = format!("test.missing-dlq.{}", uuid::Uuid::new_v4().simple());
    f.producer = EventProducer::new(
        &signalops_platform::config::KafkaSettings { delivery_timeout_ms: 1_000, ..f.stack.kafka_settings() },
        "runtime-test-short",
    )
    .expect("producer");
    let payloads: Vec<String> = (0..30).map(|i| if i == 10 { "poison-10".to_owned() } else { format!("record-{i}") }).collect();
    let deliveries = f.produce(payloads).await;
    let member = f.member_with(ProbeHandler::new("a"), |s| {
        s.stall_alert_secs = 1;
        s.retry_max_backoff_ms = 500;
    });
    let health: ConsumerHealth = member.health.clone();
    let alerted = eventually(Duration::from_secs(30), || async { health.check().await.err() }).await;
    let stored_while_stalled = f.stored_offsets_total().await;
    let rows_while_stalled = f.counts().await;

    f.stack.create_topic(&f.dlq, 1).await.expect("dlq topic now");
    let quiescent = f.wait_quiescent(Duration::from_secs(60)).await;
    let counts = f.counts().await;
    let green = eventually(Duration::from_secs(20), || async { health.check().await.ok() }).await;
    stop(member).await;
    assert_eq!(stored_while_stalled, deliveries[10].offset, "the partition waited at the record it could not dead-letter");
    assert_eq!(rows_while_stalled, (10, 10), "nothing after it was applied");
    assert!(alerted.is_some_and(|e| e.contains("stalled")), "the stall was reported");
    assert!(quiescent);
    assert_eq!(counts, (29, 29));
    assert!(green.is_some(), "readiness green again once the dead letter could be appended");
    let letters = dead_letters(&f);
    assert_eq!(letters.iter().map(|l| l.offset).collect::<Vec<_>>(), [deliveries[10].offset]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_zombie_member_stopped_past_the_session_timeout_and_continued_leaves_exactly_n() {
    let f = fixture(6).await;
    let n = 3_000;
    f.produce_n(n).await;
    let mut zombie = f.probe_process_with("zombie", &["--session-timeout-ms", "6000"]);
    f.wait_for_rows(300, Duration::from_secs(60)).await;
    let live = f.member_with(ProbeHandler::new("live").with_delay(Duration::from_millis(5)), |s| {
        s.session_timeout_ms = 6_000;
        s.drain_timeout_ms = 3_000;
        s.attempt_timeout_ms = 2_000;
    });
    let shared = eventually(Duration::from_secs(60), || async { (f.group_members() == 2).then_some(()) }).await;
    assert!(shared.is_some(), "the zombie and the live member share the partitions");
    signal(&zombie, "STOP");
    // Past the session timeout the group expels the zombie: it is stable
    // again with the live member alone, which owns every partition. The
    // zombie's batches in flight still hold their offset rows' locks, so the
    // live member may not write those partitions until it continues.
    let took_over = eventually(Duration::from_secs(60), || async { (f.group_members() == 1).then_some(()) }).await;
    signal(&zombie, "CONT");
    let quiescent = f.wait_quiescent(Duration::from_secs(120)).await;
    let counts = f.counts().await;
    let offsets = f.kafka_and_postgres_offsets(6).await;
    stop(live).await;
    zombie.start_kill().expect("kill zombie");
    let _ = zombie.wait().await;
    assert!(took_over.is_some(), "the group expelled the zombie and the live member took its partitions while it was stopped");
    assert!(quiescent, "every partition applied and committed to its end: (partition, kafka, postgres) {offsets:?}");
    assert_eq!(counts, (n as i64, n as i64), "the zombie's late batches did not apply twice");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_static_member_fenced_by_a_duplicate_instance_id_fails_readiness_and_exits_non_zero_with_one_line() {
    let f = fixture(2).await;
    f.produce_n(200).await;
    let instance = format!("probe-{}", uuid::Uuid::new_v4().simple());
    let first = f.member_with_instance(ProbeHandler::new("a"), Some(&instance));
    f.wait_for_rows(200, Duration::from_secs(60)).await;
    // A second process with the same group.instance.id fences the first.
    let mut second = f.probe_process_with("b", &["--instance-id", &instance, "--session-timeout-ms", "6000"]);
    let ended = tokio::time::timeout(Duration::from_secs(60), first.task).await.expect("the fenced member stopped").expect("task");
    let error = ended.expect_err("a fatal error");
    assert!(error.to_string().contains("fatal Kafka error"), "{error}");
    let readiness = first.health.check().await.expect_err("readiness fails");
    assert!(readiness.contains("fatal"), "{readiness}");

    // And the process that gets fenced in turn exits non-zero with one line.
    f.produce_n(50).await;
    f.wait_for_rows(250, Duration::from_secs(60)).await;
    let mut third = f.probe_process_with("c", &["--instance-id", &instance, "--session-timeout-ms", "6000"]);
    let status = tokio::time::timeout(Duration::from_secs(60), second.wait()).await.expect("fenced process exits").expect("status");
    let mut stderr = String::new();
    tokio::io::AsyncReadExt::read_to_string(&mut second.stderr.take().expect("stderr"), &mut stderr).await.expect("stderr");
    third.start_kill().expect("stop");
    let _ = third.wait().await;
    assert!(!status.success(), "non-zero exit: {status}");
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one clear line: {stderr}");
    assert!(lines[0].contains("fatal Kafka error") && lines[0].contains(&f.group), "{}", lines[0]);
}
