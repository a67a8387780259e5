//! Every operator and its edges: missing paths, nulls, type mismatches,
//! numbers, times with offsets, strings and regexes.

mod common;

use common::{condition, eval, event, reason};
use serde_json::{Value, json};

fn leaf(path: &str, op: &str, value: Value) -> Value {
    json!({"path": path, "op": op, "value": value})
}

#[test]
fn eq_compares_strings_numbers_nulls_and_containers() {
    let data = json!({"s": "high", "i": 3, "f": 3.0, "n": null, "o": {"a": [1, 2]}, "big": 9_007_199_254_740_993_u64});
    assert!(eval(leaf("/data/s", "eq", json!("high")), &data));
    assert!(!eval(leaf("/data/s", "eq", json!("low")), &data));
    assert!(eval(leaf("/data/i", "eq", json!(3.0)), &data));
    assert!(eval(leaf("/data/f", "eq", json!(3)), &data));
    assert!(eval(leaf("/data/n", "eq", json!(null)), &data));
    assert!(eval(leaf("/data/o", "eq", json!({"a": [1.0, 2]})), &data));
    assert!(eval(leaf("/data/big", "eq", json!(9_007_199_254_740_993_u64)), &data));
    assert!(!eval(leaf("/data/big", "eq", json!(9_007_199_254_740_992_u64)), &data));
    assert_eq!(reason(leaf("/data/s", "eq", json!("low")), &data).as_deref(), Some("values differ"));
}

#[test]
fn a_type_mismatch_is_false_with_the_reason() {
    let data = json!({"amount": 10, "name": "x", "flag": true});
    assert!(!eval(leaf("/data/amount", "eq", json!("10")), &data));
    assert_eq!(reason(leaf("/data/amount", "eq", json!("10")), &data).as_deref(), Some("type mismatch: number vs string"));
    assert!(!eval(leaf("/data/name", "gt", json!(1)), &data));
    assert_eq!(reason(leaf("/data/name", "gt", json!(1)), &data).as_deref(), Some("type mismatch: string vs number"));
    assert!(!eval(leaf("/data/flag", "starts_with", json!("t")), &data));
    assert_eq!(reason(leaf("/data/flag", "matches", json!("t")), &data).as_deref(), Some("type mismatch: boolean vs string"));
    assert_eq!(reason(leaf("data.name", "between", json!([1, 2])), &data).as_deref(), Some("type mismatch: string vs number"));
    assert_eq!(reason(leaf("data.flag", "in", json!([1, "true"])), &data).as_deref(), Some("not in the set"));
}

#[test]
fn ne_is_true_for_any_other_value_and_false_when_missing() {
    let data = json!({"s": "a", "n": 1});
    assert!(eval(leaf("/data/s", "ne", json!("b")), &data));
    assert!(eval(leaf("/data/n", "ne", json!("1")), &data));
    assert!(!eval(leaf("/data/s", "ne", json!("a")), &data));
    assert_eq!(reason(leaf("/data/s", "ne", json!("a")), &data).as_deref(), Some("values are equal"));
    assert!(!eval(leaf("/data/nope", "ne", json!("a")), &data));
}

#[test]
fn a_missing_path_makes_every_operator_false_except_missing() {
    let data = json!({});
    let values = [
        ("eq", json!(1)),
        ("ne", json!(1)),
        ("lt", json!(1)),
        ("lte", json!(1)),
        ("gt", json!(1)),
        ("gte", json!(1)),
        ("between", json!([0, 1])),
        ("in", json!([1])),
        ("not_in", json!([1])),
        ("contains", json!("a")),
        ("starts_with", json!("a")),
        ("ends_with", json!("a")),
        ("matches", json!("a")),
    ];
    for (op, value) in values {
        assert!(!eval(leaf("/data/x", op, value.clone()), &data), "{op}");
        assert_eq!(reason(leaf("/data/x", op, value), &data).as_deref(), Some("path missing"), "{op}");
    }
    assert!(!eval(json!({"path": "data.x", "op": "exists"}), &data));
    assert!(eval(json!({"path": "data.x", "op": "missing"}), &data));
}

