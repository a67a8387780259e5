//! The trace: one entry per leaf, in written order, with the resolved value,
//! the reason of a false leaf, and the leaves that short-circuiting skipped.

mod common;

use common::{condition, event};
use serde_json::json;
use signalops_rule_engine::{LeafResult, Reason};

#[test]
fn all_stops_at_the_first_false_and_marks_the_rest_skipped() {
    let c = condition(json!({"all": [
        {"path": "data.amount", "op": "gt", "value": 100},
        {"path": "data.currency", "op": "eq", "value": "EUR"},
        {"any": [{"path": "data.x", "op": "exists"}]}
    ]}));
    let data = json!({"amount": 5, "currency": "EUR"});
    let e = event("payment.failed", &data);
    let evaluation = c.evaluate(&e);
    assert!(!evaluation.matched);
    let results: Vec<LeafResult> = evaluation.trace.iter().map(|t| t.result).collect();
    assert_eq!(results, [LeafResult::False, LeafResult::Skipped, LeafResult::Skipped]);
    assert_eq!(evaluation.trace[1].resolved, None);
    assert_eq!(evaluation.trace[1].reason, Some(Reason::ShortCircuit));
    let ats: Vec<&str> = evaluation.trace.iter().map(|t| t.at).collect();
    assert_eq!(ats, ["/all/0", "/all/1", "/all/2/any/0"]);
}

#[test]
fn any_stops_at_the_first_true() {
    let c = condition(json!({"any": [
        {"path": "data.a", "op": "eq", "value": 1},
        {"path": "data.b", "op": "eq", "value": 2},
        {"path": "data.c", "op": "eq", "value": 3}
    ]}));
    let data = json!({"a": 0, "b": 2, "c": 3});
    let evaluation = c.evaluate(&event("x", &data));
    assert!(evaluation.matched);
    let results: Vec<LeafResult> = evaluation.trace.iter().map(|t| t.result).collect();
    assert_eq!(results, [LeafResult::False, LeafResult::True, LeafResult::Skipped]);
}

#[test]
fn the_trace_serialises_with_resolved_values_and_reasons() {
    let c = condition(json!({"all": [
        {"path": "/data/customer/id", "op": "eq", "value": "c1"},
        {"path": "data.amount", "op": "lt", "value": 10},
        {"path": "data.gone", "op": "eq", "value": 1}
    ]}));
    let data = json!({"customer": {"id": "c1"}, "amount": "7"});
    let evaluation = c.evaluate(&event("x", &data));
    let json = serde_json::to_value(&evaluation).expect("serialises");
    assert_eq!(
        json,
        json!({"matched": false, "trace": [
            {"at": "/all/0", "path": "/data/customer/id", "resolved": "c1", "op": "eq", "expected": "c1", "result": "true"},
            {"at": "/all/1", "path": "data.amount", "resolved": "7", "op": "lt", "expected": 10, "result": "false",
             "reason": "type mismatch: string vs number"},
            {"at": "/all/2", "path": "data.gone", "op": "eq", "expected": 1, "result": "skipped",
             "reason": "skipped: an earlier condition decided the result"}
        ]})
    );
}

#[test]
fn a_missing_path_is_shown_as_missing() {
    let c = condition(json!({"path": "data.gone", "op": "exists"}));
    let data = json!({});
    let json = serde_json::to_value(c.evaluate(&event("x", &data))).expect("serialises");
    assert_eq!(
        json["trace"][0],
        json!({"at": "", "path": "data.gone", "missing": true, "op": "exists", "result": "false", "reason": "path missing"})
    );
}
