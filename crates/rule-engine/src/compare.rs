//! Comparisons of JSON values: numbers compare as numbers (integers exactly,
//! integers against floats without rounding the integer), everything else by
//! JSON equality; RFC 3339 times compare as instants.

use std::cmp::Ordering;

use chrono::{DateTime, Utc};
use serde_json::{Number, Value};

use crate::path::Resolved;

/// Orders two JSON numbers exactly.
pub(crate) fn numbers(a: &Number, b: &Number) -> Ordering {
    match (integer(a), integer(b)) {
        (Some(x), Some(y)) => x.cmp(&y),
        (Some(x), None) => float_vs_integer(float(b), x).reverse(),
        (None, Some(y)) => float_vs_integer(float(a), y),
        (None, None) => float(a).total_cmp(&float(b)),
    }
}

fn integer(n: &Number) -> Option<i128> {
    n.as_i64().map(i128::from).or_else(|| n.as_u64().map(i128::from))
}

fn float(n: &Number) -> f64 {
    n.as_f64().unwrap_or(f64::NAN)
}

/// `f` against the integer `n` with no precision lost on `n`: when `f`
/// equals `n` rounded to a float, `f` is integral and the tie is broken exactly.
fn float_vs_integer(f: f64, n: i128) -> Ordering {
    #[allow(clippy::cast_precision_loss)]
    let rounded = n as f64;
    match f.partial_cmp(&rounded) {
        Some(Ordering::Equal) => {
            #[allow(clippy::cast_possible_truncation)]
            let exact = f as i128;
            exact.cmp(&n)
        }
        Some(other) => other,
        None => Ordering::Less,
    }
}

/// JSON equality where `1` equals `1.0`.
pub(crate) fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => numbers(x, y) == Ordering::Equal,
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(x, y)| json_eq(x, y)),
        (Value::Object(x), Value::Object(y)) => x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| json_eq(v, w))),
        _ => a == b,
    }
}

/// Equality of a resolved value with a JSON value.
pub(crate) fn resolved_eq(resolved: Resolved<'_>, expected: &Value) -> bool {
    match resolved {
        Resolved::Json(v) => json_eq(v, expected),
        Resolved::Str(s) => expected.as_str() == Some(s),
        Resolved::Time(_) | Resolved::Missing => false,
    }
}

/// Parses an RFC 3339 time (any offset) into UTC.
pub(crate) fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text).ok().map(|t| t.with_timezone(&Utc))
}

/// The kind of a JSON value, as traces name it.
pub(crate) fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// The kind of a resolved value.
pub(crate) fn resolved_kind(resolved: Resolved<'_>) -> &'static str {
    match resolved {
        Resolved::Json(v) => kind(v),
        Resolved::Str(_) => "string",
        Resolved::Time(_) => "time",
        Resolved::Missing => "missing",
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn n(v: Value) -> Number {
        match v {
            Value::Number(n) => n,
            other => panic!("not a number: {other}"),
        }
    }

    #[test]
    fn integers_and_floats_compare_by_value() {
        assert_eq!(numbers(&n(json!(1)), &n(json!(1.0))), Ordering::Equal);
        assert_eq!(numbers(&n(json!(1)), &n(json!(1.5))), Ordering::Less);
        assert_eq!(numbers(&n(json!(-2.5)), &n(json!(-3))), Ordering::Greater);
        assert_eq!(numbers(&n(json!(u64::MAX)), &n(json!(-1))), Ordering::Greater);
    }

    #[test]
    fn big_integers_keep_their_precision() {
        // 2^53 + 1 is not a float; rounding it would make these equal.
        let big = n(json!(9_007_199_254_740_993_u64));
        let float = n(json!(9_007_199_254_740_992.0));
        assert_eq!(numbers(&big, &float), Ordering::Greater);
        assert_eq!(numbers(&float, &big), Ordering::Less);
        assert_eq!(numbers(&big, &n(json!(9_007_199_254_740_992_u64))), Ordering::Greater);
    }

    #[test]
    fn json_equality_is_numeric_inside_containers() {
        assert!(json_eq(&json!({"a": [1, 2.0]}), &json!({"a": [1.0, 2]})));
        assert!(!json_eq(&json!({"a": 1}), &json!({"a": "1"})));
        assert!(!json_eq(&json!([1]), &json!([1, 1])));
    }

    #[test]
    fn times_with_offsets_are_the_same_instant() {
        assert_eq!(parse_time("2026-01-01T10:00:00+02:00"), parse_time("2026-01-01T08:00:00Z"));
        assert!(parse_time("2026-01-01").is_none());
        assert!(parse_time("yesterday").is_none());
    }
}
