//! The record of every change to a channel: an audit entry and a system
//! event (`signalops.channel.<change>`), both in the transaction of the
//! change. Neither carries a credential.

use actix_web::HttpRequest;
use serde_json::json;
use signalops_notify_store::channels::ChannelRecord;
use tokio_postgres::Transaction;

use crate::audit::{self, AuditEntry, user_actor};
use crate::extract::Principal;
use crate::problem::ApiError;
use crate::system_events;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Change {
    Created,
    Updated,
    Deleted,
    SecretRotated,
    Enabled,
}

impl Change {
    fn name(self) -> &'static str {
        match self {
            Change::Created => "created",
            Change::Updated => "updated",
            Change::Deleted => "deleted",
            Change::SecretRotated => "secret_rotated",
            Change::Enabled => "enabled",
        }
    }
}

pub(crate) async fn record(
    tx: &Transaction<'_>,
    principal: &Principal,
    request: &HttpRequest,
    change: Change,
    channel: &ChannelRecord,
) -> Result<(), ApiError> {
    let details = json!({"name": channel.name, "kind": channel.kind.as_str(), "status": channel.status.as_str()});
    let action = format!("channel.{}", change.name());
    let target = format!("channel/{}", channel.id);
    let entry = AuditEntry { actor: user_actor(principal.user_id), action: &action, target: target.clone(), details };
    audit::record(tx, principal.tenant_id.as_uuid(), audit::request_id(request).as_deref(), entry).await?;
    let data = json!({
        "channel_id": channel.id,
        "name": channel.name,
        "kind": channel.kind.as_str(),
        "status": channel.status.as_str(),
        "changed_by": principal.user_id,
    });
    system_events::stage(tx, principal.tenant_id, &format!("signalops.channel.{}", change.name()), &target, data).await?;
    Ok(())
}
