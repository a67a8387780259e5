//! Save-time validation names every problem, each by its JSON Pointer.

mod common;

use std::collections::HashSet;

use common::refused;
use serde_json::{Value, json};
use signalops_rule_engine::{Condition, RuleVersion, ValidationContext, limits, normalise, validate};

fn channels() -> HashSet<String> {
    ["ops-email", "ops-chat"].into_iter().map(str::to_owned).collect()
}

fn base() -> Value {
    json!({
        "name": "Large failed payments",
        "description": "Page the on-call team",
        "event_types": ["payment.failed", "invoice."],
        "when": {"all": [
            {"path": "/data/amount", "op": "gte", "value": 1000},
            {"path": "data.currency", "op": "in", "value": ["EUR", "USD"]}
        ]},
        "window": {"count": 3, "within": "10m", "per": "/data/customer/id"},
        "throttle": {"at_most": 1, "per": "1h", "key": "data.customer.id"},
        "actions": [
            {"notify": {"channels": ["ops-email", "ops-chat"], "subject": "{{ event.type }}", "body": "Amount {{ event.data.amount }}"}},
            {"emit": {"type": "payment.flagged", "data": {"customer": "{{ event.data.customer.id }}", "n": 1}}}
        ],
        "status": "active"
    })
}

/// The pointers and messages of the problems of `doc`.
fn problems(doc: &Value) -> Vec<(String, String)> {
    let known = channels();
    match validate(doc, &ValidationContext { known_channels: Some(&known) }) {
        Ok(rule) => panic!("accepted: {rule:?}"),
        Err(found) => found.into_iter().map(|p| (p.pointer, p.message)).collect(),
    }
}

fn pointers(doc: &Value) -> Vec<String> {
    problems(doc).into_iter().map(|(p, _)| p).collect()
}

fn with(mut doc: Value, pointer: &str, value: Value) -> Value {
    *doc.pointer_mut(pointer).unwrap_or_else(|| panic!("no {pointer}")) = value;
    doc
}

#[test]
fn the_documented_example_is_valid_and_round_trips() {
    let known = channels();
    let rule = validate(&base(), &ValidationContext { known_channels: Some(&known) }).expect("valid");
    let stored = serde_json::to_value(&rule).expect("serialises");
    let back: RuleVersion = serde_json::from_value(stored.clone()).expect("deserialises");
    assert_eq!(back, rule);
    assert_eq!(validate(&stored, &ValidationContext::default()).expect("still valid"), rule);
}

#[test]
fn every_problem_is_reported_at_once() {
    let mut doc = base();
    doc["when"]["all"] = json!([
        {"path": "/data/amount", "op": "gte", "value": 1000},
        {"path": "data.currency", "op": "in", "value": "EUR"},
        {"path": "data.x", "op": "bogus", "value": 1},
        {"path": "data.re", "op": "matches", "value": "(unclosed"},
        {"path": "data.t", "op": "lt", "value": "yesterday", "as": "time"},
        {"path": "data.b", "op": "between", "value": [1]},
        {"path": "data.n", "op": "lt", "value": "ten"}
    ]);
    doc["window"]["within"] = json!("10 minutes");
    doc["throttle"]["per"] = json!("0s");
    doc["actions"][0]["notify"]["channels"] = json!(["ops-email", "pager"]);
    doc["actions"][0]["notify"]["body"] = json!("{{ event.type ");
    doc["event_types"] = json!([]);
    doc["surprise"] = json!(true);
    assert_eq!(
        pointers(&doc),
        [
            "/surprise",
            "/event_types",
            "/when/all/1/value",
            "/when/all/2/op",
            "/when/all/3/value",
            "/when/all/4/value",
            "/when/all/5/value",
            "/when/all/6/value",
            "/window/within",
            "/throttle/per",
            "/actions/0/notify/channels/1",
            "/actions/0/notify/body",
        ]
    );
}

#[test]
fn messages_say_what_is_wrong() {
    let mut doc = base();
    doc["when"] = json!({"all": [
        {"path": "data.x", "op": "bogus", "value": 1},
        {"path": "data.b", "op": "between", "value": [1]},
        {"path": "data.i", "op": "in", "value": 1},
        {"path": "data.n", "op": "lt", "value": "ten"},
        {"path": "data.t", "op": "eq", "value": "2026-13-01T00:00:00Z", "as": "time"}
    ]});
    let found = problems(&doc);
    let message = |pointer: &str| found.iter().find(|(p, _)| p == pointer).map(|(_, m)| m.clone()).unwrap_or_default();
    assert!(message("/when/all/0/op").starts_with("unknown operator \"bogus\""), "{found:?}");
    assert!(message("/when/all/1/value").contains("two bounds"), "{found:?}");
    assert!(message("/when/all/2/value").contains("needs an array"), "{found:?}");
    assert!(message("/when/all/3/value").contains("needs a number"), "{found:?}");
    assert!(message("/when/all/4/value").starts_with("bad time value"), "{found:?}");
}

