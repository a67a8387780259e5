//! A record of the events topic as the rules group reads it: the decoded
//! envelope, its tenant, times and causation. The JSON data is parsed only
//! for events some rule is indexed for.

use chrono::{DateTime, Utc};
use signalops_platform::TenantId;
use signalops_platform::consumer::Record;
use signalops_proto::Event;
use signalops_rule_engine::Causation;

/// One decoded record.
#[derive(Debug)]
pub struct Incoming {
    /// Its position in the batch (to name it when it is poison).
    pub index: usize,
    pub tenant: TenantId,
    pub envelope: Event,
    pub received_at: DateTime<Utc>,
    pub time: Option<DateTime<Utc>>,
    pub causation: Option<Causation>,
    pub partition: i32,
    pub offset: i64,
    /// W3C trace context of the record, carried on to what its firings stage.
    pub traceparent: Option<String>,
    pub tracestate: Option<String>,
}

impl Incoming {
    /// Decodes a record; the error says why it can never be evaluated.
    pub fn decode(index: usize, record: &Record) -> Result<Self, String> {
        let payload = record.payload.as_deref().ok_or("record has no value")?;
        let envelope = Event::decode_checked(payload).map_err(|e| e.to_string())?;
        let tenant: TenantId = envelope.tenant_id.parse().map_err(|_| "envelope field `tenant_id` is not a tenant id".to_owned())?;
        let received_at = envelope
            .received_at
            .as_ref()
            .and_then(signalops_proto::time::from_timestamp)
            .ok_or("envelope field `received_at` is missing or out of range")?;
        // Like the read model and the query API, an event the client gave no
        // time has its received_at as its time, so a backtest over the read
        // model sees what this group sees (ADR 0027).
        let time = envelope.time.as_ref().and_then(signalops_proto::time::from_timestamp).or(Some(received_at));
        let causation = envelope
            .causation
            .as_ref()
            .map(|c| {
                let rule_id =
                    c.rule_id.parse().map_err(|_| format!("envelope causation names rule {:?}, which is not a UUID", c.rule_id))?;
                Ok::<_, String>(Causation {
                    root_event_id: c.root_event_id.clone(),
                    source_event_id: c.source_event_id.clone(),
                    rule_id,
                    depth: c.depth,
                })
            })
            .transpose()?;
        let header = |key: &str| record.header(key).filter(|v| !v.is_empty()).map(str::to_owned);
        Ok(Self {
            index,
            tenant,
            received_at,
            time,
            causation,
            partition: record.partition,
            offset: record.offset,
            traceparent: header(signalops_proto::headers::TRACEPARENT),
            tracestate: header(signalops_proto::headers::TRACESTATE),
            envelope,
        })
    }

    /// The event's data as JSON: `null` when it has none or is not JSON.
    pub fn data(&self) -> Result<serde_json::Value, String> {
        let content_type = &self.envelope.data_content_type;
        let json = content_type.is_empty() || signalops_proto::content_type::is_json(content_type);
        if !json || self.envelope.data.is_empty() {
            return Ok(serde_json::Value::Null);
        }
        serde_json::from_slice(&self.envelope.data).map_err(|e| format!("data declared as JSON is not valid JSON: {e}"))
    }

    /// The view rules evaluate.
    pub fn view<'a>(&'a self, data: &'a serde_json::Value) -> signalops_rule_engine::Event<'a> {
        signalops_rule_engine::Event {
            id: &self.envelope.id,
            event_type: &self.envelope.r#type,
            source: &self.envelope.source,
            subject: Some(self.envelope.subject.as_str()).filter(|s| !s.is_empty()),
            time: self.time,
            received_at: self.received_at,
            data,
            causation: self.causation.as_ref(),
        }
    }
}
