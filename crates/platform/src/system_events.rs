//! Staging a system event (`signalops.user.signed_up`,
//! `signalops.channel.disabled`, …) in the `outbox` table, in the
//! transaction of the change it describes: a committed change always gets
//! its event and a rolled-back one never does. The gateway's relay appends
//! staged events to the events topic.

use serde_json::Value;
use signalops_proto::{ENVELOPE_SCHEMA_VERSION, Event, Message};
use tokio_postgres::GenericClient;

use crate::TenantId;

/// The envelope of a system event from `source` (`/signalops/control-plane`, …).
pub fn envelope(tenant: TenantId, source: &str, event_type: &str, subject: &str, data: &Value) -> Event {
    let now = chrono::Utc::now();
    Event {
        id: uuid::Uuid::now_v7().to_string(),
        tenant_id: tenant.to_string(),
        r#type: event_type.to_owned(),
        source: source.to_owned(),
        subject: subject.to_owned(),
        time: Some(signalops_proto::time::to_timestamp(now)),
        received_at: Some(signalops_proto::time::to_timestamp(now)),
        data_content_type: "application/json".to_owned(),
        data: serde_json::to_vec(data).unwrap_or_default(),
        schema_version: ENVELOPE_SCHEMA_VERSION,
        causation: None,
    }
}

/// Stages an event in the caller's transaction, which must be allowed to
/// write `tenant`'s outbox rows (its tenant, or the notifier's declaration).
pub async fn stage<C: GenericClient>(
    tx: &C,
    tenant: TenantId,
    source: &str,
    event_type: &str,
    subject: &str,
    data: Value,
) -> Result<(), tokio_postgres::Error> {
    let event = envelope(tenant, source, event_type, subject, &data);
    tx.execute(
        "INSERT INTO outbox (tenant_id, event_id, envelope) VALUES ($1, $2, $3)",
        &[&tenant.as_uuid(), &event.id, &event.encode_to_vec()],
    )
    .await?;
    Ok(())
}
