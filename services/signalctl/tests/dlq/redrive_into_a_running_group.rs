//! The dead-letter runbook end to end: a running consumer group
//! dead-letters a record it refuses, the cause is fixed, and the real
//! `signalctl dlq redrive --execute` feeds it back to that group. The record
//! takes effect exactly once however often it is redriven, the group counts
//! the repeat as a duplicate, and `dlq list` shows the dead letter as
//! redriven.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde_json::Value;
use signalops_platform::postgres;
use signalops_testkit::consumer_fixture::{Fixture, fixture, group_metric, stop};
use signalops_testkit::{ProbeHandler, eventually};

use crate::helpers::{Dlq, counts};

const REDRIVEN: &str = "signalops_consumer_redriven_records_total";

/// Rows the refused record left in the probe table, and the group's claims
/// of redriven source records.
async fn effect_and_claims(f: &Fixture) -> (i64, i64) {
    let owner = f.db.owner().await.expect("owner");
    let rows: i64 =
        owner.query_one("SELECT count(*) FROM probe_rows WHERE payload = 'refuse-5'", &[]).await.expect("rows").try_get(0).expect("count");
    let claims: i64 = owner
        .query_one("SELECT count(*) FROM consumer_redrives WHERE group_id = $1", &[&f.group])
        .await
        .expect("claims")
        .try_get(0)
        .expect("count");
    (rows, claims)
}

fn appended(result: &Value) -> usize {
    result["appended"].as_array().map_or(0, Vec::len)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_dead_letter_of_a_running_group_redriven_twice_by_signalctl_takes_effect_once_and_the_repeat_counts_as_a_duplicate() {
    let f = fixture(1).await;
    let redrive_topic = f.stack.topic("redrive", 1).await.expect("redrive topic");
    let t = Dlq::over(&f, &redrive_topic);
    let refusing = Arc::new(AtomicBool::new(true));
    let deliveries = f.produce((0..12).map(|i| if i == 5 { "refuse-5".to_owned() } else { format!("record-{i}") })).await;
    let member = f.member_on(
        postgres::connect_pool(&f.db.settings()).expect("pool"),
        ProbeHandler::new("a").refusing_while(refusing.clone()),
        |_| {},
        |r| r.with_redrive_topic(redrive_topic.clone()),
    );
    assert!(f.wait_quiescent(Duration::from_secs(60)).await, "the group moved past the refused record");
    assert_eq!(effect_and_claims(&f).await, (0, 0), "the refused record took no effect");

    // What the operator finds.
    let before = t.json(&["dlq", "list", "--group", &f.group]).await;
    assert_eq!(before["total"], 1, "{before}");
    let letter = &before["records"][0];
    assert_eq!(
        (letter["error_class"].as_str(), letter["source_topic"].as_str(), letter["source_offset"].as_i64(), letter["redriven"].as_bool()),
        (Some("poison"), Some(f.topic.as_str()), Some(deliveries[5].offset), Some(false)),
        "{letter}"
    );
    let position = letter["position"].as_str().expect("position").to_owned();

    // The cause is fixed, then the runbook's redrive.
    refusing.store(false, Ordering::SeqCst);
    let first = t.json(&["dlq", "redrive", "--group", &f.group, "--execute", "--actor", "ops@example.test"]).await;
    assert_eq!(appended(&first), 1, "{first}");
    assert!(f.wait_stored_to_end(&f.group, &redrive_topic, Duration::from_secs(60)).await, "the group read the redrive");
    assert_eq!(effect_and_claims(&f).await, (1, 1), "applied once, its source claimed");
    let applied = eventually(Duration::from_secs(10), || async {
        let n = group_metric(REDRIVEN, &f.group, "outcome=\"applied\"");
        (n >= 1.0).then_some(n)
    })
    .await;
    assert_eq!(applied, Some(1.0), "counted as applied");

    // The same command again: signalctl sees it on the redrive topic and sends nothing.
    let repeated = t.json(&["dlq", "redrive", "--group", &f.group, "--execute"]).await;
    assert_eq!((appended(&repeated), repeated["skipped_redriven"].clone()), (0, serde_json::json!([position])), "{repeated}");
    assert_eq!(t.read_topic(&redrive_topic).len(), 1, "nothing more appended");

    // Sent again on purpose (as for a redrive that failed again): the group
    // reads it and recognises the source record.
    let forced = t.json(&["dlq", "redrive", "--record", &position, "--include-redriven", "--execute"]).await;
    assert_eq!(appended(&forced), 1, "{forced}");
    assert!(f.wait_stored_to_end(&f.group, &redrive_topic, Duration::from_secs(60)).await, "the group read the second redrive");
    let duplicates = eventually(Duration::from_secs(10), || async {
        let n = group_metric(REDRIVEN, &f.group, "outcome=\"duplicate\"");
        (n >= 1.0).then_some(n)
    })
    .await;
    let (effect, claims) = effect_and_claims(&f).await;
    let totals = f.counts().await;
    let still_applied = group_metric(REDRIVEN, &f.group, "outcome=\"applied\"");
    stop(member).await;
    assert_eq!((effect, claims, still_applied), (1, 1, 1.0), "the second redrive took no effect");
    assert_eq!(duplicates, Some(1.0), "and counted as a duplicate");
    assert_eq!(totals, (12, 12), "every record of the topic applied exactly once, at its own offset");

    // Afterwards the dead letter is still listed, marked as redriven.
    let after = t.json(&["dlq", "list", "--group", &f.group]).await;
    assert_eq!((after["total"].clone(), after["records"][0]["redriven"].clone()), (1.into(), true.into()), "{after}");
    assert_eq!(counts(&after), counts(&before), "the counts per group and class do not change");
    let text = String::from_utf8(t.signalctl(&["dlq", "list", "--group", &f.group]).output().await.expect("runs").stdout).expect("utf-8");
    let row = text.lines().find(|l| l.starts_with(&position)).unwrap_or_default();
    assert!(row.split_whitespace().any(|cell| cell == "yes"), "the RD column says yes: {text}");
    let audit = t.audit().await;
    assert_eq!(
        audit.iter().map(|(action, _, _, _)| action.as_str()).collect::<Vec<_>>(),
        ["dlq.redrive", "dlq.redrive"],
        "one entry per redrive that appended something"
    );
}
