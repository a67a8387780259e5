//! How the rules group appends: only new firings append, so events the
//! group applies again (a redelivery, a batch re-read from stored offsets)
//! append nothing twice; and a batch whose transaction fails after its
//! append appends the same records again, with the same ids, before it
//! commits once.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::json;
use signalops_rule_engine::action_id;
use uuid::Uuid;

use crate::fixture::{Fixture, at, envelope, fixture, notify_and_emit};

const SETTLE: Duration = Duration::from_secs(60);

async fn run_until_quiescent(f: &Fixture) {
    let member = f.member().await;
    assert!(f.wait_quiescent(SETTLE).await, "the group settled");
    member.stop.cancel();
    member.wait().await.expect("member stopped");
}

fn counts(appended: &[(Uuid, &'static str)]) -> BTreeMap<Uuid, usize> {
    let mut counts = BTreeMap::new();
    for (id, _) in appended {
        *counts.entry(*id).or_default() += 1;
    }
    counts
}

#[tokio::test]
async fn events_applied_again_append_nothing_for_firings_already_recorded() {
    let f = fixture(1).await;
    let tenant = f.tenant().await;
    f.rule(tenant, &notify_and_emit("payment.failed", "payment.flagged")).await;
    let events: Vec<_> =
        (0..20).map(|i| envelope(tenant, "payment.failed", &json!({"customer": format!("c{i}"), "amount": 100 + i}), at(i))).collect();
    f.send(&events).await;
    run_until_quiescent(&f).await;
    let first = f.appended(tenant);
    assert_eq!(first.len(), 40, "a request and a derived event per payment");
    assert!(counts(&first).values().all(|n| *n == 1), "each once");
    let firings = f.firings(tenant).await;

    // The group reads everything again from its stored offsets, with its
    // firings kept: as after a batch redelivered to a member.
    let db = f.db.superuser().await.expect("superuser");
    db.execute("UPDATE consumer_offsets SET next_offset = 0 WHERE group_id = $1", &[&f.group]).await.expect("rewind");
    run_until_quiescent(&f).await;
    assert_eq!(f.appended(tenant), first, "nothing appended twice");
    assert_eq!(f.firings(tenant).await, firings, "the same firings");
}

#[tokio::test]
async fn a_batch_failing_after_its_append_appends_the_same_ids_again_and_commits_once() {
    let f = fixture(1).await;
    let tenant = f.tenant().await;
    let rule = f.rule(tenant, &notify_and_emit("payment.failed", "payment.flagged")).await;
    // The first offset a batch stores fails as a serialization failure would (retried, never dead-lettered): the batch has appended
    // by then, and its transaction rolls back.
    let db = f.db.superuser().await.expect("superuser");
    db.batch_execute(&format!(
        "CREATE SEQUENCE offset_failures; GRANT USAGE ON SEQUENCE offset_failures TO signalops_app; \
         CREATE FUNCTION fail_first_offset() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
             IF nextval('offset_failures') = 1 THEN RAISE EXCEPTION 'injected' USING ERRCODE = '40001'; END IF; \
             RETURN NEW; END $$; \
         CREATE TRIGGER fail_first_offset BEFORE INSERT OR UPDATE ON consumer_offsets \
             FOR EACH ROW WHEN (NEW.group_id = '{}' AND NEW.next_offset > 0) EXECUTE FUNCTION fail_first_offset();",
        f.group
    ))
    .await
    .expect("failure injected");
    let events: Vec<_> =
        (0..5).map(|i| envelope(tenant, "payment.failed", &json!({"customer": format!("c{i}"), "amount": 100 + i}), at(i))).collect();
    f.send(&events).await;
    run_until_quiescent(&f).await;

    let failures: i64 = db.query_one("SELECT last_value FROM offset_failures", &[]).await.expect("sequence").try_get(0).expect("value");
    assert!(failures >= 2, "the injected failure happened and the batch was retried");
    let mut expected: Vec<Uuid> = events.iter().flat_map(|e| [action_id(&e.id, rule, 1, 0), action_id(&e.id, rule, 1, 1)]).collect();
    expected.sort_unstable();
    let appended = counts(&f.appended(tenant));
    assert_eq!(appended.keys().copied().collect::<Vec<_>>(), expected, "the same ids, and only those");
    assert!(appended.values().all(|n| *n == 2), "appended by the failed attempt and by the one that committed: {appended:?}");
    assert_eq!(f.firings(tenant).await.len(), 5, "the firings committed once");
}
