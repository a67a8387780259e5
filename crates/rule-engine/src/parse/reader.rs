//! Small readers for JSON fields that record a problem instead of failing.

use serde_json::{Map, Value};

use crate::problem::{Problems, child};

/// `value` as an object, or a problem.
pub(super) fn object<'v>(value: &'v Value, pointer: &str, problems: &mut Problems) -> Option<&'v Map<String, Value>> {
    match value {
        Value::Object(map) => Some(map),
        other => {
            problems.push(pointer, format!("must be an object, not {}", crate::compare::kind(other)));
            None
        }
    }
}

/// Records every key of `map` that is not in `allowed`.
pub(super) fn refuse_unknown(map: &Map<String, Value>, pointer: &str, allowed: &[&str], problems: &mut Problems) {
    for key in map.keys().filter(|k| !allowed.contains(&k.as_str())) {
        problems.push(&child(pointer, key), format!("unknown field `{key}` (expected one of: {})", allowed.join(", ")));
    }
}

/// The field `key`, or a problem when it is absent.
pub(super) fn required<'v>(map: &'v Map<String, Value>, pointer: &str, key: &str, problems: &mut Problems) -> Option<&'v Value> {
    let found = map.get(key);
    if found.is_none() {
        problems.push(pointer, format!("missing required field `{key}`"));
    }
    found
}

/// `value` as a string, or a problem.
pub(super) fn string<'v>(value: &'v Value, pointer: &str, problems: &mut Problems) -> Option<&'v str> {
    match value {
        Value::String(s) => Some(s),
        other => {
            problems.push(pointer, format!("must be a string, not {}", crate::compare::kind(other)));
            None
        }
    }
}

/// `value` as an array, or a problem.
pub(super) fn array<'v>(value: &'v Value, pointer: &str, problems: &mut Problems) -> Option<&'v [Value]> {
    match value {
        Value::Array(items) => Some(items),
        other => {
            problems.push(pointer, format!("must be an array, not {}", crate::compare::kind(other)));
            None
        }
    }
}

/// `value` as a whole number in `min..=max`, or a problem.
pub(super) fn bounded_u32(value: &Value, pointer: &str, min: u32, max: u32, problems: &mut Problems) -> Option<u32> {
    let n = value.as_u64().and_then(|n| u32::try_from(n).ok()).filter(|n| (min..=max).contains(n));
    if n.is_none() {
        problems.push(pointer, format!("must be a whole number from {min} to {max}"));
    }
    n
}
