//! The operators' algebra and the normaliser, as properties over generated
//! values and conditions.

mod common;

use common::{condition, event};
use proptest::prelude::*;
use serde_json::{Value, json};
use signalops_rule_engine::{Condition, normalise, parse};

fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        (-5i64..5).prop_map(Value::from),
        (-5i64..5).prop_map(|n| json!(n as f64 + 0.5)),
        (-5i64..5).prop_map(|n| json!(n as f64)),
        any::<u64>().prop_map(Value::from),
        "[a-c]{0,2}".prop_map(Value::from),
    ]
}

fn number() -> impl Strategy<Value = Value> {
    prop_oneof![(-50i64..50).prop_map(Value::from), (-50i64..50).prop_map(|n| json!(n as f64 / 4.0)), any::<i64>().prop_map(Value::from)]
}

/// Data with fields `a` and `b` (each maybe absent).
fn data() -> impl Strategy<Value = Value> {
    (proptest::option::of(scalar()), proptest::option::of(scalar())).prop_map(|(a, b)| {
        let mut map = serde_json::Map::new();
        if let Some(a) = a {
            map.insert("a".into(), a);
        }
        if let Some(b) = b {
            map.insert("b".into(), b);
        }
        Value::Object(map)
    })
}

fn leaf(op: &str, value: Value) -> Value {
    json!({"path": "data.a", "op": op, "value": value})
}

fn eval(c: &Value, data: &Value) -> bool {
    let compiled = condition(c.clone());
    let e = event("x", data);
    let matched = compiled.matches(&e);
    prop_assert_eq_helper(matched, compiled.evaluate(&e).matched);
    matched
}

fn prop_assert_eq_helper(a: bool, b: bool) {
    assert_eq!(a, b, "traced and untraced evaluation disagree");
}

fn present(data: &Value) -> bool {
    data.get("a").is_some()
}

/// Conditions over `a` and `b`, written with and without the shorthand.
fn conditions() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        (prop_oneof![Just("a"), Just("b")], scalar()).prop_map(|(k, v)| json!({"equals": {k: v}})),
        (scalar(), scalar()).prop_map(|(x, y)| json!({"equals": {"a": x, "b": y}})),
        scalar().prop_map(|v| json!({"path": "data.b", "op": "eq", "value": v})),
        number().prop_map(|v| json!({"path": "/data/a", "op": "lt", "value": v})),
        Just(json!({"path": "data.a", "op": "exists"})),
    ];
    leaf.prop_recursive(3, 12, 3, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 1..3).prop_map(|c| json!({"all": c})),
            proptest::collection::vec(inner.clone(), 1..3).prop_map(|c| json!({"any": c})),
            inner.prop_map(|c| json!({"not": c})),
        ]
    })
}

proptest! {
    #[test]
    fn ne_is_not_eq_when_the_path_resolves(d in data(), v in scalar()) {
        prop_assume!(present(&d));
        prop_assert_eq!(eval(&leaf("ne", v.clone()), &d), !eval(&leaf("eq", v), &d));
    }

    #[test]
    fn in_is_any_eq(d in data(), set in proptest::collection::vec(scalar(), 0..4)) {
        let any_eq = set.iter().any(|v| eval(&leaf("eq", v.clone()), &d));
        prop_assert_eq!(eval(&leaf("in", Value::from(set)), &d), any_eq);
    }

    #[test]
    fn not_in_is_not_in_when_the_path_resolves(d in data(), set in proptest::collection::vec(scalar(), 0..4)) {
        prop_assume!(present(&d));
        prop_assert_eq!(eval(&leaf("not_in", Value::from(set.clone())), &d), !eval(&leaf("in", Value::from(set)), &d));
    }

    #[test]
    fn between_is_gte_and_lte(a in number(), lo in number(), hi in number()) {
        let (lo, hi) = if lo.as_f64() <= hi.as_f64() { (lo, hi) } else { (hi, lo) };
        prop_assume!(lo.as_f64() < hi.as_f64() || lo == hi);
        let d = json!({"a": a});
        let both = eval(&leaf("gte", lo.clone()), &d) && eval(&leaf("lte", hi.clone()), &d);
        prop_assert_eq!(eval(&leaf("between", json!([lo, hi])), &d), both);
    }

    #[test]
    fn lt_is_gt_with_the_operands_swapped(x in number(), y in number()) {
        // x < y  ⇔  y > x, each side read from the event.
        let lt = eval(&leaf("lt", y.clone()), &json!({"a": x.clone()}));
        let gt = eval(&leaf("gt", x.clone()), &json!({"a": y.clone()}));
        prop_assert_eq!(lt, gt);
        let lte = eval(&leaf("lte", y.clone()), &json!({"a": x.clone()}));
        let gte = eval(&leaf("gte", x), &json!({"a": y}));
        prop_assert_eq!(lte, gte);
    }

    #[test]
    fn exists_xor_missing(d in data()) {
        let exists = eval(&json!({"path": "data.a", "op": "exists"}), &d);
        let missing = eval(&json!({"path": "data.a", "op": "missing"}), &d);
        prop_assert!(exists ^ missing);
    }

    #[test]
    fn not_not_is_the_condition(c in conditions(), d in data()) {
        prop_assert_eq!(eval(&json!({"not": {"not": c.clone()}}), &d), eval(&c, &d));
    }

    #[test]
    fn the_normalised_condition_evaluates_like_the_original(c in conditions(), d in data()) {
        let n = normalise(&c);
        prop_assert_eq!(eval(&n, &d), eval(&c, &d));
        // And it parses to the same tree.
        let (a, b): (Condition, Condition) = (parse::condition(&c).expect("parses"), parse::condition(&n).expect("parses"));
        prop_assert_eq!(a, b);
    }

    #[test]
    fn normalising_twice_is_normalising_once(c in conditions()) {
        let once = normalise(&c);
        prop_assert_eq!(normalise(&once), once.clone());
        // The normal form has no shorthand left.
        prop_assert!(!once.to_string().contains("\"equals\""));
    }

    #[test]
    fn the_parsed_tree_serialises_to_the_normal_form(c in conditions()) {
        let parsed = parse::condition(&c).expect("parses");
        prop_assert_eq!(serde_json::to_value(&parsed).expect("serialises"), normalise(&c));
    }
}
