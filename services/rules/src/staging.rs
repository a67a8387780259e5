//! What a firing appends: a derived event as an envelope for the events
//! topic, a notification request for the notifications topic. Both carry
//! the action's deterministic id, so recomputing a firing (a replay, a
//! retried batch) produces a record with the same id, which every consumer
//! downstream deduplicates on.
//!
//! A derived event must pass the checks ingest applies to what backends send
//! (ADR 0020): otherwise the projector would refuse it. One that does not is
//! not staged; the firing records the reason instead.

use chrono::{DateTime, Utc};
use signalops_platform::TenantId;
use signalops_proto::headers::{self, CE_ID, CE_SPECVERSION, CE_TENANT, CONTENT_TYPE};
use signalops_proto::{ENVELOPE_SCHEMA_VERSION, Event, Message as _, NOTIFICATION_CONTENT_TYPE, NotificationRequest, event_data};
use signalops_rule_engine::{DerivedEvent, Notification, RuleRef};
use uuid::Uuid;

use crate::incoming::Incoming;

/// `source` of every derived event.
pub const DERIVED_SOURCE: &str = "/signalops/rules";

/// The kinds of appended records.
pub const KIND_EVENT: &str = "event";
pub const KIND_NOTIFICATION: &str = "notification";

/// One record to append, once its firing is known to be new.
#[derive(Debug, Clone, PartialEq)]
pub struct Staged {
    /// The firing it belongs to (an index into the batch's firings).
    pub firing: usize,
    pub record_id: Uuid,
    pub kind: &'static str,
    pub payload: Vec<u8>,
    /// Routing headers (CloudEvents attributes, content type).
    pub headers: Vec<(&'static str, Vec<u8>)>,
    pub traceparent: Option<String>,
    pub tracestate: Option<String>,
}

/// The envelope of a derived event, or why it cannot be appended. Its times
/// are the source event's `received_at` (the clock rules run on), so the
/// envelope is the same however often the firing is computed.
pub fn derived_event(tenant: TenantId, source: &Incoming, derived: &DerivedEvent) -> Result<Event, String> {
    if !event_data::valid_type(&derived.event_type) {
        return Err(format!(
            "derived event type {:?} is not a dotted lowercase type of at most {} bytes",
            derived.event_type,
            event_data::MAX_TYPE_LENGTH
        ));
    }
    let data = serde_json::to_vec(&derived.data).map_err(|e| format!("derived data does not serialise: {e}"))?;
    event_data::check_json(&data).map_err(|reason| format!("derived event refused: {reason}"))?;
    let at = Some(signalops_proto::time::to_timestamp(source.received_at));
    Ok(Event {
        id: derived.id.to_string(),
        tenant_id: tenant.to_string(),
        r#type: derived.event_type.clone(),
        source: DERIVED_SOURCE.to_owned(),
        subject: source.envelope.subject.clone(),
        time: at,
        received_at: at,
        data_content_type: "application/json".to_owned(),
        data,
        schema_version: ENVELOPE_SCHEMA_VERSION,
        causation: Some(signalops_proto::Causation {
            root_event_id: derived.causation.root_event_id.clone(),
            source_event_id: derived.causation.source_event_id.clone(),
            rule_id: derived.causation.rule_id.to_string(),
            depth: derived.causation.depth,
        }),
    })
}

/// A notification request for the notifier.
pub fn notification(
    tenant: TenantId,
    source: &Incoming,
    rule: RuleRef,
    action_index: u32,
    notification: &Notification,
    now: DateTime<Utc>,
) -> NotificationRequest {
    NotificationRequest {
        id: notification.id.to_string(),
        tenant_id: tenant.to_string(),
        rule_id: rule.id.to_string(),
        rule_version: rule.version,
        action_index,
        source_event_id: source.envelope.id.clone(),
        source_event_type: source.envelope.r#type.clone(),
        channels: notification.channels.clone(),
        subject: notification.subject.clone(),
        body: notification.body.clone(),
        traceparent: source.traceparent.clone().unwrap_or_default(),
        tracestate: source.tracestate.clone().unwrap_or_default(),
        created_at: Some(signalops_proto::time::to_timestamp(now)),
        received_at: Some(signalops_proto::time::to_timestamp(source.received_at)),
    }
}

/// The record of a derived event.
pub fn stage_event(firing: usize, source: &Incoming, id: Uuid, event: &Event) -> Staged {
    Staged {
        firing,
        record_id: id,
        kind: KIND_EVENT,
        payload: event.encode_to_vec(),
        headers: headers::envelope_headers(event),
        traceparent: source.traceparent.clone(),
        tracestate: source.tracestate.clone(),
    }
}

/// The record of a notification request.
pub fn stage_notification(firing: usize, source: &Incoming, id: Uuid, request: &NotificationRequest) -> Staged {
    Staged {
        firing,
        record_id: id,
        kind: KIND_NOTIFICATION,
        payload: request.encode_to_vec(),
        headers: vec![
            (CONTENT_TYPE, NOTIFICATION_CONTENT_TYPE.as_bytes().to_vec()),
            (CE_SPECVERSION, b"1.0".to_vec()),
            (CE_ID, id.to_string().into_bytes()),
            (CE_TENANT, request.tenant_id.as_bytes().to_vec()),
        ],
        traceparent: source.traceparent.clone(),
        tracestate: source.tracestate.clone(),
    }
}
