//! `signalctl replay` of a rules group against the real broker and
//! database: only `--to-earliest` is allowed, it clears the rules state with
//! the offsets, and the recomputed firings are identical. The replay appends
//! each record once more with the same id (which consumers deduplicate on),
//! and the derived events it appends again start no second chain.

#[path = "../../rules/tests/group/fixture.rs"]
mod fixture;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use fixture::{Fixture, at, envelope, notify_and_emit, notify_with};
use serde_json::{Value, json};
use signalops_testkit::eventually;

fn signalctl(f: &Fixture, args: &[&str]) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_signalctl"));
    command
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("SIGNALOPS_KAFKA_BROKERS", &f.stack.brokers)
        .env("SIGNALOPS_DATABASE_URL", &f.db.app_url)
        .env("SIGNALOPS_KAFKA__TOPICS__EVENTS", &f.events);
    command
}

fn ids<T>(records: &[T], id: impl Fn(&T) -> String) -> (usize, BTreeSet<String>) {
    (records.len(), records.iter().map(id).collect())
}

/// How often each id occurs.
fn occurrences<T>(records: &[T], id: impl Fn(&T) -> String) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for record in records {
        *counts.entry(id(record)).or_default() += 1;
    }
    counts
}

async fn no_members(f: &Fixture) -> bool {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    let client: BaseConsumer = rdkafka::ClientConfig::new().set("bootstrap.servers", &f.stack.brokers).create().expect("client");
    eventually(Duration::from_secs(30), || async {
        let list = client.fetch_group_list(Some(&f.group), Duration::from_secs(5)).ok()?;
        list.groups().first().is_none_or(|g| g.members().is_empty()).then_some(())
    })
    .await
    .is_some()
}

#[tokio::test]
async fn replaying_a_rules_group_to_earliest_recomputes_identical_firings_and_appends_each_id_once_more() {
    let f = fixture::fixture(2).await;
    let mut tenants = Vec::new();
    for _ in 0..3 {
        let tenant = f.tenant().await;
        f.rule(tenant, &notify_and_emit("payment.failed", "payment.flagged")).await;
        f.rule(tenant, &notify_with("payment.failed", json!({"window": {"count": 2, "within": "1h", "per": "/data/customer"}}))).await;
        f.rule(tenant, &notify_with("payment.failed", json!({"throttle": {"at_most": 1, "per": "1h", "key": "/data/customer"}}))).await;
        f.rule(tenant, &notify_with("payment.flagged", json!({}))).await;
        tenants.push(tenant);
    }
    let events: Vec<_> = (0..300)
        .map(|i: i64| {
            let tenant = tenants[usize::try_from(i).unwrap_or(0) % tenants.len()];
            envelope(tenant, "payment.failed", &json!({"customer": format!("c{}", i % 7), "amount": 50 + i}), at(i * 97))
        })
        .collect();
    f.send(&events).await;
    let member = f.member().await;
    assert!(f.wait_quiescent(Duration::from_secs(120)).await, "the live run settled");
    member.stop.cancel();
    member.wait().await.expect("member stopped");
    let live = f.checksums().await;
    let firings: i64 = live.values().map(|(n, _)| n).sum();
    let notifications = ids(&f.notifications(), |n| n.id.clone());
    let derived = ids(&f.derived_events(), |e| e.id.clone());
    assert!(live.len() == 3 && firings > 300, "every tenant fired: {live:?}");
    assert_eq!(notifications.0, notifications.1.len(), "live: each notification once");
    assert!(no_members(&f).await, "the member left the group");

    let refused = signalctl(&f, &["replay", &f.group, "--to-datetime", "2026-01-01T00:00:00Z", "--execute"]).output().await.expect("runs");
    let message = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success(), "a replay to a time is refused");
    assert!(message.contains("--to-earliest") && message.contains("runs rules"), "a clear reason: {message}");
    assert_eq!(f.checksums().await, live, "nothing changed");

    let output = signalctl(&f, &["--json", "replay", &f.group, "--to-earliest", "--execute"]).output().await.expect("runs");
    assert!(output.status.success(), "replay: {}", String::from_utf8_lossy(&output.stderr));
    let report: Value = serde_json::from_slice(&output.stdout).expect("json");
    assert_eq!(report["rules_group"], json!(true));
    assert_eq!(report["rules_cleared"]["firings"], json!(firings), "{report}");
    assert!(f.checksums().await.is_empty(), "firings cleared with the offsets");

    let member = f.member().await;
    assert!(f.wait_quiescent(Duration::from_secs(120)).await, "the replay settled");
    member.stop.cancel();
    member.wait().await.expect("member stopped");
    assert_eq!(f.checksums().await, live, "the same firings, per tenant");
    // Every record once from the live run and once from the replay: a
    // derived event appended again is applied as a repeat (its firings are
    // already recorded), so it appends nothing a third time.
    let again = occurrences(&f.notifications(), |n| n.id.clone());
    assert!(again.keys().eq(notifications.1.iter()), "the same notification ids");
    let odd: Vec<_> = again.iter().filter(|(_, n)| **n != 2).collect();
    assert!(odd.is_empty(), "each notification once more; these not: {odd:?}");
    let again = occurrences(&f.derived_events(), |e| e.id.clone());
    assert!(again.keys().eq(derived.1.iter()), "the same derived event ids");
    let odd: Vec<_> = again.iter().filter(|(_, n)| **n != 2).collect();
    assert!(odd.is_empty(), "each derived event once more; these not: {odd:?}");
}
