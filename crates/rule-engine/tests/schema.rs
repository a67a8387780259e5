//! The JSON Schema of the language (`schemas/rules/rule.schema.json`)
//! accepts the documented examples and refuses invalid documents.

use serde_json::{Value, json};
use signalops_rule_engine::{ValidationContext, validate};

fn validator() -> jsonschema::Validator {
    let text = include_str!("../../../schemas/rules/rule.schema.json");
    let schema: Value = serde_json::from_str(text).expect("the schema is JSON");
    assert_eq!(schema["$schema"], "https://json-schema.org/draft/2020-12/schema");
    jsonschema::validator_for(&schema).expect("the schema compiles")
}

/// Every ```json block of docs/rules.md that is a whole rule (has `actions`).
fn documented_rules() -> Vec<Value> {
    let doc = include_str!("../../../docs/rules.md");
    let mut rules = Vec::new();
    for block in doc.split("```json\n").skip(1) {
        let body = block.split("```").next().unwrap_or_default();
        let value: Value =
            serde_json::from_str(body).unwrap_or_else(|e| panic!("a json block of docs/rules.md does not parse: {e}\n{body}"));
        if value.get("actions").is_some() {
            rules.push(value);
        }
    }
    rules
}

#[test]
fn the_schema_and_the_validator_accept_every_documented_rule() {
    let validator = validator();
    let rules = documented_rules();
    assert!(rules.len() >= 4, "docs/rules.md has {} rule examples", rules.len());
    for rule in rules {
        let errors: Vec<String> = validator.iter_errors(&rule).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{rule}: {errors:?}");
        assert!(validate(&rule, &ValidationContext::default()).is_ok(), "{rule}");
    }
}

#[test]
fn the_schema_refuses_invalid_documents() {
    let validator = validator();
    let good = json!({
        "name": "n", "event_types": ["a."], "when": {"path": "data.x", "op": "exists"},
        "actions": [{"notify": {"channels": ["c"], "body": "b"}}]
    });
    assert!(validator.is_valid(&good));
    let mut bad = Vec::new();
    let mut edit = |f: &dyn Fn(&mut Value)| {
        let mut doc = good.clone();
        f(&mut doc);
        bad.push(doc);
    };
    edit(&|d| d["colour"] = json!("blue"));
    edit(&|d| d["event_types"] = json!([]));
    edit(&|d| d["event_types"] = json!(["Payment"]));
    edit(&|d| d["actions"] = json!([]));
    edit(&|d| d["when"] = json!({"path": "data.x", "op": "bogus", "value": 1}));
    edit(&|d| d["when"] = json!({"path": "data.x", "op": "eq"}));
    edit(&|d| d["when"] = json!({"path": "data.x", "op": "exists", "value": 1}));
    edit(&|d| d["when"] = json!({"path": "data.x", "op": "between", "value": [1]}));
    edit(&|d| d["when"] = json!({"path": "data.x", "op": "in", "value": "a"}));
    edit(&|d| d["when"] = json!({"all": []}));
    edit(&|d| d["when"] = json!({"all": [], "any": []}));
    edit(&|d| d["window"] = json!({"count": 3, "within": "10 minutes"}));
    edit(&|d| d["throttle"] = json!({"at_most": 0, "per": "1h"}));
    edit(&|d| d["actions"] = json!([{"page": {}}]));
    edit(&|d| d["actions"] = json!([{"notify": {"channels": [], "body": "b"}}]));
    edit(&|d| d["status"] = json!("deleted"));
    for doc in bad {
        assert!(!validator.is_valid(&doc), "the schema accepted {doc}");
        assert!(validate(&doc, &ValidationContext::default()).is_err(), "the validator accepted {doc}");
    }
}
