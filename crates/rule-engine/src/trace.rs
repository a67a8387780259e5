//! The evaluation trace: one entry per leaf, in the order the leaves are
//! written. `all` and `any` short-circuit; the leaves they did not need are
//! listed as `skipped`, so every leaf of the rule appears exactly once.

use std::fmt;

use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};
use serde_json::Value;

use crate::condition::Operator;
use crate::event::rfc3339;
use crate::path::Resolved;

/// The result of evaluating a condition on an event.
#[derive(Debug, Serialize)]
pub struct Evaluation<'r, 'e> {
    /// Whether the condition matched.
    pub matched: bool,
    /// One entry per leaf.
    pub trace: Vec<LeafTrace<'r, 'e>>,
}

/// What one leaf saw and decided.
#[derive(Debug, Clone, PartialEq)]
pub struct LeafTrace<'r, 'e> {
    /// JSON Pointer of the leaf within the normalised condition, e.g. `/all/1`.
    pub at: &'r str,
    /// The leaf's path as written.
    pub path: &'r str,
    /// What the path found; `None` when the leaf was skipped.
    pub resolved: Option<Resolved<'e>>,
    pub op: Operator,
    /// The leaf's value as written (`None` for `exists` / `missing`).
    pub expected: Option<&'r Value>,
    pub result: LeafResult,
    /// Why the leaf was false (or skipped); `None` when it was true.
    pub reason: Option<Reason>,
}

/// A leaf's result.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LeafResult {
    True,
    False,
    /// Not evaluated: an earlier sibling already decided its `all` / `any`.
    Skipped,
}

/// Why a leaf was false. A type mismatch is a reason, never an error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    PathMissing,
    PathPresent,
    TypeMismatch { actual: &'static str, expected: &'static str },
    NotATime,
    ValuesDiffer,
    ValuesEqual,
    ComparisonFalse,
    OutOfRange,
    NotInSet,
    InSet,
    NotContained,
    NoMatch,
    ShortCircuit,
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::PathMissing => f.write_str("path missing"),
            Reason::PathPresent => f.write_str("path present"),
            Reason::TypeMismatch { actual, expected } => write!(f, "type mismatch: {actual} vs {expected}"),
            Reason::NotATime => f.write_str("type mismatch: string is not an RFC 3339 time"),
            Reason::ValuesDiffer => f.write_str("values differ"),
            Reason::ValuesEqual => f.write_str("values are equal"),
            Reason::ComparisonFalse => f.write_str("comparison is false"),
            Reason::OutOfRange => f.write_str("outside the bounds"),
            Reason::NotInSet => f.write_str("not in the set"),
            Reason::InSet => f.write_str("in the set"),
            Reason::NotContained => f.write_str("not contained"),
            Reason::NoMatch => f.write_str("does not match"),
            Reason::ShortCircuit => f.write_str("skipped: an earlier condition decided the result"),
        }
    }
}

impl Serialize for Reason {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// `{"at", "path", "resolved" | "missing": true, "op", "expected", "result", "reason"}`.
impl Serialize for LeafTrace<'_, '_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("at", self.at)?;
        map.serialize_entry("path", self.path)?;
        match self.resolved {
            Some(Resolved::Json(v)) => map.serialize_entry("resolved", v)?,
            Some(Resolved::Str(s)) => map.serialize_entry("resolved", s)?,
            Some(Resolved::Time(t)) => map.serialize_entry("resolved", &rfc3339(&t))?,
            Some(Resolved::Missing) => map.serialize_entry("missing", &true)?,
            None => {}
        }
        map.serialize_entry("op", &self.op)?;
        if let Some(expected) = self.expected {
            map.serialize_entry("expected", expected)?;
        }
        map.serialize_entry("result", &self.result)?;
        if let Some(reason) = &self.reason {
            map.serialize_entry("reason", reason)?;
        }
        map.end()
    }
}
