//! The firing step of a compiled rule: the loop guard, windows and throttles
//! keyed by paths, rendering, derived events and their ids.

mod common;

use common::{at, event};
use serde_json::{Value, json};
use signalops_rule_engine::{
    Causation, CompiledRule, FireOptions, RenderError, RenderedAction, RuleRef, RuleStates, StateKey, Suppression, ValidationContext,
    Verdict, WindowStep, action_id,
};
use uuid::Uuid;

const RULE: RuleRef = RuleRef { id: Uuid::from_u128(0x42), version: 7 };

fn rule(extra: Value) -> CompiledRule {
    let mut doc = json!({
        "name": "Repeated failures",
        "event_types": ["payment."],
        "when": {"path": "data.amount", "op": "gt", "value": 0},
        "actions": [
            {"notify": {"channels": ["ops"], "subject": "{{ rule.name }}", "body": "{{ event.data.customer }} failed {{ event.data.amount }}"}},
            {"emit": {"type": "payment.flagged", "data": {"customer": "{{ event.data.customer }}", "source": "{{ event.id }}", "fixed": [1, true]}}}
        ]
    });
    for (k, v) in extra.as_object().expect("object") {
        doc[k] = v.clone();
    }
    CompiledRule::compile(RULE, &doc, &ValidationContext::default()).unwrap_or_else(|p| panic!("{p:?}"))
}

fn fire(rule: &CompiledRule, data: &Value, seconds: i64, states: &mut RuleStates) -> Verdict {
    let mut e = event("payment.failed", data);
    e.received_at = at(seconds);
    rule.process(&e, states, &FireOptions::default()).verdict
}

#[test]
fn a_matching_event_fires_every_action_with_deterministic_ids() {
    let rule = rule(json!({}));
    let data = json!({"customer": "c1", "amount": 12});
    let Verdict::Fired(actions) = fire(&rule, &data, 0, &mut RuleStates::default()) else { panic!("did not fire") };
    let event_id = event("x", &data).id;
    assert_eq!(actions.len(), 2);
    for (i, outcome) in actions.iter().enumerate() {
        assert_eq!(outcome.index as usize, i);
        assert_eq!(outcome.id, action_id(event_id, RULE.id, RULE.version, i as u32));
    }
    let Ok(RenderedAction::Notify(n)) = &actions[0].result else { panic!("{:?}", actions[0]) };
    assert_eq!(n.channels, ["ops"]);
    assert_eq!(n.subject.as_deref(), Some("Repeated failures"));
    assert_eq!(n.body, "c1 failed 12");
    let Ok(RenderedAction::Emit(d)) = &actions[1].result else { panic!("{:?}", actions[1]) };
    assert_eq!(d.id, actions[1].id);
    assert_eq!(d.event_type, "payment.flagged");
    assert_eq!(d.data, json!({"customer": "c1", "source": event_id, "fixed": [1, true]}));
    assert_eq!(d.causation, Causation { root_event_id: event_id.into(), source_event_id: event_id.into(), rule_id: RULE.id, depth: 1 });
}

#[test]
fn a_non_matching_event_does_not_fire() {
    let rule = rule(json!({}));
    assert_eq!(fire(&rule, &json!({"amount": 0}), 0, &mut RuleStates::default()), Verdict::NoMatch);
}

#[test]
fn a_rule_never_fires_on_its_own_derived_event_but_another_rule_does() {
    let rule = rule(json!({}));
    let data = json!({"customer": "c1", "amount": 5});
    let own = Causation::derived("e0", None, RULE.id);
    let mut e = event("payment.flagged", &data);
    e.causation = Some(&own);
    let outcome = rule.process(&e, &mut RuleStates::default(), &FireOptions::default());
    assert!(outcome.evaluation.matched, "the condition matched; the guard suppressed it");
    assert_eq!(outcome.verdict, Verdict::Suppressed(Suppression::OwnEvent));

    let other = Causation::derived("e0", None, Uuid::from_u128(1));
    e.causation = Some(&other);
    let Verdict::Fired(actions) = rule.process(&e, &mut RuleStates::default(), &FireOptions::default()).verdict else {
        panic!("another rule's event fires")
    };
    let Ok(RenderedAction::Emit(d)) = &actions[1].result else { panic!() };
    assert_eq!(d.causation.depth, 2);
    assert_eq!(d.causation.root_event_id, "e0");
}

