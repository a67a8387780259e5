//! The condition tree in its normal form: `all`, `any`, `not` and leaves
//! `{"path", "op", "value", "as"}`. The shorthand `{"equals": {...}}` is
//! accepted when parsing and turned into this form (see [`crate::parse`]).

use std::fmt;
use std::str::FromStr;

use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

/// A condition over one event.
#[derive(Clone, Debug, PartialEq)]
pub enum Condition {
    /// True when every child is true (and for no children, which validation refuses).
    All(Vec<Condition>),
    /// True when some child is true.
    Any(Vec<Condition>),
    /// True when the child is false.
    Not(Box<Condition>),
    /// One comparison.
    Leaf(Leaf),
}

/// One comparison of the value at `path` with `value`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Leaf {
    /// Where to look (see [`crate::path`]).
    pub path: String,
    /// How to compare.
    pub op: Operator,
    /// What to compare with; absent for `exists` and `missing`. `Some(Null)`
    /// is the JSON `null`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<Value>,
    /// How to read the values: `time` compares RFC 3339 strings as instants.
    #[serde(rename = "as", skip_serializing_if = "Option::is_none")]
    pub read_as: Option<ReadAs>,
}

/// How a leaf reads its values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReadAs {
    /// RFC 3339 strings compared as instants, offsets applied.
    Time,
}

/// The comparison operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Operator {
    Eq,
    Ne,
    Lt,
    Lte,
    Gt,
    Gte,
    Between,
    In,
    NotIn,
    Contains,
    StartsWith,
    EndsWith,
    Matches,
    Exists,
    Missing,
}

impl Operator {
    /// Every operator, in documentation order.
    pub const ALL: [Operator; 15] = [
        Operator::Eq,
        Operator::Ne,
        Operator::Lt,
        Operator::Lte,
        Operator::Gt,
        Operator::Gte,
        Operator::Between,
        Operator::In,
        Operator::NotIn,
        Operator::Contains,
        Operator::StartsWith,
        Operator::EndsWith,
        Operator::Matches,
        Operator::Exists,
        Operator::Missing,
    ];

    /// The name rules use.
    pub fn name(self) -> &'static str {
        match self {
            Operator::Eq => "eq",
            Operator::Ne => "ne",
            Operator::Lt => "lt",
            Operator::Lte => "lte",
            Operator::Gt => "gt",
            Operator::Gte => "gte",
            Operator::Between => "between",
            Operator::In => "in",
            Operator::NotIn => "not_in",
            Operator::Contains => "contains",
            Operator::StartsWith => "starts_with",
            Operator::EndsWith => "ends_with",
            Operator::Matches => "matches",
            Operator::Exists => "exists",
            Operator::Missing => "missing",
        }
    }

    /// `exists` and `missing` take no value; every other operator needs one.
    pub fn takes_value(self) -> bool {
        !matches!(self, Operator::Exists | Operator::Missing)
    }
}

impl fmt::Display for Operator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Operator {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Operator::ALL.into_iter().find(|op| op.name() == s).ok_or(())
    }
}

impl Serialize for Condition {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Condition::Leaf(leaf) => leaf.serialize(serializer),
            Condition::All(children) => single(serializer, "all", children),
            Condition::Any(children) => single(serializer, "any", children),
            Condition::Not(child) => single(serializer, "not", child),
        }
    }
}

fn single<S: Serializer, T: Serialize + ?Sized>(serializer: S, key: &str, value: &T) -> Result<S::Ok, S::Error> {
    let mut map = serializer.serialize_map(Some(1))?;
    map.serialize_entry(key, value)?;
    map.end()
}

/// Deserialising runs the condition parser, so the shorthand is accepted
/// and normalised, and unknown fields are refused (the first problem is the
/// error; [`crate::validate`] reports all of them).
impl<'de> Deserialize<'de> for Condition {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        crate::parse::condition(&value).map_err(|problems| {
            let text = problems.first().map_or_else(|| "invalid condition".to_owned(), ToString::to_string);
            serde::de::Error::custom(text)
        })
    }
}
