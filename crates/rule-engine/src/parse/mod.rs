//! From JSON to the rule model. Parsing walks the whole document and
//! collects every problem with its JSON Pointer instead of stopping at the
//! first, and turns the shorthand `{"equals": {...}}` into the tree form.

mod condition;
mod normalise;
mod reader;
mod rule;

use serde_json::Value;

pub use normalise::normalise;
pub(crate) use rule::rule;

use crate::condition::Condition;
use crate::problem::{Problem, Problems};

/// Parses one condition (pointers are relative to it) and checks it fully:
/// structure, operators, value types, regexes, times and limits.
pub fn condition(value: &Value) -> Result<Condition, Vec<Problem>> {
    let mut problems = Problems::default();
    let parsed = condition::parse_root(value, "", &mut problems);
    match parsed {
        Some(c) if problems.len() == 0 => Ok(c),
        _ => Err(problems.into_vec()),
    }
}
