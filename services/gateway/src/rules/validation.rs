//! Save-time validation: a rule document checked by the engine against the
//! tenant's channels, every problem answered at once with its JSON Pointer.

use std::collections::HashSet;

use serde_json::Value;
use signalops_rule_engine::{Problem, RuleVersion, ValidationContext, validate};
use tokio_postgres::GenericClient;

use crate::problem::{ApiError, FieldError};

/// The ids of the tenant's channels, for `known_channels` (read in the
/// tenant's transaction).
pub(crate) async fn tenant_channels<C: GenericClient>(tx: &C) -> Result<HashSet<String>, ApiError> {
    Ok(signalops_notify_store::channels::ids(tx).await?)
}

/// The document in normal form, or a 422 naming every problem (an unknown
/// channel among them). `at` is the pointer of the document in the body
/// (empty when it is the body).
pub(crate) fn validated(document: &Value, at: &str, channels: &HashSet<String>) -> Result<RuleVersion, ApiError> {
    validate(document, &ValidationContext { known_channels: Some(channels) }).map_err(|problems| problems_at(&problems, at))
}

/// Engine problems as field errors whose `field` is the JSON Pointer in the body.
pub(crate) fn problems_at(problems: &[Problem], at: &str) -> ApiError {
    let errors = problems
        .iter()
        .map(|p| {
            let pointer = format!("{at}{}", p.pointer);
            FieldError::new(if pointer.is_empty() { "(body)".to_owned() } else { pointer }, p.message.clone())
        })
        .collect();
    ApiError::Validation(errors)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn every_problem_is_named_by_its_pointer_below_the_document() {
        let document = json!({
            "name": "x", "event_types": ["a.b"],
            "when": {"all": [{"path": "/data/x", "op": "bogus", "value": 1}, {"path": "/data/y", "op": "matches", "value": "("}]},
            "actions": [{"notify": {"channels": ["c"], "body": "{{ event.type "}}]
        });
        let known = HashSet::from(["c".to_owned()]);
        let Err(ApiError::Validation(errors)) = validated(&document, "/rule", &known) else { panic!("accepted") };
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["/rule/when/all/0/op", "/rule/when/all/1/value", "/rule/actions/0/notify/body"], "{errors:?}");
        let Err(ApiError::Validation(errors)) = validated(&document, "/rule", &HashSet::new()) else { panic!("accepted") };
        assert!(
            errors.iter().any(|e| e.field == "/rule/actions/0/notify/channels/0" && e.message.contains("unknown channel")),
            "{errors:?}"
        );
    }
}
