//! Exactly-once firing under failure and scale: a rules process killed with
//! SIGKILL mid-stream and restarted, and two processes sharing the
//! partitions, fire every firing once. Firing rows are unique by key, so
//! applications are counted by windows instead: a window of two per event
//! id fires only if an event is applied twice, and windows of three per
//! group fire at exactly every third event of the group.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde_json::json;
use signalops_proto::Event;
use signalops_rule_engine::action_id;
use signalops_testkit::eventually;
use signalops_testkit::service_check::{free_port, http_get};
use uuid::Uuid;

use crate::fixture::{Fixture, at, envelope, fixture, notify_with};

const GROUPS: usize = 5;

struct TenantRules {
    tenant: Uuid,
    every: Uuid,
    twice: Uuid,
    thirds: Uuid,
}

async fn rules_for(f: &Fixture, tenant: Uuid) -> TenantRules {
    TenantRules {
        tenant,
        every: f.rule(tenant, &notify_with("tick", json!({}))).await,
        twice: f.rule(tenant, &notify_with("tick", json!({"window": {"count": 2, "within": "30d", "per": "/data/n"}}))).await,
        thirds: f.rule(tenant, &notify_with("tick", json!({"window": {"count": 3, "within": "30d", "per": "/data/g"}}))).await,
    }
}

/// `n` events per tenant, interleaved, each with a unique `n` and a group `g`.
fn ticks(tenants: &[TenantRules], n: usize) -> Vec<Event> {
    (0..n)
        .flat_map(|i| {
            tenants.iter().map(move |t| envelope(t.tenant, "tick", &json!({"n": i, "g": i % GROUPS}), at(i64::try_from(i).unwrap_or(0))))
        })
        .collect()
}

/// The firings applied-once processing gives: (rule, event id).
fn expected(tenants: &[TenantRules], events: &[Event]) -> BTreeSet<(Uuid, String)> {
    let mut expected = BTreeSet::new();
    let mut seen: BTreeMap<(String, usize), usize> = BTreeMap::new();
    for (i, e) in events.iter().enumerate() {
        let t = tenants.iter().find(|t| t.tenant.to_string() == e.tenant_id).expect("tenant");
        expected.insert((t.every, e.id.clone()));
        let count = seen.entry((e.tenant_id.clone(), (i / tenants.len()) % GROUPS)).or_default();
        *count += 1;
        if count.is_multiple_of(3) {
            expected.insert((t.thirds, e.id.clone()));
        }
    }
    expected
}

async fn firing_set(f: &Fixture, tenants: &[TenantRules]) -> BTreeSet<(Uuid, String)> {
    let mut all = BTreeSet::new();
    for t in tenants {
        for firing in f.firings(t.tenant).await {
            assert_eq!(firing.3, "fired", "{firing:?}");
            assert_ne!(firing.0, t.twice, "an event was applied twice: {firing:?}");
            all.insert((firing.0, firing.2));
        }
    }
    all
}

async fn firing_count(f: &Fixture) -> i64 {
    f.checksums().await.values().map(|(n, _)| n).sum()
}

#[tokio::test]
async fn a_rules_process_killed_with_sigkill_mid_stream_and_restarted_fires_each_firing_once() {
    let f = fixture(2).await;
    let mut tenants = Vec::new();
    for _ in 0..2 {
        let tenant = f.tenant().await;
        tenants.push(rules_for(&f, tenant).await);
    }
    let events = ticks(&tenants, 3_000);
    f.send(&events).await;
    let want = expected(&tenants, &events);

    let binary = env!("CARGO_BIN_EXE_rules");
    let mut first = f.process(binary, free_port());
    let started = eventually(Duration::from_secs(60), || async { (firing_count(&f).await > 0).then_some(()) }).await;
    assert!(started.is_some(), "the rules process fired nothing");
    first.start_kill().expect("SIGKILL");
    let _ = first.wait().await;
    let after_kill = firing_count(&f).await;
    assert!(after_kill < i64::try_from(want.len()).unwrap_or(i64::MAX), "killed mid-stream ({after_kill} firings)");

    let mut second = f.process(binary, free_port());
    let settled = f.wait_quiescent(Duration::from_secs(180)).await;
    second.start_kill().expect("stop");
    let _ = second.wait().await;
    assert!(settled, "the restarted process caught up");

    assert_eq!(firing_set(&f, &tenants).await, want, "every firing once, none from a twice-applied event");
    let staged: BTreeSet<String> = want.iter().map(|(rule, event)| action_id(event, *rule, 1, 0).to_string()).collect();
    let appended: BTreeSet<String> = f.notifications().into_iter().map(|n| n.id).collect();
    assert_eq!(appended, staged, "every staged notification reached Kafka (at least once, same id)");
}