#[test]
fn empty_event_types_and_no_actions_are_refused() {
    let doc = with(with(base(), "/event_types", json!([])), "/actions", json!([]));
    let found = problems(&doc);
    assert_eq!(
        found,
        [
            ("/event_types".to_owned(), "needs at least one event type or prefix".to_owned()),
            ("/actions".to_owned(), "needs at least one action".to_owned())
        ]
    );
}

#[test]
fn required_fields_and_wrong_shapes_are_named() {
    assert_eq!(
        pointers(&json!({})),
        ["", "", "", ""] // name, event_types, when, actions: each "missing required field"
    );
    let msgs: Vec<String> = problems(&json!({})).into_iter().map(|(_, m)| m).collect();
    assert_eq!(
        msgs,
        [
            "missing required field `name`",
            "missing required field `event_types`",
            "missing required field `when`",
            "missing required field `actions`"
        ]
    );
    assert_eq!(pointers(&json!([])), [""]);
    assert_eq!(pointers(&with(base(), "/status", json!("deleted"))), ["/status"]);
    assert_eq!(pointers(&with(base(), "/name", json!("  "))), ["/name"]);
    assert_eq!(pointers(&with(base(), "/event_types/1", json!("Invoice.*"))), ["/event_types/1"]);
    assert_eq!(pointers(&with(base(), "/window/count", json!(0))), ["/window/count"]);
    assert_eq!(pointers(&with(base(), "/window/per", json!("tenant.id"))), ["/window/per"]);
    assert_eq!(pointers(&with(base(), "/throttle/at_most", json!(1.5))), ["/throttle/at_most"]);
    let mut extra = base();
    extra["window"]["extra"] = json!(1);
    assert_eq!(pointers(&extra), ["/window/extra"]);
    assert_eq!(pointers(&with(base(), "/actions/0", json!({"page": {}}))), ["/actions/0"]);
    assert_eq!(pointers(&with(base(), "/actions/1/emit/type", json!("payment."))), ["/actions/1/emit/type"]);
    assert_eq!(pointers(&with(base(), "/actions/1/emit/data/n", json!("{{ nope }}"))), ["/actions/1/emit/data/n"]);
}

#[test]
fn bad_durations_are_refused_with_the_bounds() {
    for (text, expected) in [("10x", "bad duration"), ("31d", "out of bounds"), ("0m", "out of bounds"), ("", "bad duration")] {
        let found = problems(&with(base(), "/window/within", json!(text)));
        assert_eq!(found.len(), 1, "{text}");
        assert_eq!(found[0].0, "/window/within");
        assert!(found[0].1.contains(expected), "{text}: {}", found[0].1);
    }
}

#[test]
fn unknown_channels_are_refused_only_when_the_caller_knows_the_channels() {
    let doc = with(base(), "/actions/0/notify/channels", json!(["pager", "ops-email", "ops-email"]));
    let found = problems(&doc);
    assert_eq!(
        found,
        [
            ("/actions/0/notify/channels/0".to_owned(), "unknown channel \"pager\"".to_owned()),
            ("/actions/0/notify/channels/2".to_owned(), "channel \"ops-email\" is listed twice".to_owned())
        ]
    );
    let without_check = with(base(), "/actions/0/notify/channels", json!(["pager"]));
    assert!(validate(&without_check, &ValidationContext::default()).is_ok());
}

#[test]
fn templates_that_do_not_parse_or_name_unknown_variables_are_refused() {
    for (template, expected) in [
        ("{{ event.type ", "does not parse"),
        ("{% if %}", "does not parse"),
        ("{% include 'secrets.txt' %}", "does not parse"),
        ("{{ customer.name }}", "unknown variable `customer`"),
    ] {
        let found = problems(&with(base(), "/actions/0/notify/subject", json!(template)));
        assert_eq!(found.len(), 1, "{template}: {found:?}");
        assert_eq!(found[0].0, "/actions/0/notify/subject");
        assert!(found[0].1.contains(expected), "{template}: {}", found[0].1);
    }
}

#[test]
fn regexes_are_limited_in_length_and_compiled_size() {
    let long = "a".repeat(limits::MAX_REGEX_LENGTH + 1);
    let too_long = refused(json!({"path": "data.s", "op": "matches", "value": long}));
    assert_eq!(too_long, ["/value: regex is longer than 512 bytes"]);
    // Short to write, large once compiled: counted repetitions multiply.
    let too_large = refused(json!({"path": "data.s", "op": "matches", "value": "\\w{500}\\w{500}"}));
    assert_eq!(too_large.len(), 1);
    assert!(too_large[0].starts_with("/value: regex too large"), "{too_large:?}");
    let bad = refused(json!({"path": "data.s", "op": "matches", "value": "a(b"}));
    assert!(bad[0].starts_with("/value: bad regex"), "{bad:?}");
    // Linear time: no backreferences or look-around in the syntax at all.
    assert!(refused(json!({"path": "data.s", "op": "matches", "value": "(a)\\1"}))[0].contains("bad regex"));
}

