//! What firings do: stateless rules append records with
//! deterministic ids, windows fire at the N-th event by `received_at`,
//! throttles suppress and say so, the loop guard stops self-triggering and
//! deep chains, a derived event that ingest would refuse is recorded, not
//! staged, and the platform's own system events are rules' events too.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::json;
use signalops_proto::Event;
use signalops_rule_engine::action_id;
use uuid::Uuid;

use crate::fixture::{TRACEPARENT, at, envelope, fixture, notify_and_emit, notify_with};

const SETTLE: Duration = Duration::from_secs(60);

fn fired(firings: &[crate::fixture::FiringRow]) -> BTreeSet<String> {
    firings.iter().filter(|f| f.3 == "fired").map(|f| f.2.clone()).collect()
}

#[tokio::test]
async fn a_stateless_rule_appends_its_records_once_with_deterministic_ids() {
    let f = fixture(1).await;
    let tenant = f.tenant().await;
    let rule = f.rule(tenant, &notify_and_emit("payment.failed", "payment.flagged")).await;
    let member = f.member().await;
    let large = envelope(tenant, "payment.failed", &json!({"customer": "c1", "amount": 150}), at(0));
    let small = envelope(tenant, "payment.failed", &json!({"customer": "c2", "amount": 50}), at(1));
    f.send(&[large.clone(), small]).await;
    assert!(f.wait_quiescent(SETTLE).await, "the group settled");
    member.stop.cancel();
    member.wait().await.expect("member stopped");

    let notify_id = action_id(&large.id, rule, 1, 0);
    let emit_id = action_id(&large.id, rule, 1, 1);
    let firings = f.firings(tenant).await;
    assert_eq!(firings.len(), 1, "only the large payment fires: {firings:?}");
    let (rule_id, version, event_id, outcome, reason, produced) = &firings[0];
    assert_eq!((*rule_id, *version, event_id.as_str(), outcome.as_str(), reason), (rule, 1, large.id.as_str(), "fired", &None));
    assert_eq!(produced[0]["id"], json!(notify_id));
    assert_eq!(produced[1]["id"], json!(emit_id));
    assert_eq!(produced[1]["staged"], json!(true));

    let mut expected = vec![(notify_id, "notification"), (emit_id, "event")];
    expected.sort_unstable();
    assert_eq!(f.appended(tenant), expected, "each record appended once");

    let requests = f.notifications();
    assert_eq!(requests.len(), 1);
    let n = &requests[0];
    assert_eq!(n.id, notify_id.to_string());
    assert_eq!(
        (n.tenant_id.as_str(), n.rule_id.as_str(), n.rule_version, n.action_index),
        (tenant.to_string().as_str(), rule.to_string().as_str(), 1, 0)
    );
    assert_eq!((n.source_event_id.as_str(), n.source_event_type.as_str()), (large.id.as_str(), "payment.failed"));
    assert_eq!(n.channels, ["ops", "ops-backup"], "the fallback chain, in order");
    assert_eq!((n.subject.as_deref(), n.body.as_str()), (Some("Large payment.failed"), "c1 paid 150"));
    assert_eq!(n.traceparent, TRACEPARENT, "the source event's trace continues");
    assert_eq!(n.received_at, large.received_at);

    let derived: Vec<Event> = f.derived_events();
    assert_eq!(derived.len(), 1);
    let d = &derived[0];
    assert_eq!(
        (d.id.as_str(), d.r#type.as_str(), d.tenant_id.as_str()),
        (emit_id.to_string().as_str(), "payment.flagged", tenant.to_string().as_str())
    );
    let causation = d.causation.as_ref().expect("causation");
    assert_eq!(
        (causation.root_event_id.as_str(), causation.source_event_id.as_str(), causation.rule_id.as_str(), causation.depth),
        (large.id.as_str(), large.id.as_str(), rule.to_string().as_str(), 1)
    );
    let data: serde_json::Value = serde_json::from_slice(&d.data).expect("json data");
    assert_eq!(data, json!({"customer": "c1", "from": large.id}));
    assert_eq!(d.received_at, large.received_at, "derived events run on the source event's clock");
    let headers = f.read(&f.events, 1).into_iter().find(|(v, _)| v.as_slice() == signalops_proto::Message::encode_to_vec(d).as_slice());
    let headers = headers.expect("the derived record").1;
    assert_eq!(signalops_proto::headers::find(&headers, "traceparent"), Some(TRACEPARENT));
    assert_eq!(signalops_proto::headers::find(&headers, "ce_type"), Some("payment.flagged"));

    let metrics = signalops_platform::metrics::render();
    for name in [
        "signalops_rules_firings_total{outcome=\"fired\"}",
        "signalops_rules_evaluations_total",
        "signalops_rules_appended_total{kind=\"event\"}",
    ] {
        assert!(metrics.lines().any(|l| l.starts_with(name)), "{name} on /metrics");
    }
}

#[tokio::test]
async fn a_window_fires_exactly_at_the_nth_event_within_the_window_by_received_at() {
    let f = fixture(1).await;
    let tenant = f.tenant().await;
    f.rule(tenant, &notify_with("login.failed", json!({"window": {"count": 3, "within": "10m", "per": "/data/user"}}))).await;
    let member = f.member().await;
    let event = |user: &str, seconds: i64| envelope(tenant, "login.failed", &json!({"user": user}), at(seconds));
    // Appended within milliseconds of each other: only received_at spreads them out.
    let first = [event("u1", 0), event("u1", 300), event("u1", 1_200)];
    f.send(&first).await;
    assert!(f.wait_quiescent(SETTLE).await, "the first events applied");
    // The rest in another batch: u1's window comes back from rule_states.
    let later = [
        event("u1", 1_260),
        event("u1", 1_800),
        event("u2", 0),
        event("u2", 300),
        event("u2", 600),
        event("u3", 0),
        event("u3", 300),
        event("u3", 601),
    ];
    f.send(&later).await;
    assert!(f.wait_quiescent(SETTLE).await, "the group settled");
    member.stop.cancel();
    member.wait().await.expect("member stopped");

    let firings = f.firings(tenant).await;
    // u1: 0 and 300 are more than 10 minutes before 1200, so the window holds
    // 1200, 1260, 1800 when it fires; u2: 600 s apart is still within (inclusive);
    // u3: 601 s apart is not.
    let expected: BTreeSet<String> = [later[1].id.clone(), later[4].id.clone()].into();
    assert_eq!(fired(&firings), expected, "{firings:?}");
    assert!(firings.iter().all(|f| f.3 == "fired"));
}

#[tokio::test]
async fn a_throttle_suppresses_firings_and_records_why() {
    let f = fixture(1).await;
    let tenant = f.tenant().await;
    f.rule(tenant, &notify_with("alert.raised", json!({"throttle": {"at_most": 1, "per": "1h", "key": "/data/host"}}))).await;
    let member = f.member().await;
    let event = |host: &str, seconds: i64| envelope(tenant, "alert.raised", &json!({"host": host}), at(seconds));
    let events = [event("h1", 0), event("h1", 60), event("h1", 3_599), event("h1", 3_600), event("h2", 30)];
    f.send(&events).await;
    assert!(f.wait_quiescent(SETTLE).await, "the group settled");
    member.stop.cancel();
    member.wait().await.expect("member stopped");

    let firings = f.firings(tenant).await;
    let outcome = |e: &Event| firings.iter().find(|f| f.2 == e.id).map(|f| (f.3.clone(), f.4.clone(), f.5.clone()));
    for fired in [&events[0], &events[3], &events[4]] {
        assert_eq!(outcome(fired).map(|o| o.0), Some("fired".to_owned()));
    }
    for suppressed in [&events[1], &events[2]] {
        let (outcome, reason, produced) = outcome(suppressed).expect("recorded");
        assert_eq!(outcome, "suppressed");
        assert!(reason.as_deref().is_some_and(|r| r.starts_with("throttled:")), "{reason:?}");
        assert_eq!(produced, json!([]), "a suppressed firing produces nothing");
    }
    assert_eq!(f.appended(tenant).len(), 3, "only the firings let through append a notification");
}

#[tokio::test]
async fn the_loop_guard_stops_a_rule_on_its_own_events_and_chains_at_the_depth_cap() {
    let f = fixture(1).await;
    let tenant = f.tenant().await;
    let emit = |types: &[&str], derived: &str| {
        json!({"name": "emit", "event_types": types, "when": {"path": "type", "op": "exists"},
               "actions": [{"emit": {"type": derived, "data": {"from": "{{ event.id }}"}}}]})
    };
    let own = f.rule(tenant, &emit(&["order."], "order.flagged")).await;
    let ping = f.rule(tenant, &emit(&["ping."], "pong.next")).await;
    let pong = f.rule(tenant, &emit(&["pong."], "ping.next")).await;
    let member = f.member().await;
    f.send(&[envelope(tenant, "order.placed", &json!({}), at(0)), envelope(tenant, "ping.start", &json!({}), at(1))]).await;
    assert!(f.wait_quiescent(SETTLE).await, "the group settled");
    member.stop.cancel();
    member.wait().await.expect("member stopped");

    let firings = f.firings(tenant).await;
    let of = |rule: Uuid| {
        firings
            .iter()
            .filter(|f| f.0 == rule)
            .map(|f| (f.3.as_str(), f.4.as_deref().map(|r| r.split(':').next().unwrap_or(""))))
            .collect::<Vec<_>>()
    };
    assert_eq!(of(own), vec![("fired", None), ("suppressed", Some("own_event"))], "never on its own derived event");
    assert_eq!(of(ping), vec![("fired", None), ("fired", None)], "ping.start, then ping.next at depth 2");
    assert_eq!(of(pong), vec![("fired", None), ("suppressed", Some("depth_cap"))], "pong.next at depth 1 fires; at depth 3 it is capped");
    let depths: Vec<u32> = f.derived_events().iter().filter_map(|e| e.causation.as_ref().map(|c| c.depth)).collect();
    assert_eq!(depths.iter().copied().max(), Some(3), "no chain grows past the cap: {depths:?}");
    assert_eq!(depths.len(), 4, "order.flagged, pong.next, ping.next, pong.next");
}

#[tokio::test]
async fn a_derived_event_failing_the_data_checks_is_recorded_not_staged() {
    let f = fixture(1).await;
    let tenant = f.tenant().await;
    // 1,100 × 50 quotes render within the 64 KiB an action may render, but
    // JSON escapes each quote, and the data grows past the 64 KiB ingest takes.
    let rule = f
        .rule(
            tenant,
            &json!({"name": "copy", "event_types": ["report.ready"], "when": {"path": "data", "op": "exists"},
            "actions": [
                {"emit": {"type": "report.copied", "data": {"copy": "{% for i in range(1100) %}{{ event.data.quote }}{% endfor %}"}}},
                {"notify": {"channels": ["ops"], "body": "report ready"}}
            ]}),
        )
        .await;
    let member = f.member().await;
    let event = envelope(tenant, "report.ready", &json!({"quote": "\"".repeat(50)}), at(0));
    f.send(std::slice::from_ref(&event)).await;
    assert!(f.wait_quiescent(SETTLE).await, "the group settled");
    member.stop.cancel();
    member.wait().await.expect("member stopped");

    let firings = f.firings(tenant).await;
    assert_eq!(firings.len(), 1);
    let produced = &firings[0].5;
    assert_eq!(firings[0].3, "fired");
    let error = produced[0]["error"].as_str().unwrap_or_default();
    assert!(error.contains("at most 65536 bytes"), "the reason is recorded: {produced}");
    assert_eq!(produced[1]["staged"], json!(true), "the other action still ran");
    assert_eq!(f.appended(tenant), vec![(action_id(&event.id, rule, 1, 1), "notification")]);
    assert!(f.derived_events().is_empty(), "nothing the projector would refuse reached the log");
}

#[tokio::test]
async fn a_rule_acts_on_the_platforms_own_system_events() {
    let f = fixture(1).await;
    let tenant = f.tenant().await;
    let rule = f
        .rule(
            tenant,
            &json!({
                "name": "welcome",
                "event_types": ["signalops.user."],
                "when": {"path": "data.email", "op": "ends_with", "value": "@example.com"},
                "actions": [{"notify": {"channels": ["team"], "subject": "New user", "body": "{{ event.data.email }} signed up"}}]
            }),
        )
        .await;
    let member = f.member().await;
    // As the gateway stages a sign-up (system_events::stage): its source,
    // subject and data.
    let user = Uuid::now_v7();
    let mut signed_up =
        envelope(tenant, "signalops.user.signed_up", &json!({"user_id": user, "email": "ada@example.com", "tenant_id": tenant}), at(0));
    signed_up.source = "/signalops/control-plane".to_owned();
    signed_up.subject = format!("user/{user}");
    f.send(std::slice::from_ref(&signed_up)).await;
    assert!(f.wait_quiescent(SETTLE).await, "the group settled");
    member.stop.cancel();
    member.wait().await.expect("member stopped");

    assert_eq!(fired(&f.firings(tenant).await), BTreeSet::from([signed_up.id.clone()]));
    let requests = f.notifications();
    assert_eq!(requests.len(), 1);
    assert_eq!(
        (requests[0].id.clone(), requests[0].body.as_str()),
        (action_id(&signed_up.id, rule, 1, 0).to_string(), "ada@example.com signed up")
    );
}
