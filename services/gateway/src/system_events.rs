//! System events (`signalops.user.signed_up`, `signalops.invitation.*`, …)
//! appended to the events topic after the change they describe committed,
//! so consumers (the welcome flow, rules) can act on them.

use serde_json::Value;
use signalops_platform::TenantId;
use signalops_platform::kafka::OutgoingRecord;
use signalops_proto::{ENVELOPE_SCHEMA_VERSION, Event, Message};

use crate::state::AppState;

pub const SOURCE: &str = "/signalops/control-plane";

/// Appends one system event; a failure is logged, not returned: the change
/// itself has committed and must not be reported as failed.
pub async fn emit(state: &AppState, tenant: TenantId, event_type: &str, subject: &str, data: Value) {
    let now = chrono::Utc::now();
    let event = Event {
        id: uuid::Uuid::now_v7().to_string(),
        tenant_id: tenant.to_string(),
        r#type: event_type.to_owned(),
        source: SOURCE.to_owned(),
        subject: subject.to_owned(),
        time: Some(signalops_proto::time::to_timestamp(now)),
        received_at: Some(signalops_proto::time::to_timestamp(now)),
        data_content_type: "application/json".to_owned(),
        data: serde_json::to_vec(&data).unwrap_or_default(),
        schema_version: ENVELOPE_SCHEMA_VERSION,
    };
    let headers = signalops_proto::headers::envelope_headers(&event).into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
    let record = OutgoingRecord {
        topic: state.config.kafka.topics.events.clone(),
        key: Some(tenant.to_string().into_bytes()),
        payload: event.encode_to_vec(),
        headers,
    };
    if let Err(error) = state.producer.send(record).await {
        tracing::error!(%error, event_type, tenant_id = %tenant, "system event not appended");
    }
}
