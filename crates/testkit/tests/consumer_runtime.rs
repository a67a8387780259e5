//! The delivery contract of the consumer runtime, against the real broker
//! and database: every test produces records, consumes them with a handler
//! that inserts one row per record (so a record applied twice shows as two
//! rows), and checks the effect happened exactly once per record.

use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer};
use signalops_platform::config::{LogFormat, TelemetrySettings};
use signalops_platform::telemetry;
use signalops_proto::{DeadLetter, Message as _};
use signalops_testkit::consumer_fixture::{fixture, read_all, stop};
use signalops_testkit::{ProbeHandler, eventually};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn n_records_produce_exactly_n_rows_and_offsets_land_in_postgres() {
    let f = fixture(6).await;
    let n = 1_000;
    f.produce_n(n).await;
    let member = f.member(ProbeHandler::new("a"));
    let quiescent = f.wait_quiescent(Duration::from_secs(60)).await;
    let (rows, distinct) = f.counts().await;
    // Once caught up, the lag gauge of every partition reads 0.
    let group_label = format!("group=\"{}\"", f.group);
    let lag_lines = eventually(Duration::from_secs(20), || async {
        let text = signalops_platform::metrics::render();
        let lines: Vec<String> =
            text.lines().filter(|l| l.starts_with("signalops_consumer_lag{") && l.contains(&group_label)).map(str::to_owned).collect();
        (lines.len() == 6 && lines.iter().all(|l| l.ends_with(" 0"))).then_some(lines)
    })
    .await;
    stop(member).await;
    assert!(quiescent, "every partition applied and committed to its end");
    assert!(lag_lines.is_some(), "lag per partition exported and 0 after catch-up: {}", signalops_platform::metrics::render());
    assert_eq!((rows, distinct), (n as i64, n as i64));
    // next_offset per partition sums to the number of records (offsets start at 0).
    assert_eq!(f.stored_offsets_total().await, n as i64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_partial_batch_is_applied_once_traffic_pauses_not_after_the_batch_wait() {
    let f = fixture(1).await;
    // Neither the size (100) nor the wait (10 minutes) is ever reached: only
    // the idle flush can apply these records.
    let member = f.member_with(ProbeHandler::new("a"), |settings| settings.batch_max_wait_ms = 600_000);
    f.produce_n(3).await;
    let (rows, distinct) = f.wait_for_rows(3, Duration::from_secs(30)).await;
    f.produce_n(2).await;
    let (more_rows, _) = f.wait_for_rows(5, Duration::from_secs(30)).await;
    stop(member).await;
    assert_eq!((rows, distinct), (3, 3), "three records applied without waiting for the batch to fill or time out");
    assert_eq!(more_rows, 5, "and the next pause applies the next partial batch");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn transient_failures_retry_the_batch_without_skipping_records() {
    let f = fixture(3).await;
    let n = 300;
    f.produce_n(n).await;
    let member = f.member(ProbeHandler::new("a").failing_first(4));
    let quiescent = f.wait_quiescent(Duration::from_secs(60)).await;
    let (rows, distinct) = f.counts().await;
    stop(member).await;
    assert!(quiescent, "every partition applied and committed to its end");
    assert_eq!((rows, distinct), (n as i64, n as i64));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_poison_record_goes_to_the_dlq_with_its_offset_and_the_rest_is_processed() {
    let f = fixture(3).await;
    let payloads: Vec<String> = (0..50).map(|i| if i == 17 { "poison-17".to_owned() } else { format!("record-{i}") }).collect();
    let deliveries = f.produce(payloads).await;
    let poison_at = deliveries[17];
    let member = f.member(ProbeHandler::new("a"));
    assert!(f.wait_quiescent(Duration::from_secs(60)).await, "every partition applied and committed to its end");
    let (rows, distinct) = f.counts().await;
    stop(member).await;
    assert_eq!((rows, distinct), (49, 49));
    assert_eq!(f.stored_offsets_total().await, 50, "the partition moved past the poison record");

    let letters = read_all(&f.stack.brokers, &f.dlq, Duration::from_secs(10));
    assert_eq!(letters.len(), 1, "exactly one dead letter");
    let letter = DeadLetter::decode(letters[0].as_slice()).expect("dead letter decodes");
    assert_eq!(letter.group_id, f.group);
    assert_eq!(letter.topic, f.topic);
    assert_eq!((letter.partition, letter.offset), (poison_at.partition, poison_at.offset));
    assert_eq!(letter.original_value, b"poison-17");
    assert_eq!(letter.original_key, b"tenant-0");
    assert!(letter.error.contains("poison"), "{}", letter.error);
    assert_eq!(letter.error_class, "poison");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_members_split_the_partitions_and_together_write_exactly_n() {
    let f = fixture(6).await;
    let a = f.member(ProbeHandler::new("a"));
    let b = f.member(ProbeHandler::new("b"));
    let joined = eventually(Duration::from_secs(30), || async { (f.group_members() == 2).then_some(()) }).await;
    assert!(joined.is_some(), "both members joined the group");
    let n = 2_000;
    f.produce_n(n).await;
    let quiescent = f.wait_quiescent(Duration::from_secs(60)).await;
    let (rows, distinct) = f.counts().await;
    // Every partition has a lag series while two members share the group.
    let group_label = format!("group=\"{}\"", f.group);
    let lag_series = eventually(Duration::from_secs(20), || async {
        let text = signalops_platform::metrics::render();
        let count = text.lines().filter(|l| l.starts_with("signalops_consumer_lag{") && l.contains(&group_label)).count();
        (count == 6).then_some(count)
    })
    .await;
    stop(a).await;
    stop(b).await;
    assert!(quiescent, "both members applied and committed every partition to its end");
    assert_eq!((rows, distinct), (n as i64, n as i64));
    let by_member = f.rows_by_member().await;
    assert_eq!(by_member.len(), 2, "both members wrote rows: {by_member:?}");
    assert_eq!(lag_series, Some(6), "one lag series per partition");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rebalances_during_processing_keep_the_effect_exactly_once() {
    let f = fixture(6).await;
    let n = 3_000;
    f.produce_n(n).await;
    let slow = Duration::from_millis(40);
    let a = f.member(ProbeHandler::new("a").with_delay(slow));
    f.wait_for_rows(300, Duration::from_secs(60)).await;
    // A second member joins mid-stream: partitions move from a to b.
    let b = f.member(ProbeHandler::new("b").with_delay(slow));
    f.wait_for_rows(1_500, Duration::from_secs(60)).await;
    // The first member leaves mid-stream: its partitions drain and move to b.
    stop(a).await;
    assert!(f.wait_quiescent(Duration::from_secs(90)).await, "b applied and committed every partition to its end");
    let (rows, distinct) = f.counts().await;
    stop(b).await;
    assert_eq!((rows, distinct), (n as i64, n as i64));
    let by_member = f.rows_by_member().await;
    assert!(by_member.iter().any(|(m, c)| m == "b" && *c > 0), "b took over partitions: {by_member:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_member_killed_with_sigkill_and_restarted_leaves_exactly_n_rows() {
    let f = fixture(6).await;
    let n = 3_000;
    f.produce_n(n).await;
    let probe = |name: &str| f.probe_process(name);
    let mut first = probe("first");
    let (partial, _) = f.wait_for_rows(500, Duration::from_secs(60)).await;
    first.start_kill().expect("SIGKILL");
    first.wait().await.expect("reaped");
    assert!(partial < n as i64, "killed mid-stream ({partial} rows)");

    let mut second = probe("second");
    let quiescent = f.wait_quiescent(Duration::from_secs(120)).await;
    let (rows, distinct) = f.counts().await;
    second.start_kill().expect("stop");
    let _ = second.wait().await;
    assert!(quiescent, "the restarted member applied and committed every partition to its end");
    assert_eq!((rows, distinct), (n as i64, n as i64), "none missing, none twice");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn trace_context_injected_by_the_producer_reaches_the_handler() {
    let _guard =
        telemetry::init("runtime-test", &TelemetrySettings { level: "warn".into(), format: LogFormat::Pretty, otlp_endpoint: None })
            .expect("telemetry");
    let f = fixture(1).await;
    let span = tracing::info_span!("test.produce");
    let expected = {
        use tracing_opentelemetry::OpenTelemetrySpanExt;
        signalops_platform::trace_context::trace_id(&span.context()).expect("span has a trace id")
    };
    {
        use tracing::Instrument;
        f.produce_n(3).instrument(span).await;
    }
    let member = f.member(ProbeHandler::new("a"));
    f.wait_for_rows(3, Duration::from_secs(60)).await;
    stop(member).await;
    let owner = f.db.owner().await.expect("owner");
    let traces: Vec<Option<String>> =
        owner.query("SELECT trace_id FROM probe_rows", &[]).await.expect("rows").iter().map(|r| r.get(0)).collect();
    assert_eq!(traces, vec![Some(expected.clone()); 3]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_drains_commits_kafka_offsets_equal_to_postgres_and_exits_cleanly() {
    let f = fixture(4).await;
    let n = 2_000;
    f.produce_n(n).await;
    let mut member = f.probe_process("first");
    f.wait_for_rows(300, Duration::from_secs(60)).await;
    let pid = member.id().expect("pid").to_string();
    assert!(tokio::process::Command::new("kill").args(["-TERM", &pid]).status().await.expect("kill").success());
    // drain_timeout_ms is 5 s in the probe; the session timeout 10 s.
    let status =
        tokio::time::timeout(Duration::from_secs(8), member.wait()).await.expect("drained before the session timeout").expect("status");
    assert!(status.success(), "clean exit after SIGTERM: {status}");
    let (rows, distinct) = f.counts().await;
    assert!(rows < n as i64, "stopped mid-stream ({rows} rows)");
    assert_eq!(rows, distinct);
    // Kafka's committed offsets are exactly Postgres' next offsets: lag tools tell the truth.
    let offsets = f.kafka_and_postgres_offsets(4).await;
    assert!(offsets.iter().all(|(_, kafka, stored)| kafka == stored), "kafka vs postgres: {offsets:?}");
    assert_eq!(offsets.iter().map(|(_, _, stored)| stored).sum::<i64>(), rows, "stored offsets account for every row");

    let mut second = f.probe_process("second");
    let quiescent = f.wait_quiescent(Duration::from_secs(120)).await;
    let (rows, distinct) = f.counts().await;
    second.start_kill().expect("stop");
    let _ = second.wait().await;
    assert!(quiescent, "the second member applied and committed every partition to its end");
    assert_eq!((rows, distinct), (n as i64, n as i64));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_static_member_joins_with_its_instance_id_and_restarts_exactly_once() {
    let f = fixture(3).await;
    let instance = format!("probe-{}", uuid::Uuid::new_v4().simple());
    f.produce_n(200).await;
    let first = f.member_with_instance(ProbeHandler::new("a"), Some(&instance));
    f.wait_for_rows(200, Duration::from_secs(60)).await;
    let member_ids = {
        let client: BaseConsumer = rdkafka::ClientConfig::new().set("bootstrap.servers", &f.stack.brokers).create().expect("client");
        let groups = client.fetch_group_list(Some(&f.group), Duration::from_secs(5)).expect("group list");
        groups.groups().iter().flat_map(|g| g.members().iter().map(|m| m.id().to_owned())).collect::<Vec<_>>()
    };
    assert!(member_ids.iter().any(|id| id.starts_with(&instance)), "static member id carries the instance id: {member_ids:?}");
    stop(first).await;

    // Restarting with the same instance id resumes from the stored offsets.
    f.produce_n(100).await;
    let second = f.member_with_instance(ProbeHandler::new("a"), Some(&instance));
    let quiescent = f.wait_quiescent(Duration::from_secs(60)).await;
    let (rows, distinct) = f.counts().await;
    stop(second).await;
    assert!(quiescent, "the restarted member applied and committed every partition to its end");
    assert_eq!((rows, distinct), (300, 300));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_offset_stored_past_the_kafka_commit_is_reported_to_kafka_on_assignment() {
    // A batch that committed in Postgres under an owner that could no longer
    // commit to Kafka (expelled, or revoked past its drain) leaves Kafka
    // behind. With no record left to read, only the next assignment can
    // bring Kafka level, or the group's lag would never clear.
    let f = fixture(2).await;
    f.produce_n(40).await;
    let ends = f.end_offsets();
    assert!(ends.iter().any(|end| *end > 0), "records to stand for: {ends:?}");
    let owner = f.db.owner().await.expect("owner");
    for (partition, end) in ends.iter().enumerate() {
        let partition = i32::try_from(partition).expect("partition");
        owner
            .execute(
                "INSERT INTO consumer_offsets (group_id, topic, partition, next_offset) VALUES ($1, $2, $3, $4)",
                &[&f.group, &f.topic, &partition, end],
            )
            .await
            .expect("stored offset");
    }
    let member = f.member(ProbeHandler::new("a"));
    let quiescent = f.wait_quiescent(Duration::from_secs(30)).await;
    let offsets = f.kafka_and_postgres_offsets(2).await;
    let counts = f.counts().await;
    stop(member).await;
    assert!(quiescent, "Kafka's committed offsets equal the stored ones: (partition, kafka, postgres) {offsets:?}");
    assert_eq!(counts, (0, 0), "nothing below the stored offsets was applied");
}
