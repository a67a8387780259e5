//! Compiles conditions for evaluation: paths parsed, expected values turned
//! into the form each operator compares with (numbers, instants, sets,
//! regexes), once, so evaluating does no parsing and no allocation.

use chrono::{DateTime, Utc};
use regex::{Regex, RegexBuilder};
use serde_json::{Number, Value};

use crate::compare::{kind, numbers, parse_time};
use crate::condition::{Condition, Leaf, Operator, ReadAs};
use crate::limits::{MAX_REGEX_LENGTH, MAX_SET_SIZE, REGEX_DFA_SIZE_LIMIT, REGEX_SIZE_LIMIT};
use crate::path::Path;
use crate::problem::item;

/// A compiled condition tree.
#[derive(Debug)]
pub(crate) enum Node {
    All(Box<[Node]>),
    Any(Box<[Node]>),
    Not(Box<Node>),
    Leaf(Box<CompiledLeaf>),
}

/// A compiled leaf.
#[derive(Debug)]
pub(crate) struct CompiledLeaf {
    /// JSON Pointer of the leaf within the normalised condition, e.g. `/all/1`.
    pub(crate) at: Box<str>,
    pub(crate) path: Path,
    pub(crate) op: Operator,
    /// The value as written, shown in traces.
    pub(crate) value: Option<Value>,
    pub(crate) expected: Expected,
}

/// What a leaf compares with, in the form its operator needs.
#[derive(Debug)]
pub(crate) enum Expected {
    Nothing,
    /// `eq`, `ne`, `contains`: any JSON value (`contains`: a scalar).
    Value(Value),
    /// `starts_with`, `ends_with`.
    Text(Box<str>),
    Number(Number),
    Time(DateTime<Utc>),
    NumberRange(Number, Number),
    TimeRange(DateTime<Utc>, DateTime<Utc>),
    Set(Box<[Value]>),
    TimeSet(Box<[DateTime<Utc>]>),
    Regex(Regex),
}

/// A problem in one leaf; `at` is relative to the leaf (`/value/1`).
#[derive(Debug)]
pub(crate) struct LeafProblem {
    pub(crate) at: String,
    pub(crate) message: String,
}

fn problem(at: &str, message: impl Into<String>) -> LeafProblem {
    LeafProblem { at: at.to_owned(), message: message.into() }
}

/// Compiles a parsed condition; `Err` only for a condition that did not
/// come through [`crate::parse`] (built by hand with bad leaves).
pub(crate) fn node(condition: &Condition, at: &str) -> Result<Node, Vec<LeafProblem>> {
    let many = |children: &[Condition], key: &str| -> Result<Box<[Node]>, Vec<LeafProblem>> {
        children.iter().enumerate().map(|(i, c)| node(c, &item(&format!("{at}/{key}"), i))).collect()
    };
    Ok(match condition {
        Condition::All(children) => Node::All(many(children, "all")?),
        Condition::Any(children) => Node::Any(many(children, "any")?),
        Condition::Not(child) => Node::Not(Box::new(node(child, &format!("{at}/not"))?)),
        Condition::Leaf(l) => {
            let mut compiled = leaf(l)?;
            compiled.at = at.into();
            Node::Leaf(Box::new(compiled))
        }
    })
}

/// Compiles one leaf, reporting every problem in it.
pub(crate) fn leaf(leaf: &Leaf) -> Result<CompiledLeaf, Vec<LeafProblem>> {
    let mut problems = Vec::new();
    let path = Path::parse(&leaf.path).map_err(|e| problems.push(problem("/path", e.to_string()))).ok();
    let as_time = leaf.read_as == Some(ReadAs::Time) || path.as_ref().is_some_and(Path::is_time);
    let expected = match (&leaf.value, leaf.op.takes_value()) {
        (_, false) => Some(Expected::Nothing),
        (Some(value), true) => expected(leaf.op, value, as_time, &mut problems),
        (None, true) => {
            problems.push(problem("", format!("`{}` compares with a value", leaf.op)));
            None
        }
    };
    match (path, expected) {
        (Some(path), Some(expected)) if problems.is_empty() => {
            Ok(CompiledLeaf { at: "".into(), path, op: leaf.op, value: leaf.value.clone(), expected })
        }
        _ => Err(problems),
    }
}

