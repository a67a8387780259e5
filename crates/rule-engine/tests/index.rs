//! The per-tenant index: an event is evaluated only by the rules whose
//! `event_types` match its type.

mod common;

use proptest::prelude::*;
use serde_json::json;
use signalops_rule_engine::{CompiledRule, RuleIndex, RuleRef, ValidationContext};
use uuid::Uuid;

fn rule(n: u32, event_types: &[String], status: &str) -> CompiledRule {
    let doc = json!({
        "name": format!("rule {n}"),
        "event_types": event_types,
        "when": {"path": "data.x", "op": "exists"},
        "actions": [{"notify": {"channels": ["ops"], "body": "hi"}}],
        "status": status
    });
    CompiledRule::compile(RuleRef { id: Uuid::from_u128(u128::from(n)), version: 1 }, &doc, &ValidationContext::default())
        .unwrap_or_else(|p| panic!("{p:?}"))
}

fn names(index: &RuleIndex, event_type: &str) -> Vec<String> {
    index.candidates(event_type).into_iter().map(|r| r.version().name.clone()).collect()
}

#[test]
fn of_a_thousand_rules_only_the_matching_ones_are_considered() {
    // 996 rules on types of their own, plus four that match `payment.card.failed`.
    let mut rules: Vec<CompiledRule> = (0..996).map(|n| rule(n, &[format!("other{n}.happened")], "active")).collect();
    rules.push(rule(996, &["payment.card.failed".into()], "active"));
    rules.push(rule(997, &["payment.".into()], "active"));
    rules.push(rule(998, &["payment.card.".into(), "payment.".into()], "active"));
    rules.push(rule(999, &["payment.card.failed".into()], "paused"));
    let index = RuleIndex::new(rules);
    assert_eq!(index.len(), 999, "the paused rule is left out");
    assert_eq!(names(&index, "payment.card.failed"), ["rule 996", "rule 997", "rule 998"]);
    assert_eq!(names(&index, "payment.refunded"), ["rule 997", "rule 998"]);
    assert_eq!(names(&index, "other5.happened"), ["rule 5"]);
    assert!(names(&index, "payment").is_empty());
    assert!(names(&index, "paymentx.card.failed").is_empty());
    assert!(names(&index, "unknown").is_empty());
}

#[test]
fn the_candidates_are_exactly_the_rules_that_apply() {
    let types = ["a.", "a.b.", "a.b.c", "b.", "a.bc", "c"];
    let rules: Vec<CompiledRule> = types.iter().enumerate().map(|(n, t)| rule(n as u32, &[(*t).to_owned()], "active")).collect();
    let expected: Vec<Vec<String>> = ["a.b.c", "a.bc", "a.b.d", "b.x", "c", "c.d"]
        .iter()
        .map(|event_type| rules.iter().filter(|r| r.applies_to(event_type)).map(|r| r.version().name.clone()).collect())
        .collect();
    let index = RuleIndex::new(rules);
    for (event_type, expected) in ["a.b.c", "a.bc", "a.b.d", "b.x", "c", "c.d"].iter().zip(expected) {
        assert_eq!(names(&index, event_type), expected, "{event_type}");
    }
}

fn rule_when(n: u32, when: serde_json::Value) -> CompiledRule {
    let doc = json!({
        "name": format!("rule {n}"),
        "event_types": ["invoice.paid"],
        "when": when,
        "actions": [{"notify": {"channels": ["ops"], "body": "hi"}}]
    });
    CompiledRule::compile(RuleRef { id: Uuid::from_u128(u128::from(n)), version: 1 }, &doc, &ValidationContext::default())
        .unwrap_or_else(|p| panic!("{p:?}"))
}

/// Conditions with and without a required `eq` value at their top.
fn narrowing_rules() -> Vec<CompiledRule> {
    vec![
        rule_when(0, json!({"path": "data.bucket", "op": "eq", "value": 1})),
        rule_when(1, json!({"all": [{"path": "data.bucket", "op": "eq", "value": 2}, {"path": "data.amount", "op": "gt", "value": 0}]})),
        rule_when(2, json!({"path": "/data/bucket", "op": "eq", "value": 1.0})),
        rule_when(3, json!({"path": "data.plan", "op": "eq", "value": "pro"})),
        rule_when(4, json!({"path": "subject", "op": "eq", "value": "customer/42"})),
        rule_when(5, json!({"any": [{"path": "data.bucket", "op": "eq", "value": 9}, {"path": "data.plan", "op": "eq", "value": "pro"}]})),
        rule_when(6, json!({"path": "data.bucket", "op": "eq", "value": [1]})),
        rule_when(7, json!({"not": {"path": "data.bucket", "op": "eq", "value": 1}})),
    ]
}

#[test]
fn narrowing_by_required_values_keeps_exactly_the_rules_that_can_match() {
    let rules = narrowing_rules();
    let index = RuleIndex::new(narrowing_rules());
    let data = json!({"bucket": 1, "amount": 5, "plan": "pro"});
    let event = common::event("invoice.paid", &data);
    let kept: Vec<String> = index.for_event(&event).into_iter().map(|r| r.version().name.clone()).collect();
    // 1 requires bucket 2; the others match, or have no required value at their top.
    assert_eq!(kept, ["rule 0", "rule 2", "rule 3", "rule 4", "rule 5", "rule 6", "rule 7"]);
    assert!(rules[1].required().is_some() && rules[5].required().is_none() && rules[7].required().is_none());
}

proptest! {
    /// Narrowing never leaves out a rule that matches: every rule that
    /// matches an event is kept for it.
    #[test]
    fn narrowing_never_leaves_out_a_match(
        bucket in prop_oneof![
            (0i64..4).prop_map(|n| json!(n)),
            (0i64..4).prop_map(|n| json!(n as f64)),
            "[0-3]".prop_map(|s| json!(s)),
            Just(json!(null)),
            Just(json!(true)),
        ],
        plan in "(pro|free|)",
    ) {
        let index = RuleIndex::new(narrowing_rules());
        let data = json!({"bucket": bucket, "amount": 5, "plan": plan});
        let event = common::event("invoice.paid", &data);
        let kept = index.for_event(&event);
        let candidates = index.candidates("invoice.paid");
        for rule in &candidates {
            if rule.matches(&event) {
                prop_assert!(kept.iter().any(|k| std::ptr::eq(*k, *rule)), "{} matches {data} but was left out", rule.version().name);
            }
        }
        // What is kept is a subsequence of the candidates: each rule once, in order.
        let mut rest = candidates.iter();
        for k in &kept {
            prop_assert!(rest.any(|c| std::ptr::eq(*c, *k)), "{} kept out of order or twice", k.version().name);
        }
    }
}
