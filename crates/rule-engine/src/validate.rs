//! Save-time validation: every problem of a rule document at once, each
//! named by its JSON Pointer (`/when/all/2/op`).

use std::collections::HashSet;

use serde_json::Value;

use crate::model::RuleVersion;
use crate::parse;
use crate::problem::{Problem, Problems};

/// What validation needs to know about the tenant.
#[derive(Clone, Copy, Debug, Default)]
pub struct ValidationContext<'a> {
    /// The tenant's channel ids; `None` skips the channel check (used when a
    /// stored rule is loaded and its channels may have changed since).
    pub known_channels: Option<&'a HashSet<String>>,
}

/// Checks a rule document fully and returns it in normal form.
pub fn validate(raw: &Value, context: &ValidationContext<'_>) -> Result<RuleVersion, Vec<Problem>> {
    let mut problems = Problems::default();
    match parse::rule(raw, context, &mut problems) {
        Some(rule) if problems.len() == 0 => Ok(rule),
        _ => Err(problems.into_vec()),
    }
}