#[test]
fn the_depth_cap_suppresses_firing_on_deep_events() {
    let rule = rule(json!({}));
    let data = json!({"amount": 5});
    let deep = Causation { root_event_id: "r".into(), source_event_id: "s".into(), rule_id: Uuid::from_u128(1), depth: 3 };
    let mut e = event("payment.flagged", &data);
    e.causation = Some(&deep);
    let verdict = rule.process(&e, &mut RuleStates::default(), &FireOptions::default()).verdict;
    assert_eq!(verdict, Verdict::Suppressed(Suppression::DepthCap { depth: 3, max_depth: 3 }));
    let shallower = Causation { depth: 2, ..deep.clone() };
    e.causation = Some(&shallower);
    assert!(matches!(rule.process(&e, &mut RuleStates::default(), &FireOptions::default()).verdict, Verdict::Fired(_)));
}

#[test]
fn a_window_fires_on_the_nth_event_per_key() {
    let rule = rule(json!({"window": {"count": 2, "within": "1m", "per": "data.customer"}}));
    let c1 = json!({"customer": "c1", "amount": 1});
    let c2 = json!({"customer": "c2", "amount": 1});
    assert_eq!(rule.state_keys(&event("x", &c1)).window, StateKey::Key("c1".into()));
    assert_eq!(rule.state_keys(&event("x", &c1)).throttle, StateKey::NotUsed);
    let (mut s1, mut s2) = (RuleStates::default(), RuleStates::default());
    assert_eq!(fire(&rule, &c1, 0, &mut s1), Verdict::WindowPending(WindowStep::Counted { count: 1, needed: 2 }));
    assert_eq!(fire(&rule, &c2, 10, &mut s2), Verdict::WindowPending(WindowStep::Counted { count: 1, needed: 2 }));
    assert!(matches!(fire(&rule, &c1, 60, &mut s1), Verdict::Fired(_)), "exactly `within` apart still counts");
    assert_eq!(fire(&rule, &c1, 61, &mut s1), Verdict::WindowPending(WindowStep::Counted { count: 1, needed: 2 }), "restarted");
    let late = Verdict::WindowPending(WindowStep::Counted { count: 1, needed: 2 });
    assert_eq!(fire(&rule, &c2, 71, &mut s2), late, "c2's first event is 61 s old: outside the window");
}

#[test]
fn a_missing_key_is_not_counted() {
    let rule = rule(json!({"window": {"count": 1, "within": "1m", "per": "data.customer"}}));
    let mut states = RuleStates::default();
    assert_eq!(fire(&rule, &json!({"amount": 1}), 0, &mut states), Verdict::KeyMissing);
    assert_eq!(states, RuleStates::default());
    let numeric = json!({"customer": 17, "amount": 1});
    assert_eq!(rule.state_keys(&event("x", &numeric)).window, StateKey::Key("17".into()));
}

#[test]
fn a_throttle_suppresses_firings_beyond_at_most_per_period() {
    let rule = rule(json!({"throttle": {"at_most": 1, "per": "1h", "key": "data.customer"}}));
    let data = json!({"customer": "c1", "amount": 1});
    let mut states = RuleStates::default();
    assert!(matches!(fire(&rule, &data, 0, &mut states), Verdict::Fired(_)));
    assert_eq!(fire(&rule, &data, 3_599, &mut states), Verdict::Suppressed(Suppression::Throttled { at_most: 1 }));
    assert!(matches!(fire(&rule, &data, 3_600, &mut states), Verdict::Fired(_)));
}

#[test]
fn a_window_restarts_even_when_the_throttle_suppresses_its_firing() {
    let rule = rule(json!({"window": {"count": 2, "within": "1h"}, "throttle": {"at_most": 1, "per": "1d"}}));
    let data = json!({"amount": 1});
    let mut states = RuleStates::default();
    fire(&rule, &data, 0, &mut states);
    assert!(matches!(fire(&rule, &data, 1, &mut states), Verdict::Fired(_)));
    fire(&rule, &data, 2, &mut states);
    assert_eq!(fire(&rule, &data, 3, &mut states), Verdict::Suppressed(Suppression::Throttled { at_most: 1 }));
    assert!(states.window.events.is_empty());
    assert!(matches!(fire(&rule, &data, 4, &mut states), Verdict::WindowPending(_)));
}