fn group_members(f: &Fixture) -> usize {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    let client: BaseConsumer = rdkafka::ClientConfig::new().set("bootstrap.servers", &f.stack.brokers).create().expect("client");
    client
        .fetch_group_list(Some(&f.group), Duration::from_secs(5))
        .ok()
        .and_then(|list| list.groups().first().map(|g| if g.state() == "Stable" { g.members().len() } else { 0 }))
        .unwrap_or(0)
}

async fn records_applied(port: u16, group: &str) -> f64 {
    let (_, body) = http_get(port, "/metrics").await.unwrap_or_default();
    body.lines()
        .filter(|l| l.starts_with("signalops_consumer_records_total{") && l.contains(&format!("group=\"{group}\"")))
        .filter_map(|l| l.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok()))
        .sum()
}

#[tokio::test]
async fn two_rules_processes_split_the_partitions_and_fire_each_firing_once() {
    let f = fixture(4).await;
    // Two tenants on every partition (records are keyed by tenant, and the
    // producer's partitioner is CRC-32 of the key), so whatever half of the
    // partitions a member gets, it has records to apply.
    let mut per_partition = [0usize; 4];
    let mut tenants = Vec::new();
    while per_partition.iter().any(|n| *n < 2) {
        let tenant = f.tenant().await;
        let partition = crc32fast::hash(tenant.to_string().as_bytes()) as usize % per_partition.len();
        if per_partition[partition] < 2 {
            per_partition[partition] += 1;
            tenants.push(rules_for(&f, tenant).await);
        }
    }
    let binary = env!("CARGO_BIN_EXE_rules");
    let ports = [free_port(), free_port()];
    let mut members: Vec<_> = ports.iter().map(|port| f.process(binary, *port)).collect();
    let both = eventually(Duration::from_secs(60), || async { (group_members(&f) == 2).then_some(()) }).await;
    assert!(both.is_some(), "both processes joined the group");
    for port in ports {
        let (status, body) = http_get(port, "/readyz").await.expect("/readyz answers");
        assert_eq!(status, 200, "ready: {body}");
    }
    let events = ticks(&tenants, 250);
    f.send(&events).await;
    let ends = f.end_offsets(&f.events, 4);
    assert!(ends.values().all(|n| *n > 0), "records on every partition: {ends:?}");
    let settled = f.wait_quiescent(Duration::from_secs(120)).await;
    let applied = [records_applied(ports[0], &f.group).await, records_applied(ports[1], &f.group).await];
    for member in &mut members {
        member.start_kill().expect("stop");
        let _ = member.wait().await;
    }
    assert!(settled, "the group settled");
    assert!(applied.iter().all(|n| *n > 0.0), "both processes applied records: {applied:?}");

    let want = expected(&tenants, &events);
    assert_eq!(firing_set(&f, &tenants).await, want, "every firing once");
    let ids: Vec<String> = f.notifications().into_iter().map(|n| n.id).collect();
    let unique: BTreeSet<&String> = ids.iter().collect();
    assert_eq!((ids.len(), unique.len()), (want.len(), want.len()), "each notification appended once");
}
