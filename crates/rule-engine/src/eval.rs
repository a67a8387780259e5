//! Evaluation. [`CompiledCondition::matches`] answers yes or no without
//! allocating; [`CompiledCondition::evaluate`] also records the trace (one
//! allocation: the trace's vector). Both share the leaf semantics:
//!
//! - a missing path makes every operator false except `missing`;
//! - `eq`/`ne`/`in`/`not_in` are total over present values: a value of
//!   another type is simply not equal (`ne` = not `eq`, `not_in` = not `in`);
//! - the ordering, string and regex operators are false on a type mismatch,
//!   with the reason in the trace.

use std::cmp::Ordering;

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::compare::{json_eq, kind, numbers, parse_time, resolved_eq, resolved_kind};
use crate::compile::{self, CompiledLeaf, Expected, Node};
use crate::condition::{Condition, Operator};
use crate::event::Event;
use crate::path::{Path, Resolved};
use crate::problem::Problem;
use crate::trace::{Evaluation, LeafResult, LeafTrace, Reason};

/// A condition compiled for evaluation.
#[derive(Debug)]
pub struct CompiledCondition {
    root: Node,
    leaves: usize,
    required: Option<RequiredValue>,
}

/// The value an `eq` leaf that every match needs compares with (a string or
/// a number), in a form equal values share: numbers as their `f64`, so
/// `1` and `1.0` are one key, as `eq` compares them. Two different large
/// integers may share a key; that only keeps a rule that then evaluates
/// to false.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum RequiredValue {
    Text(Box<str>),
    Number(u64),
}

impl RequiredValue {
    fn of_json(value: &Value) -> Option<Self> {
        match value {
            Value::String(s) => Some(RequiredValue::Text(s.as_str().into())),
            Value::Number(n) => n.as_f64().map(|f| RequiredValue::Number(if f == 0.0 { 0.0f64.to_bits() } else { f.to_bits() })),
            _ => None,
        }
    }

    /// This value as a lookup key.
    pub fn key(&self) -> RequiredKey<'_> {
        match self {
            RequiredValue::Text(t) => RequiredKey::Text(t),
            RequiredValue::Number(bits) => RequiredKey::Number(*bits),
        }
    }

    /// The key a resolved value is looked up by: equal to this value's own
    /// key exactly when the value can be `eq` to it. Nothing for a value no
    /// required value admits (missing, null, a boolean, an object, a time).
    pub fn key_of<'e>(resolved: Resolved<'e>) -> Option<RequiredKey<'e>> {
        match resolved {
            Resolved::Str(s) => Some(RequiredKey::Text(s)),
            Resolved::Json(Value::String(s)) => Some(RequiredKey::Text(s)),
            Resolved::Json(v @ Value::Number(_)) => match RequiredValue::of_json(v) {
                Some(RequiredValue::Number(bits)) => Some(RequiredKey::Number(bits)),
                _ => None,
            },
            _ => None,
        }
    }
}

/// A resolved value as a lookup key for [`RequiredValue`]s (borrowed: a
/// lookup allocates nothing).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RequiredKey<'e> {
    Text(&'e str),
    Number(u64),
}

/// The leaf every match needs: the root itself, or the first qualifying
/// child of a root `all`, comparing a path with `eq` to a string or number.
fn required_leaf(root: &Node) -> Option<&CompiledLeaf> {
    fn qualifies(node: &Node) -> Option<&CompiledLeaf> {
        match node {
            Node::Leaf(leaf) if leaf.op == Operator::Eq => match &leaf.expected {
                Expected::Value(v) if RequiredValue::of_json(v).is_some() => Some(leaf),
                _ => None,
            },
            _ => None,
        }
    }
    match root {
        Node::All(children) => children.iter().find_map(qualifies),
        node => qualifies(node),
    }
}

impl CompiledCondition {
    /// Compiles a parsed condition. Leaf pointers in errors are relative to it.
    pub fn compile(condition: &Condition) -> Result<Self, Vec<Problem>> {
        let root = compile::node(condition, "")
            .map_err(|found| found.into_iter().map(|p| Problem { pointer: p.at, message: p.message }).collect::<Vec<_>>())?;
        let leaves = count(&root);
        let required = required_leaf(&root).and_then(|leaf| match &leaf.expected {
            Expected::Value(v) => RequiredValue::of_json(v),
            _ => None,
        });
        Ok(CompiledCondition { root, leaves, required })
    }

    /// A path and the value it must equal for the condition to match, when
    /// the condition has such a leaf at its top (see [`RequiredValue`]).
    pub fn required(&self) -> Option<(&Path, &RequiredValue)> {
        let value = self.required.as_ref()?;
        required_leaf(&self.root).map(|leaf| (&leaf.path, value))
    }