#[test]
fn replaying_the_same_events_computes_the_same_firings() {
    let rule = rule(json!({"window": {"count": 3, "within": "5m", "per": "data.customer"}, "throttle": {"at_most": 2, "per": "1h"}}));
    let events: Vec<(Value, i64)> = (0..60)
        .map(|i| (json!({"customer": format!("c{}", i % 3), "amount": 1}), (i * 37) % 900 - if i % 7 == 0 { 400 } else { 0 }))
        .collect();
    let run = || {
        let mut states: std::collections::HashMap<String, RuleStates> = std::collections::HashMap::new();
        let mut throttle = signalops_rule_engine::ThrottleState::default();
        let mut verdicts = Vec::new();
        for (data, seconds) in &events {
            let key = match rule.state_keys(&event("x", data)).window {
                StateKey::Key(k) => k,
                other => panic!("{other:?}"),
            };
            let s = states.entry(key).or_default();
            s.throttle = throttle.clone();
            verdicts.push(fire(&rule, data, *seconds, s));
            throttle = s.throttle.clone();
        }
        verdicts
    };
    let first = run();
    assert!(first.iter().any(|v| matches!(v, Verdict::Fired(_))));
    assert!(first.iter().any(|v| matches!(v, Verdict::Suppressed(_))));
    assert_eq!(first, run());
}

#[test]
fn undefined_values_render_as_empty_and_default_gives_a_fallback() {
    let rule = rule(json!({"actions": [{"notify": {"channels": ["ops"],
        "body": "[{{ event.data.nope }}][{{ event.data.nope.deeper }}][{{ event.data.nope | default('n/a') }}][{{ event.subject }}]"}}]}));
    let Verdict::Fired(actions) = fire(&rule, &json!({"amount": 1}), 0, &mut RuleStates::default()) else { panic!() };
    let Ok(RenderedAction::Notify(n)) = &actions[0].result else { panic!("{:?}", actions[0]) };
    assert_eq!(n.body, "[][][n/a][customer/42]");
}

#[test]
fn templates_see_the_envelope() {
    let rule = rule(json!({"actions": [{"notify": {"channels": ["ops"],
        "body": "{{ event.type }}|{{ event.source }}|{{ event.received_at }}|{{ event.time }}|{{ rule.version }}|{{ event.data.items[1] }}\n"}}]}));
    let Verdict::Fired(actions) = fire(&rule, &json!({"amount": 1, "items": ["a", "b"]}), 0, &mut RuleStates::default()) else { panic!() };
    let Ok(RenderedAction::Notify(n)) = &actions[0].result else { panic!("{:?}", actions[0]) };
    assert_eq!(n.body, "payment.failed|/billing|2026-01-01T00:00:00Z|2025-12-31T23:59:00Z|7|b\n");
}

#[test]
fn a_template_that_works_too_hard_runs_out_of_fuel() {
    let rule = rule(json!({"actions": [{"notify": {"channels": ["ops"],
        "body": "{% for a in range(1000) %}{% for b in range(1000) %}{% endfor %}{% endfor %}"}}]}));
    let Verdict::Fired(actions) = fire(&rule, &json!({"amount": 1}), 0, &mut RuleStates::default()) else { panic!() };
    assert_eq!(actions[0].result, Err(RenderError::OutOfFuel));
}

#[test]
fn rendered_output_is_bounded_per_action() {
    let rule = rule(json!({"actions": [{"notify": {"channels": ["ops"],
        "body": "{% for a in range(200) %}{{ event.data.big }}{% endfor %}"}}]}));
    let data = json!({"amount": 1, "big": "x".repeat(1_000)});
    let Verdict::Fired(actions) = fire(&rule, &data, 0, &mut RuleStates::default()) else { panic!() };
    assert_eq!(actions[0].result, Err(RenderError::TooLarge { limit: 64 * 1024 }));
    // The same template within the budget renders.
    let small = json!({"amount": 1, "big": "x".repeat(100)});
    let Verdict::Fired(actions) = fire(&rule, &small, 0, &mut RuleStates::default()) else { panic!() };
    let Ok(RenderedAction::Notify(n)) = &actions[0].result else { panic!("{:?}", actions[0]) };
    assert_eq!(n.body.len(), 20_000);
}

#[test]
fn a_stored_version_compiles_back() {
    let rule = rule(json!({"window": {"count": 2, "within": "1m"}}));
    let again = CompiledRule::from_version(RULE, rule.version()).expect("compiles");
    assert_eq!(again.version(), rule.version());
}