#[test]
fn null_is_present() {
    let data = json!({"x": null});
    assert!(eval(json!({"path": "data.x", "op": "exists"}), &data));
    assert!(!eval(json!({"path": "data.x", "op": "missing"}), &data));
    assert_eq!(reason(json!({"path": "data.x", "op": "missing"}), &data).as_deref(), Some("path present"));
    assert!(!eval(leaf("data.x", "lt", json!(1)), &data));
    assert_eq!(reason(leaf("data.x", "lt", json!(1)), &data).as_deref(), Some("type mismatch: null vs number"));
}

#[test]
fn ordering_operators_at_their_boundaries() {
    let data = json!({"n": 5, "f": 5.5, "neg": -1});
    assert!(eval(leaf("data.n", "lt", json!(6)), &data));
    assert!(!eval(leaf("data.n", "lt", json!(5)), &data));
    assert!(eval(leaf("data.n", "lte", json!(5)), &data));
    assert!(!eval(leaf("data.n", "lte", json!(4.99)), &data));
    assert!(eval(leaf("data.n", "gt", json!(4.5)), &data));
    assert!(!eval(leaf("data.n", "gt", json!(5.0)), &data));
    assert!(eval(leaf("data.n", "gte", json!(5.0)), &data));
    assert!(!eval(leaf("data.f", "gte", json!(6)), &data));
    assert!(eval(leaf("data.neg", "lt", json!(0)), &data));
    assert_eq!(reason(leaf("data.n", "gt", json!(9)), &data).as_deref(), Some("comparison is false"));
}

#[test]
fn between_is_inclusive_at_both_ends() {
    let data = json!({"lo": 1, "mid": 2.5, "hi": 4, "out": 4.000_001});
    for (path, inside) in [("data.lo", true), ("data.mid", true), ("data.hi", true), ("data.out", false)] {
        assert_eq!(eval(leaf(path, "between", json!([1, 4])), &data), inside, "{path}");
    }
    assert_eq!(reason(leaf("data.out", "between", json!([1, 4])), &data).as_deref(), Some("outside the bounds"));
}

#[test]
fn in_and_not_in_use_equality() {
    let data = json!({"s": "eu", "n": 2});
    assert!(eval(leaf("data.s", "in", json!(["us", "eu"])), &data));
    assert!(eval(leaf("data.n", "in", json!([1.0, 2.0])), &data));
    assert!(!eval(leaf("data.s", "in", json!(["us"])), &data));
    assert!(eval(leaf("data.s", "not_in", json!(["us"])), &data));
    assert!(!eval(leaf("data.s", "not_in", json!(["eu"])), &data));
    assert!(eval(leaf("type", "in", json!(["payment.failed"])), &data));
    assert_eq!(reason(leaf("data.s", "in", json!([])), &data).as_deref(), Some("not in the set"));
}

#[test]
fn contains_searches_strings_and_arrays() {
    let data = json!({"text": "card declined", "tags": ["vip", 7], "n": 5});
    assert!(eval(leaf("data.text", "contains", json!("declined")), &data));
    assert!(!eval(leaf("data.text", "contains", json!("approved")), &data));
    assert!(eval(leaf("data.tags", "contains", json!("vip")), &data));
    assert!(eval(leaf("data.tags", "contains", json!(7.0)), &data));
    assert!(!eval(leaf("data.tags", "contains", json!("x")), &data));
    assert_eq!(reason(leaf("data.n", "contains", json!("5")), &data).as_deref(), Some("type mismatch: number vs string"));
    assert_eq!(reason(leaf("data.text", "contains", json!(5)), &data).as_deref(), Some("type mismatch: string vs number"));
    assert!(eval(leaf("source", "contains", json!("bill")), &data));
}

