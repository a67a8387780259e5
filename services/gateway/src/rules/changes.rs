//! The record of every change to a rule: an audit entry and a system event
//! (`signalops.rule.<change>`), both in the transaction of the change.

use actix_web::HttpRequest;
use serde_json::json;
use signalops_rule_store::RuleRecord;
use signalops_rule_store::document::status_text;
use tokio_postgres::Transaction;

use crate::audit::{self, AuditEntry, user_actor};
use crate::extract::Principal;
use crate::problem::ApiError;
use crate::system_events;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Change {
    Created,
    Updated,
    Paused,
    Resumed,
    Deleted,
}

impl Change {
    fn name(self) -> &'static str {
        match self {
            Change::Created => "created",
            Change::Updated => "updated",
            Change::Paused => "paused",
            Change::Resumed => "resumed",
            Change::Deleted => "deleted",
        }
    }
}

/// Writes the audit entry and stages the system event of `change` to `rule`
/// (as it is after the change).
pub(crate) async fn record(
    tx: &Transaction<'_>,
    principal: &Principal,
    request: &HttpRequest,
    change: Change,
    rule: &RuleRecord,
) -> Result<(), ApiError> {
    let details = json!({"name": rule.name, "version": rule.current_version, "status": status_text(rule.status)});
    let action = format!("rule.{}", change.name());
    let entry = AuditEntry { actor: user_actor(principal.user_id), action: &action, target: format!("rule/{}", rule.id), details };
    audit::record(tx, principal.tenant_id.as_uuid(), audit::request_id(request).as_deref(), entry).await?;
    let data = json!({
        "rule_id": rule.id,
        "name": rule.name,
        "version": rule.current_version,
        "status": status_text(rule.status),
        "changed_by": principal.user_id,
    });
    let event_type = format!("signalops.rule.{}", change.name());
    system_events::stage(tx, principal.tenant_id, &event_type, &format!("rule/{}", rule.id), data).await?;
    Ok(())
}
