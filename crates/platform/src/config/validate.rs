//! Start-up validation: every wrong field is reported, not just the first.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldProblem {
    pub field: String,
    pub message: String,
}

impl FieldProblem {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self { field: field.into(), message: message.into() }
    }
}

impl fmt::Display for FieldProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let env = format!("SIGNALOPS_{}", self.field.to_ascii_uppercase().replace('.', "__"));
        write!(f, "{}: {} (set {env})", self.field, self.message)
    }
}

pub trait Validate {
    /// Problems found, with `field` as a dotted path from the root.
    fn validate(&self) -> Vec<FieldProblem>;
}

/// Prefixes nested problems with the section name.
pub fn nested(section: &str, problems: Vec<FieldProblem>) -> Vec<FieldProblem> {
    problems.into_iter().map(|p| FieldProblem { field: format!("{section}.{}", p.field), ..p }).collect()
}
