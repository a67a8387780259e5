//! Rule loading: a change (a new rule, a new version, a pause) runs within
//! a second on every instance (at the default reload interval), paused
//! rules never fire, and a rule that does not compile is
//! skipped without stopping the tenant's other rules.

use std::time::{Duration, Instant};

use serde_json::json;
use signalops_platform::TenantId;
use signalops_testkit::eventually;
use uuid::Uuid;

use crate::fixture::{Fixture, at, envelope, fixture, notify_with};

/// Waits (at most a second from the change) until every member runs the
/// tenant's current revision.
async fn picked_up(f: &Fixture, members: &[&signalops_rules::Running], tenant: Uuid) -> Duration {
    let started = Instant::now();
    let wanted = f.revision(tenant).await;
    let tenant = TenantId::from_uuid(tenant);
    let seen =
        eventually(Duration::from_secs(1), || async { members.iter().all(|m| m.catalog.revision(tenant) == Some(wanted)).then_some(()) })
            .await;
    let have: Vec<_> = members.iter().map(|m| m.catalog.revision(tenant)).collect();
    assert!(seen.is_some(), "revision {wanted} not loaded by every member within a second (have {have:?})");
    started.elapsed()
}

#[tokio::test]
async fn rule_changes_run_within_a_second_and_paused_or_broken_rules_never_fire() {
    let f = fixture(1).await;
    let tenant = f.tenant().await;
    let paused = f.rule(tenant, &notify_with("deploy.done", json!({"status": "paused"}))).await;
    f.rule(tenant, &json!({"name": "no conditions, no actions"})).await;
    let member = f.member().await;
    let other = f.member().await;
    let members = [&member, &other];
    let deploy = |n: i64| envelope(tenant, "deploy.done", &json!({"n": n}), at(n));

    let settle = || f.wait_quiescent(Duration::from_secs(60));
    let before = deploy(0);
    f.send(std::slice::from_ref(&before)).await;
    assert!(settle().await, "applied before the rule exists");
    let rule = f.rule(tenant, &notify_with("deploy.done", json!({}))).await;
    picked_up(&f, &members, tenant).await;
    let first = deploy(1);
    f.send(std::slice::from_ref(&first)).await;
    assert!(settle().await, "applied before the new version");

    let body_v2 = notify_with("deploy.done", json!({"actions": [{"notify": {"channels": ["ops"], "body": "v2 {{ event.id }}"}}]}));
    assert_eq!(f.new_version(tenant, rule, &body_v2).await, 2);
    picked_up(&f, &members, tenant).await;
    let second = deploy(2);
    f.send(std::slice::from_ref(&second)).await;
    assert!(settle().await, "applied before the pause");

    f.set_status(rule, "paused").await;
    picked_up(&f, &members, tenant).await;
    let third = deploy(3);
    f.send(std::slice::from_ref(&third)).await;
    assert!(settle().await, "the group settled");
    for running in [member, other] {
        running.stop.cancel();
        running.wait().await.expect("member stopped");
    }

    let firings: Vec<(Uuid, i32, String)> = f.firings(tenant).await.into_iter().map(|f| (f.0, f.1, f.2)).collect();
    assert_eq!(firings, vec![(rule, 1, first.id.clone()), (rule, 2, second.id.clone())], "v1, then v2, then paused: nothing");
    assert!(firings.iter().all(|f| f.0 != paused), "a rule paused from the start never fires");
    let bodies: Vec<String> = f.notifications().into_iter().map(|n| n.body).collect();
    assert_eq!(bodies, vec![first.id.clone(), format!("v2 {}", second.id)]);
}