#[test]
fn starts_with_ends_with_and_matches_on_strings() {
    let data = json!({"email": "ops@example.com"});
    assert!(eval(leaf("data.email", "starts_with", json!("ops@")), &data));
    assert!(!eval(leaf("data.email", "starts_with", json!("dev@")), &data));
    assert!(eval(leaf("data.email", "ends_with", json!(".com")), &data));
    assert!(!eval(leaf("data.email", "ends_with", json!(".org")), &data));
    assert!(eval(leaf("data.email", "matches", json!("^[a-z]+@example\\.com$")), &data));
    assert!(!eval(leaf("data.email", "matches", json!("^dev")), &data));
    assert_eq!(reason(leaf("data.email", "matches", json!("^dev")), &data).as_deref(), Some("does not match"));
    assert!(eval(leaf("type", "starts_with", json!("payment.")), &data));
    assert!(eval(leaf("subject", "ends_with", json!("/42")), &data));
}

#[test]
fn times_compare_as_instants_with_offsets() {
    let data = json!({"due": "2026-01-01T10:00:00+02:00", "bad": "tomorrow", "n": 1});
    let time = |op: &str, value: Value| json!({"path": "data.due", "op": op, "value": value, "as": "time"});
    assert!(eval(time("eq", json!("2026-01-01T08:00:00Z")), &data));
    assert!(eval(time("lt", json!("2026-01-01T08:00:01Z")), &data));
    assert!(!eval(time("gt", json!("2026-01-01T09:00:00+01:00")), &data));
    assert!(eval(time("between", json!(["2026-01-01T08:00:00Z", "2026-01-01T08:00:00-00:00"])), &data));
    assert!(eval(time("in", json!(["2026-01-01T03:00:00-05:00"])), &data));
    // Without `as`, the strings differ.
    assert!(!eval(leaf("data.due", "eq", json!("2026-01-01T08:00:00Z")), &data));
    let bad = json!({"path": "data.bad", "op": "lt", "value": "2026-01-01T00:00:00Z", "as": "time"});
    assert!(!eval(bad.clone(), &data));
    assert_eq!(reason(bad, &data).as_deref(), Some("type mismatch: string is not an RFC 3339 time"));
    let number = json!({"path": "data.n", "op": "lt", "value": "2026-01-01T00:00:00Z", "as": "time"});
    assert_eq!(reason(number, &data).as_deref(), Some("type mismatch: number vs time"));
}

#[test]
fn envelope_times_always_compare_as_instants() {
    let data = json!({});
    // The helper's event: time = 2025-12-31T23:59:00Z, received_at = 2026-01-01T00:00:00Z.
    assert!(eval(leaf("received_at", "eq", json!("2026-01-01T01:00:00+01:00")), &data));
    assert!(eval(leaf("time", "lt", json!("2026-01-01T00:00:00Z")), &data));
    assert!(eval(leaf("/time", "gte", json!("2025-12-31T23:59:00Z")), &data));
    let c = condition(json!({"path": "time", "op": "exists"}));
    let mut e = event("x", &data);
    assert!(c.matches(&e));
    e.time = None;
    assert!(!c.matches(&e));
}

#[test]
fn not_negates_and_combinators_combine() {
    let data = json!({"a": 1, "b": 2});
    assert!(eval(json!({"not": {"path": "data.a", "op": "eq", "value": 2}}), &data));
    assert!(!eval(json!({"not": {"path": "data.a", "op": "eq", "value": 1}}), &data));
    let a1 = leaf("data.a", "eq", json!(1));
    let b3 = leaf("data.b", "eq", json!(3));
    assert!(!eval(json!({"all": [a1, b3]}), &data));
    assert!(eval(json!({"any": [b3, a1]}), &data));
    // `not` turns a missing path into true.
    assert!(eval(json!({"not": leaf("data.zzz", "eq", json!(1))}), &data));
}

#[test]
fn the_shorthand_means_data_fields_equal() {
    let data = json!({"severity": "high", "team": "ops", "a/b": 1});
    assert!(eval(json!({"equals": {"severity": "high"}}), &data));
    assert!(eval(json!({"equals": {"severity": "high", "team": "ops"}}), &data));
    assert!(!eval(json!({"equals": {"severity": "high", "team": "dev"}}), &data));
    assert!(eval(json!({"equals": {"a/b": 1}}), &data));
    assert!(eval(json!({"any": [{"equals": {"team": "x"}}, {"equals": {"team": "ops"}}]}), &data));
}
