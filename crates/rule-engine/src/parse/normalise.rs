//! The normaliser: rewrites the shorthand `{"equals": {"severity": "high"}}`
//! (the key is one field of `data`, the value is compared with `eq`; several
//! keys mean all of them) into the tree form, everywhere in a condition.
//! Anything else is returned as it is, so normalising twice equals once.

use serde_json::{Map, Value, json};

use crate::problem::child;

/// The tree form of a condition written with or without the shorthand.
pub fn normalise(condition: &Value) -> Value {
    let Value::Object(map) = condition else { return condition.clone() };
    if map.len() != 1 {
        return condition.clone();
    }
    match map.iter().next() {
        Some((key, Value::Array(children))) if key == "all" || key == "any" => {
            json!({ key.as_str(): children.iter().map(normalise).collect::<Vec<_>>() })
        }
        Some((key, child)) if key == "not" => json!({"not": normalise(child)}),
        Some((key, Value::Object(fields))) if key == "equals" => equals(fields),
        _ => condition.clone(),
    }
}

fn equals(fields: &Map<String, Value>) -> Value {
    let mut leaves: Vec<Value> = fields.iter().map(|(k, v)| json!({"path": equals_path(k), "op": "eq", "value": v})).collect();
    if leaves.len() == 1 { leaves.remove(0) } else { json!({ "all": leaves }) }
}

/// The path a shorthand key stands for: that field of `data`, taken literally.
pub(crate) fn equals_path(key: &str) -> String {
    child("/data", key)
}
