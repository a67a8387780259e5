//! A notification request as the rules group appended it, checked before it
//! is recorded: a record that is not one (or names no channel, or ids that
//! are not ids) is undecodable and goes to the dead letters, never into the
//! table half-formed.

use chrono::{DateTime, Utc};
use signalops_platform::consumer::Record;
use signalops_proto::{Message as _, NotificationRequest};
use uuid::Uuid;

/// The most channels one fallback chain may list (as the rule language allows).
const MAX_CHANNELS: usize = 5;

/// One request, ready for the `deliveries` table.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub tenant: Uuid,
    pub id: Uuid,
    pub rule_id: Uuid,
    pub rule_version: i32,
    pub action_index: i32,
    pub source_event_id: String,
    pub source_event_type: String,
    pub channels: Vec<String>,
    pub subject: Option<String>,
    pub body: String,
    pub traceparent: Option<String>,
    pub tracestate: Option<String>,
    pub requested_at: DateTime<Utc>,
    pub received_at: DateTime<Utc>,
    pub partition: i32,
    pub offset: i64,
}

fn uuid(value: &str, field: &str) -> Result<Uuid, String> {
    value.parse().map_err(|_| format!("field `{field}` is not a UUID"))
}

fn time(value: Option<&signalops_proto::Timestamp>, field: &str) -> Result<DateTime<Utc>, String> {
    value.and_then(signalops_proto::time::from_timestamp).ok_or_else(|| format!("field `{field}` is missing or out of range"))
}

fn text(value: String) -> Option<String> {
    Some(value).filter(|v| !v.is_empty())
}

impl Request {
    pub fn decode(record: &Record) -> Result<Self, String> {
        let payload = record.payload.as_deref().ok_or("record has no value")?;
        let request = NotificationRequest::decode(payload).map_err(|e| format!("not a notification request: {e}"))?;
        if request.channels.is_empty() || request.channels.len() > MAX_CHANNELS {
            return Err(format!("lists {} channels; a request needs 1 to {MAX_CHANNELS}", request.channels.len()));
        }
        // Postgres refuses NUL in text: a request carrying one could never be recorded.
        let texts = [&request.source_event_id, &request.source_event_type, &request.body, &request.traceparent, &request.tracestate];
        if texts.into_iter().chain(&request.channels).chain(&request.subject).any(|t| t.contains('\0')) {
            return Err("a text field holds a NUL character".into());
        }
        Ok(Request {
            tenant: uuid(&request.tenant_id, "tenant_id")?,
            id: uuid(&request.id, "id")?,
            rule_id: uuid(&request.rule_id, "rule_id")?,
            rule_version: i32::try_from(request.rule_version).map_err(|_| "field `rule_version` is out of range")?,
            action_index: i32::try_from(request.action_index).map_err(|_| "field `action_index` is out of range")?,
            requested_at: time(request.created_at.as_ref(), "created_at")?,
            received_at: time(request.received_at.as_ref(), "received_at")?,
            source_event_id: request.source_event_id,
            source_event_type: request.source_event_type,
            channels: request.channels,
            subject: request.subject,
            body: request.body,
            traceparent: text(request.traceparent),
            tracestate: text(request.tracestate),
            partition: record.partition,
            offset: record.offset,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(request: &NotificationRequest) -> Record {
        Record {
            topic: "t".into(),
            partition: 2,
            offset: 7,
            key: None,
            payload: Some(request.encode_to_vec()),
            headers: vec![],
            timestamp_ms: None,
        }
    }

    fn request() -> NotificationRequest {
        let now = signalops_proto::time::to_timestamp(Utc::now());
        NotificationRequest {
            id: Uuid::now_v7().to_string(),
            tenant_id: Uuid::now_v7().to_string(),
            rule_id: Uuid::now_v7().to_string(),
            rule_version: 3,
            action_index: 1,
            source_event_id: "evt-1".into(),
            source_event_type: "payment.failed".into(),
            channels: vec!["ops".into(), "pager".into()],
            subject: None,
            body: "c1 failed".into(),
            traceparent: String::new(),
            tracestate: String::new(),
            created_at: Some(now),
            received_at: Some(now),
        }
    }

    #[test]
    fn a_request_decodes_with_its_position_and_empty_trace_fields_as_none() {
        let sent = request();
        let decoded = Request::decode(&record(&sent)).expect("decodes");
        assert_eq!((decoded.id.to_string(), decoded.rule_version, decoded.action_index), (sent.id.clone(), 3, 1));
        assert_eq!((decoded.partition, decoded.offset), (2, 7));
        assert_eq!(decoded.channels, ["ops", "pager"]);
        assert_eq!((decoded.traceparent, decoded.subject), (None, None));
    }

    #[test]
    fn what_could_not_be_recorded_is_refused_with_the_reason() {
        type Spoil = fn(&mut NotificationRequest);
        let cases: [(Spoil, &str); 6] = [
            (|r| r.id = "nope".into(), "`id`"),
            (|r| r.tenant_id = String::new(), "`tenant_id`"),
            (|r| r.channels.clear(), "0 channels"),
            (|r| r.channels = (0..6).map(|i| format!("c{i}")).collect(), "6 channels"),
            (|r| r.received_at = None, "`received_at`"),
            (|r| r.body = "a\0b".into(), "NUL"),
        ];
        for (spoil, expected) in cases {
            let mut r = request();
            spoil(&mut r);
            let error = Request::decode(&record(&r)).expect_err(expected);
            assert!(error.contains(expected), "{error}");
        }
        let garbage = Record { payload: Some(b"\xff\xff not protobuf".to_vec()), ..record(&request()) };
        assert!(Request::decode(&garbage).is_err());
        assert!(Request::decode(&Record { payload: None, ..record(&request()) }).is_err());
    }
}
