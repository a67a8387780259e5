//! What the live group fires is what a backtest computes: the group (its
//! own evaluation, with states stored in Postgres between batches) and the
//! fold that dry runs and backtests use (`signalops_rule_store::Replay`,
//! states in memory) must decide the same for the same events in the same
//! order. The gateway's backtest tests show that a backtest is this fold
//! over the stored events.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::{Value, json};
use signalops_rule_engine::{Causation, FireOptions, Verdict};
use signalops_rule_store::Replay;
use signalops_rule_store::report::firing_outcome;
use uuid::Uuid;

use crate::fixture::{at, envelope, fixture};

/// (rule, event id, outcome, the reason's first word).
type Decision = (Uuid, String, String, Option<String>);

fn first_word(reason: Option<&str>) -> Option<String> {
    reason.map(|r| r.split(':').next().unwrap_or(r).trim().to_owned())
}

fn rules() -> [Value; 3] {
    [
        // Three large failed payments of one customer within ten minutes,
        // at most one alert per customer an hour.
        json!({
            "name": "repeated failures",
            "event_types": ["payment.failed"],
            "when": {"path": "data.amount", "op": "gt", "value": 100},
            "window": {"count": 3, "within": "10m", "per": "data.customer"},
            "throttle": {"at_most": 1, "per": "1h", "key": "data.customer"},
            "actions": [{"notify": {"channels": ["ops"], "subject": "{{ event.data.customer }}", "body": "{{ event.id }}"}}]
        }),
        // Any EU payment, at most two an half hour per region.
        json!({
            "name": "eu payments",
            "event_types": ["payment."],
            "when": {"path": "/data/region", "op": "eq", "value": "eu"},
            "throttle": {"at_most": 2, "per": "30m", "key": "data.region"},
            "actions": [{"notify": {"channels": ["eu-desk"], "body": "{{ event.type }} {{ event.id }}"}}]
        }),
        // Payments that happened in the first hour, by their own time; some
        // events come without one (the client sent none), and a backtest,
        // which reads the read model, sees their received_at there.
        json!({
            "name": "first hour",
            "event_types": ["payment.succeeded"],
            "when": {"path": "time", "op": "lt", "value": at(3_600).to_rfc3339()},
            "throttle": {"at_most": 4, "per": "1h", "key": "type"},
            "actions": [{"notify": {"channels": ["ops"], "body": "{{ event.time }}"}}]
        }),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_live_group_fires_exactly_what_the_backtest_fold_computes_over_the_same_events() {
    let f = fixture(2).await;
    let tenant = f.tenant().await;
    let documents = rules();
    let mut ids = Vec::new();
    for document in &documents {
        ids.push(f.rule(tenant, document).await);
    }
    let member = f.member().await;

    // 300 events over 100 minutes of received_at, sent in six parts with the
    // group caught up in between, so windows and throttles span batches and
    // come back from Postgres.
    let events: Vec<_> = (0..300i64)
        .map(|i| {
            let event_type = if i % 3 == 2 { "payment.succeeded" } else { "payment.failed" };
            let data = json!({
                "customer": format!("c{}", (i * 7) % 5),
                "amount": (i * 37) % 250,
                "region": if i % 4 == 0 { "eu" } else { "us" },
            });
            let mut envelope = envelope(tenant, event_type, &data, at(i * 20));
            if i % 2 == 0 {
                envelope.time = None;
            }
            envelope
        })
        .collect();
    for part in events.chunks(50) {
        f.send(part).await;
        assert!(f.wait_quiescent(Duration::from_secs(60)).await, "the group caught up");
    }

    let live: BTreeSet<Decision> = f
        .firings(tenant)
        .await
        .into_iter()
        .map(|(rule, version, event, outcome, reason, _)| {
            assert_eq!(version, 1);
            (rule, event, outcome, first_word(reason.as_deref()))
        })
        .collect();
    let live_ids: BTreeSet<Uuid> = f.appended(tenant).into_iter().map(|(id, _)| id).collect();

    let mut folded = BTreeSet::new();
    let mut folded_ids = BTreeSet::new();
    for (rule_id, document) in ids.iter().zip(&documents) {
        let rule = signalops_rule_store::document::compile(*rule_id, 1, "active", document).expect("rule compiles");
        let mut replay = Replay::new(&rule, FireOptions::default());
        for envelope in &events {
            let data: Value = serde_json::from_slice(&envelope.data).expect("json");
            let received_at = signalops_proto::time::from_timestamp(envelope.received_at.as_ref().expect("received_at")).expect("time");
            let causation: Option<Causation> = None;
            let view = signalops_rule_engine::Event {
                id: &envelope.id,
                event_type: &envelope.r#type,
                source: &envelope.source,
                subject: Some(envelope.subject.as_str()).filter(|s| !s.is_empty()),
                time: Some(received_at),
                received_at,
                data: &data,
                causation: causation.as_ref(),
            };
            let step = replay.step(&view);
            if let Verdict::Fired(outcomes) = &step.verdict {
                folded_ids.extend(outcomes.iter().map(|o| o.id));
            }
            if let Some((outcome, reason)) = firing_outcome(&step.verdict) {
                folded.insert((*rule_id, envelope.id.clone(), outcome.to_owned(), first_word(reason.as_deref())));
            }
        }
    }

    let count = |set: &BTreeSet<Decision>, outcome: &str| set.iter().filter(|d| d.2 == outcome).count();
    assert!(count(&folded, "fired") >= 5 && count(&folded, "suppressed") >= 3, "the events exercise windows and throttles: {folded:?}");
    let only_live: Vec<_> = live.difference(&folded).collect();
    let only_folded: Vec<_> = folded.difference(&live).collect();
    assert!(
        only_live.is_empty() && only_folded.is_empty(),
        "live and backtest differ: only live {only_live:?}, only backtest {only_folded:?}"
    );
    assert_eq!(live_ids, folded_ids, "the same deterministic action ids");
    member.stop.cancel();
    member.wait().await.expect("member stopped");
}
