//! The stored form of a rule version: the engine's normal form (the
//! `equals` shorthand expanded, defaults filled in) without `status`.
//!
//! Status lives in `rules.status` because pausing is operational: it must
//! not create a version, and the version a firing names must say what the
//! rule *did*, not whether someone later paused it. [`version_of`] puts the
//! rule's current status back when a stored version is compiled.

use serde_json::Value;
use signalops_rule_engine::{CompiledRule, RuleRef, RuleVersion, Status};
use uuid::Uuid;

use crate::error::StoreError;

/// The document to store for a validated rule.
pub fn stored(version: &RuleVersion) -> Value {
    let mut document = serde_json::to_value(version).unwrap_or(Value::Null);
    if let Value::Object(map) = &mut document {
        map.remove("status");
    }
    document
}

/// A stored document read back as a rule version with `status`.
pub fn version_of(rule_id: Uuid, document: &Value, status: Status) -> Result<RuleVersion, StoreError> {
    let mut version: RuleVersion =
        serde_json::from_value(document.clone()).map_err(|e| StoreError::Corrupt { rule_id, message: e.to_string() })?;
    version.status = status;
    Ok(version)
}

/// `active` / `paused`, as `rules.status` holds it.
pub fn status_text(status: Status) -> &'static str {
    match status {
        Status::Active => "active",
        Status::Paused => "paused",
    }
}

pub fn parse_status(rule_id: Uuid, text: &str) -> Result<Status, StoreError> {
    match text {
        "active" => Ok(Status::Active),
        "paused" => Ok(Status::Paused),
        other => Err(StoreError::Corrupt { rule_id, message: format!("unknown status {other:?}") }),
    }
}

/// Compiles a stored version (as `rule_versions` holds it) with the rule's
/// status from `rules.status`.
pub fn compile(rule_id: Uuid, version: i32, status: &str, document: &Value) -> Result<CompiledRule, StoreError> {
    let number =
        u32::try_from(version).map_err(|_| StoreError::Corrupt { rule_id, message: format!("version {version} is out of range") })?;
    let stored = version_of(rule_id, document, parse_status(rule_id, status)?)?;
    CompiledRule::from_version(RuleRef { id: rule_id, version: number }, &stored).map_err(|problems| StoreError::Corrupt {
        rule_id,
        message: problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "),
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use signalops_rule_engine::{ValidationContext, validate};

    use super::*;

    #[test]
    fn the_stored_document_is_normalised_without_status_and_reads_back() {
        let raw = json!({
            "name": "High", "event_types": ["incident."], "when": {"equals": {"severity": "high"}},
            "actions": [{"notify": {"channels": ["ops"], "body": "{{ event.type }}"}}], "status": "paused"
        });
        let version = validate(&raw, &ValidationContext::default()).expect("valid");
        let document = stored(&version);
        assert!(document.get("status").is_none(), "{document}");
        assert_eq!(document["when"], json!({"path": "/data/severity", "op": "eq", "value": "high"}));
        let back = version_of(Uuid::nil(), &document, Status::Active).expect("reads back");
        assert_eq!(back.status, Status::Active);
        assert_eq!(back.when, version.when);
        assert!(validate(&document, &ValidationContext::default()).is_ok(), "the stored form validates again");
    }
}