fn expected(op: Operator, value: &Value, as_time: bool, problems: &mut Vec<LeafProblem>) -> Option<Expected> {
    use Operator as O;
    match op {
        O::Eq | O::Ne if as_time => time(value, "/value", problems).map(Expected::Time),
        O::Eq | O::Ne => Some(Expected::Value(value.clone())),
        O::Lt | O::Lte | O::Gt | O::Gte if as_time => time(value, "/value", problems).map(Expected::Time),
        O::Lt | O::Lte | O::Gt | O::Gte => number(op, value, "/value", problems).map(Expected::Number),
        O::Between => between(value, as_time, problems),
        O::In | O::NotIn => set(op, value, as_time, problems),
        O::Contains | O::StartsWith | O::EndsWith | O::Matches if as_time => {
            problems.push(problem("", format!("`{op}` does not apply to times")));
            None
        }
        O::Contains => match value {
            Value::Array(_) | Value::Object(_) => {
                problems.push(problem("/value", format!("`contains` needs a string, number, boolean or null, not {}", kind(value))));
                None
            }
            scalar => Some(Expected::Value(scalar.clone())),
        },
        O::StartsWith | O::EndsWith => text(op, value, problems).map(|s| Expected::Text(s.into())),
        O::Matches => text(op, value, problems).and_then(|p| regex(p, problems)).map(Expected::Regex),
        O::Exists | O::Missing => Some(Expected::Nothing),
    }
}

fn time(value: &Value, at: &str, problems: &mut Vec<LeafProblem>) -> Option<DateTime<Utc>> {
    let parsed = value.as_str().and_then(parse_time);
    if parsed.is_none() {
        problems.push(problem(at, format!("bad time value {value}: expected an RFC 3339 time such as \"2026-01-01T08:00:00Z\"")));
    }
    parsed
}

fn number(op: Operator, value: &Value, at: &str, problems: &mut Vec<LeafProblem>) -> Option<Number> {
    match value {
        Value::Number(n) => Some(n.clone()),
        other => {
            problems.push(problem(at, format!("`{op}` needs a number (or a time, with \"as\": \"time\"), not {}", kind(other))));
            None
        }
    }
}

fn text<'v>(op: Operator, value: &'v Value, problems: &mut Vec<LeafProblem>) -> Option<&'v str> {
    let s = value.as_str();
    if s.is_none() {
        problems.push(problem("/value", format!("`{op}` needs a string, not {}", kind(value))));
    }
    s
}

fn between(value: &Value, as_time: bool, problems: &mut Vec<LeafProblem>) -> Option<Expected> {
    let Some([lo, hi]) = value.as_array().map(Vec::as_slice).and_then(|v| <&[Value; 2]>::try_from(v).ok()) else {
        problems.push(problem("/value", "`between` needs an array of two bounds, [low, high]"));
        return None;
    };
    if as_time {
        let (lo, hi) = (time(lo, "/value/0", problems), time(hi, "/value/1", problems));
        let (lo, hi) = (lo?, hi?);
        if lo > hi {
            problems.push(problem("/value", "the low bound is after the high bound"));
            return None;
        }
        Some(Expected::TimeRange(lo, hi))
    } else {
        let (lo, hi) = (number(Operator::Between, lo, "/value/0", problems), number(Operator::Between, hi, "/value/1", problems));
        let (lo, hi) = (lo?, hi?);
        if numbers(&lo, &hi).is_gt() {
            problems.push(problem("/value", "the low bound is greater than the high bound"));
            return None;
        }
        Some(Expected::NumberRange(lo, hi))
    }
}

fn set(op: Operator, value: &Value, as_time: bool, problems: &mut Vec<LeafProblem>) -> Option<Expected> {
    let Some(items) = value.as_array() else {
        problems.push(problem("/value", format!("`{op}` needs an array, not {}", kind(value))));
        return None;
    };
    if items.len() > MAX_SET_SIZE {
        problems.push(problem("/value", format!("has {} items; at most {MAX_SET_SIZE} are allowed", items.len())));
        return None;
    }
    if as_time {
        let times: Vec<Option<DateTime<Utc>>> = items.iter().enumerate().map(|(i, v)| time(v, &item("/value", i), problems)).collect();
        times.into_iter().collect::<Option<Vec<_>>>().map(|t| Expected::TimeSet(t.into()))
    } else {
        Some(Expected::Set(items.clone().into()))
    }
}

fn regex(pattern: &str, problems: &mut Vec<LeafProblem>) -> Option<Regex> {
    if pattern.len() > MAX_REGEX_LENGTH {
        problems.push(problem("/value", format!("regex is longer than {MAX_REGEX_LENGTH} bytes")));
        return None;
    }
    match RegexBuilder::new(pattern).size_limit(REGEX_SIZE_LIMIT).dfa_size_limit(REGEX_DFA_SIZE_LIMIT).build() {
        Ok(re) => Some(re),
        Err(regex::Error::CompiledTooBig(limit)) => {
            problems.push(problem("/value", format!("regex too large: it compiles to more than {limit} bytes")));
            None
        }
        Err(e) => {
            problems.push(problem("/value", format!("bad regex: {e}")));
            None
        }
    }
}