    /// Whether the condition matches `event`.
    pub fn matches(&self, event: &Event<'_>) -> bool {
        matches(&self.root, event)
    }

    /// Whether the condition matches `event`, with the per-leaf trace.
    pub fn evaluate<'r, 'e>(&'r self, event: &Event<'e>) -> Evaluation<'r, 'e> {
        let mut trace = Vec::with_capacity(self.leaves);
        let matched = traced(&self.root, event, &mut trace);
        Evaluation { matched, trace }
    }
}

fn count(node: &Node) -> usize {
    match node {
        Node::All(c) | Node::Any(c) => c.iter().map(count).sum(),
        Node::Not(c) => count(c),
        Node::Leaf(_) => 1,
    }
}

fn matches(node: &Node, event: &Event<'_>) -> bool {
    match node {
        Node::All(children) => children.iter().all(|c| matches(c, event)),
        Node::Any(children) => children.iter().any(|c| matches(c, event)),
        Node::Not(child) => !matches(child, event),
        Node::Leaf(leaf) => outcome(leaf, leaf.path.resolve(event)).0,
    }
}

fn traced<'r, 'e>(node: &'r Node, event: &Event<'e>, trace: &mut Vec<LeafTrace<'r, 'e>>) -> bool {
    match node {
        Node::All(children) | Node::Any(children) => {
            // `all` stops at the first false, `any` at the first true.
            let stop_at = matches!(node, Node::Any(_));
            let mut decided = None;
            for c in children {
                if decided.is_some() {
                    skip(c, trace);
                } else if traced(c, event, trace) == stop_at {
                    decided = Some(stop_at);
                }
            }
            decided.unwrap_or(!stop_at)
        }
        Node::Not(child) => !traced(child, event, trace),
        Node::Leaf(leaf) => {
            let resolved = leaf.path.resolve(event);
            let (result, reason) = outcome(leaf, resolved);
            trace.push(entry(leaf, Some(resolved), if result { LeafResult::True } else { LeafResult::False }, reason));
            result
        }
    }
}

fn skip<'r>(node: &'r Node, trace: &mut Vec<LeafTrace<'r, '_>>) {
    match node {
        Node::All(children) | Node::Any(children) => children.iter().for_each(|c| skip(c, trace)),
        Node::Not(child) => skip(child, trace),
        Node::Leaf(leaf) => trace.push(entry(leaf, None, LeafResult::Skipped, Some(Reason::ShortCircuit))),
    }
}

fn entry<'r, 'e>(leaf: &'r CompiledLeaf, resolved: Option<Resolved<'e>>, result: LeafResult, reason: Option<Reason>) -> LeafTrace<'r, 'e> {
    LeafTrace { at: &leaf.at, path: leaf.path.as_str(), resolved, op: leaf.op, expected: leaf.value.as_ref(), result, reason }
}

/// The result of one leaf on the value its path found.
fn outcome(leaf: &CompiledLeaf, resolved: Resolved<'_>) -> (bool, Option<Reason>) {
    use Operator as O;
    if resolved == Resolved::Missing {
        return if leaf.op == O::Missing { (true, None) } else { (false, Some(Reason::PathMissing)) };
    }
    let verdict = |ok: bool, reason: Reason| if ok { (true, None) } else { (false, Some(reason)) };
    match leaf.op {
        O::Exists => (true, None),
        O::Missing => (false, Some(Reason::PathPresent)),
        O::Eq => match equality(&leaf.expected, resolved) {
            Ok(()) => (true, None),
            Err(reason) => (false, Some(reason)),
        },
        O::Ne => verdict(equality(&leaf.expected, resolved).is_err(), Reason::ValuesEqual),
        O::Lt | O::Lte | O::Gt | O::Gte => match ordering(&leaf.expected, resolved) {
            Ok(order) => {
                let ok = match leaf.op {
                    O::Lt => order.is_lt(),
                    O::Lte => order.is_le(),
                    O::Gt => order.is_gt(),
                    _ => order.is_ge(),
                };
                verdict(ok, Reason::ComparisonFalse)
            }
            Err(reason) => (false, Some(reason)),
        },
        O::Between => match between(&leaf.expected, resolved) {
            Ok(ok) => verdict(ok, Reason::OutOfRange),
            Err(reason) => (false, Some(reason)),
        },
        O::In => match membership(&leaf.expected, resolved) {
            Ok(true) => (true, None),
            Ok(false) => (false, Some(Reason::NotInSet)),
            Err(reason) => (false, Some(reason)),
        },
        O::NotIn => verdict(!membership(&leaf.expected, resolved).unwrap_or(false), Reason::InSet),
        O::Contains => match contains(&leaf.expected, resolved) {
            Ok(ok) => verdict(ok, Reason::NotContained),
            Err(reason) => (false, Some(reason)),
        },
        O::StartsWith | O::EndsWith | O::Matches => match text(resolved) {
            Ok(s) => {
                let ok = match (&leaf.expected, leaf.op) {
                    (Expected::Text(t), O::StartsWith) => s.starts_with(&**t),
                    (Expected::Text(t), _) => s.ends_with(&**t),
                    (Expected::Regex(re), _) => re.is_match(s),
                    _ => false,
                };
                verdict(ok, Reason::NoMatch)
            }
            Err(reason) => (false, Some(reason)),
        },
    }
}