#[test]
fn leaf_shapes_are_checked() {
    assert_eq!(refused(json!({"path": "data.x", "op": "exists", "value": 1})), ["/value: `exists` takes no value"]);
    assert_eq!(refused(json!({"path": "data.x", "op": "eq"})), ["/: missing required field `value` (`eq` compares with a value)"]);
    assert_eq!(
        refused(json!({"path": "data.x", "op": "eq", "value": 1, "as": "date"})),
        ["/as: unknown `as`: the only reading is \"time\""]
    );
    assert_eq!(refused(json!({"path": "data.x", "op": "contains", "value": [1]})).len(), 1);
    assert!(refused(json!({"path": "time", "op": "starts_with", "value": "2026"}))[0].contains("does not apply to times"));
    assert!(refused(json!({"path": "data.n", "op": "between", "value": [5, 1]}))[0].contains("low bound is greater"));
    assert_eq!(refused(json!({"path": "data.x", "op": "eq", "value": 1, "x": 2})).len(), 1);
    assert_eq!(refused(json!({"all": []})), ["/all: needs at least one condition"]);
    assert_eq!(refused(json!({"equals": {}})), ["/equals: needs at least one field"]);
    assert_eq!(refused(json!({"all": [], "any": []})).len(), 1);
    assert_eq!(refused(json!({"path": "customer.id", "op": "eq", "value": 1}))[0].split(':').next(), Some("/path"));
    assert_eq!(refused(json!({"path": "data.x", "op": "in", "value": vec![1; limits::MAX_SET_SIZE + 1]})).len(), 1);
}

#[test]
fn condition_depth_and_leaf_count_are_limited() {
    let mut deep = json!({"path": "data.x", "op": "exists"});
    for _ in 0..limits::MAX_CONDITION_DEPTH - 1 {
        deep = json!({"not": deep});
    }
    assert!(signalops_rule_engine::parse::condition(&deep).is_ok(), "depth {} is allowed", limits::MAX_CONDITION_DEPTH);
    let too_deep = json!({"not": deep});
    let found = refused(too_deep);
    assert_eq!(found.len(), 1);
    assert!(found[0].contains("nested deeper than 8 levels"), "{found:?}");

    let leaf = json!({"path": "data.x", "op": "exists"});
    assert!(signalops_rule_engine::parse::condition(&json!({"all": vec![leaf.clone(); limits::MAX_LEAVES]})).is_ok());
    assert_eq!(refused(json!({"all": vec![leaf; limits::MAX_LEAVES + 1]})), ["/: has 65 leaves; at most 64 are allowed"]);
}

#[test]
fn action_limits_are_enforced() {
    let notify = base()["actions"][0].clone();
    assert!(validate(&with(base(), "/actions", json!(vec![notify.clone(); limits::MAX_ACTIONS])), &ValidationContext::default()).is_ok());
    assert_eq!(pointers(&with(base(), "/actions", json!(vec![notify; limits::MAX_ACTIONS + 1]))), ["/actions"]);
    let long = "x".repeat(limits::MAX_TEMPLATE_LENGTH + 1);
    assert_eq!(pointers(&with(base(), "/actions/0/notify/body", json!(long))), ["/actions/0/notify/body"]);
    let six = json!(["ops-email", "ops-chat", "a", "b", "c", "d"]);
    assert_eq!(pointers(&with(base(), "/actions/0/notify/channels", six)), ["/actions/0/notify/channels"]);
    let many: Vec<Value> = (0..=limits::MAX_DATA_TEMPLATES).map(|i| json!(format!("{i}"))).collect();
    assert_eq!(pointers(&with(base(), "/actions/1/emit/data", json!(many))), ["/actions/1/emit/data"]);
}

#[test]
fn the_shorthand_is_stored_in_tree_form() {
    let doc = with(base(), "/when", json!({"equals": {"severity": "high", "team": "ops"}}));
    let rule = validate(&doc, &ValidationContext::default()).expect("valid");
    let stored = serde_json::to_value(&rule.when).expect("serialises");
    assert_eq!(
        stored,
        json!({"all": [
            {"path": "/data/severity", "op": "eq", "value": "high"},
            {"path": "/data/team", "op": "eq", "value": "ops"}
        ]})
    );
    assert_eq!(stored, normalise(&doc["when"]));
}

#[test]
fn deserialising_the_model_refuses_unknown_fields() {
    let mut doc = base();
    doc["colour"] = json!("blue");
    let error = serde_json::from_value::<RuleVersion>(doc).expect_err("refused");
    assert!(error.to_string().contains("unknown field `colour`"), "{error}");
    let bad_leaf: Result<Condition, _> = serde_json::from_value(json!({"path": "data.x", "op": "eq", "value": 1, "extra": 1}));
    assert!(bad_leaf.expect_err("refused").to_string().contains("unknown field `extra`"));
    let null_value: Condition = serde_json::from_value(json!({"path": "data.x", "op": "eq", "value": null})).expect("null is a value");
    assert_eq!(serde_json::to_value(null_value).expect("serialises")["value"], json!(null));
}
