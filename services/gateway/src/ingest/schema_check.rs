//! Enforces the tenant's registered JSON Schemas on event data.

use std::collections::BTreeSet;

use signalops_platform::TenantId;

use super::pipeline::{Candidate, ItemOutcome};
use crate::event_schemas::registry::violations;
use crate::problem::{ApiError, FieldError};
use crate::state::AppState;

/// Splits `candidates` into those that satisfy their type's schema and
/// rejections naming each violation by its JSON path (`data/amount`). A
/// single event fails the request instead.
pub async fn enforce(
    state: &AppState,
    tenant: TenantId,
    candidates: Vec<Candidate>,
    is_batch: bool,
) -> Result<(Vec<Candidate>, Vec<(usize, ItemOutcome)>), ApiError> {
    let types: BTreeSet<String> = candidates.iter().map(|c| c.event.r#type.clone()).collect();
    if types.is_empty() {
        return Ok((candidates, Vec::new()));
    }
    let validators = state.schemas.validators(tenant, types).await?;
    let mut kept = Vec::with_capacity(candidates.len());
    let mut rejected = Vec::new();
    for candidate in candidates {
        let validator = validators.iter().find(|(t, _)| *t == candidate.event.r#type).and_then(|(_, v)| v.clone());
        let Some(validator) = validator else {
            kept.push(candidate);
            continue;
        };
        let found = if signalops_proto::content_type::is_json(&candidate.event.data_content_type) {
            let data: serde_json::Value = serde_json::from_slice(&candidate.event.data).unwrap_or(serde_json::Value::Null);
            violations(&validator, "data", &data)
        } else {
            vec![FieldError::new("data", "this type has a registered JSON Schema, so its data must be JSON")]
        };
        if found.is_empty() {
            kept.push(candidate);
        } else if is_batch {
            let index = candidate.index;
            let errors = found.into_iter().map(|e| FieldError::new(format!("[{index}].{}", e.field), e.message)).collect();
            rejected.push((index, ItemOutcome::Rejected { index, error: ApiError::Validation(errors) }));
        } else {
            return Err(ApiError::Validation(found));
        }
    }
    Ok((kept, rejected))
}