/// `Ok` when equal; otherwise why not.
fn equality(expected: &Expected, resolved: Resolved<'_>) -> Result<(), Reason> {
    match expected {
        Expected::Time(t) => {
            if instant(resolved)? == *t {
                Ok(())
            } else {
                Err(Reason::ValuesDiffer)
            }
        }
        Expected::Value(v) => {
            if resolved_eq(resolved, v) {
                Ok(())
            } else if resolved_kind(resolved) == kind(v) {
                Err(Reason::ValuesDiffer)
            } else {
                Err(Reason::TypeMismatch { actual: resolved_kind(resolved), expected: kind(v) })
            }
        }
        _ => Err(Reason::ValuesDiffer),
    }
}

fn ordering(expected: &Expected, resolved: Resolved<'_>) -> Result<Ordering, Reason> {
    match expected {
        Expected::Number(n) => Ok(numbers(number(resolved)?, n)),
        Expected::Time(t) => Ok(instant(resolved)?.cmp(t)),
        _ => Err(Reason::ComparisonFalse),
    }
}

fn between(expected: &Expected, resolved: Resolved<'_>) -> Result<bool, Reason> {
    match expected {
        Expected::NumberRange(lo, hi) => {
            let n = number(resolved)?;
            Ok(numbers(n, lo).is_ge() && numbers(n, hi).is_le())
        }
        Expected::TimeRange(lo, hi) => {
            let t = instant(resolved)?;
            Ok(*lo <= t && t <= *hi)
        }
        _ => Err(Reason::OutOfRange),
    }
}

fn membership(expected: &Expected, resolved: Resolved<'_>) -> Result<bool, Reason> {
    match expected {
        Expected::Set(items) => Ok(items.iter().any(|v| resolved_eq(resolved, v))),
        Expected::TimeSet(times) => {
            let t = instant(resolved)?;
            Ok(times.contains(&t))
        }
        _ => Err(Reason::NotInSet),
    }
}

fn contains(expected: &Expected, resolved: Resolved<'_>) -> Result<bool, Reason> {
    let Expected::Value(needle) = expected else { return Err(Reason::NotContained) };
    match (resolved, needle) {
        (Resolved::Json(serde_json::Value::Array(items)), _) => Ok(items.iter().any(|v| json_eq(v, needle))),
        (_, serde_json::Value::String(n)) => Ok(text(resolved)?.contains(n.as_str())),
        (Resolved::Json(serde_json::Value::String(_)) | Resolved::Str(_), _) => {
            Err(Reason::TypeMismatch { actual: "string", expected: kind(needle) })
        }
        _ => Err(Reason::TypeMismatch { actual: resolved_kind(resolved), expected: "array" }),
    }
}

fn number<'e>(resolved: Resolved<'e>) -> Result<&'e serde_json::Number, Reason> {
    match resolved {
        Resolved::Json(serde_json::Value::Number(n)) => Ok(n),
        other => Err(Reason::TypeMismatch { actual: resolved_kind(other), expected: "number" }),
    }
}

fn text<'e>(resolved: Resolved<'e>) -> Result<&'e str, Reason> {
    match resolved {
        Resolved::Json(serde_json::Value::String(s)) => Ok(s),
        Resolved::Str(s) => Ok(s),
        other => Err(Reason::TypeMismatch { actual: resolved_kind(other), expected: "string" }),
    }
}

fn instant(resolved: Resolved<'_>) -> Result<DateTime<Utc>, Reason> {
    match resolved {
        Resolved::Time(t) => Ok(t),
        Resolved::Str(s) => parse_time(s).ok_or(Reason::NotATime),
        Resolved::Json(serde_json::Value::String(s)) => parse_time(s).ok_or(Reason::NotATime),
        other => Err(Reason::TypeMismatch { actual: resolved_kind(other), expected: "time" }),
    }
}
