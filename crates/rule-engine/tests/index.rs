//! The per-tenant index: an event is evaluated only by the rules whose
//! `event_types` match its type.

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
