//! Wire types of the SignalOps log and the helpers every producer and consumer
//! shares: the `Event` envelope, notification requests, dead letters,
//! timestamps, Kafka headers and the checks on event data.

pub mod content_type;
pub mod event_data;
pub mod headers;
pub mod json_text;
pub mod time;

/// Generated from `proto/signalops/v1/*.proto`.
pub mod v1 {
    #![allow(clippy::all, missing_docs)]
    include!(concat!(env!("OUT_DIR"), "/signalops.v1.rs"));
}

pub use prost::Message;
pub use prost_types::Timestamp;
pub use v1::{Causation, DeadLetter, DeliveryOutcome, Event, Header, NotificationRequest};

/// Version written into `Event.schema_version` by this build.
pub const ENVELOPE_SCHEMA_VERSION: u32 = 1;

/// Content type of a protobuf-encoded envelope, sent in the `content-type` header.
pub const ENVELOPE_CONTENT_TYPE: &str = "application/x-protobuf; messageType=signalops.v1.Event";

/// Content type of a record on the notifications topic.
pub const NOTIFICATION_CONTENT_TYPE: &str = "application/x-protobuf; messageType=signalops.v1.NotificationRequest";

/// Content type of a record on the deliveries topic.
pub const DELIVERY_OUTCOME_CONTENT_TYPE: &str = "application/x-protobuf; messageType=signalops.v1.DeliveryOutcome";

/// Why a record's bytes are not a valid envelope.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("record value is not a protobuf signalops.v1.Event: {0}")]
    Protobuf(#[from] prost::DecodeError),
    #[error("envelope field `{field}` is invalid: {reason}")]
    InvalidField { field: &'static str, reason: String },
}

impl Event {
    /// Decodes an envelope and checks the fields every consumer relies on.
    pub fn decode_checked(bytes: &[u8]) -> Result<Self, DecodeError> {
        let event = Self::decode(bytes)?;
        if uuid::Uuid::parse_str(&event.tenant_id).is_err() {
            return Err(DecodeError::InvalidField { field: "tenant_id", reason: format!("{:?} is not a UUID", event.tenant_id) });
        }
        if event.id.is_empty() {
            return Err(DecodeError::InvalidField { field: "id", reason: "empty".into() });
        }
        if event.r#type.is_empty() {
            return Err(DecodeError::InvalidField { field: "type", reason: "empty".into() });
        }
        Ok(event)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Event {
        Event {
            id: "0192f0c0-0000-7000-8000-000000000001".into(),
            tenant_id: "7f1c3b2a-5d4e-4f60-9a8b-0c1d2e3f4a5b".into(),
            r#type: "invoice.paid".into(),
            source: "/billing".into(),
            subject: "invoice/42".into(),
            time: Some(time::to_timestamp(chrono::Utc::now())),
            received_at: Some(time::to_timestamp(chrono::Utc::now())),
            data_content_type: "application/json".into(),
            data: br#"{"amount":42}"#.to_vec(),
            schema_version: ENVELOPE_SCHEMA_VERSION,
            causation: None,
        }
    }

    #[test]
    fn envelope_round_trips_through_protobuf() {
        let event = sample();
        let decoded = Event::decode_checked(&event.encode_to_vec()).expect("decodes");
        assert_eq!(decoded, event);
    }

    #[test]
    fn causation_round_trips_and_an_envelope_without_it_decodes_as_none() {
        let mut event = sample();
        assert_eq!(Event::decode_checked(&event.encode_to_vec()).expect("decodes").causation, None);
        event.causation = Some(Causation {
            root_event_id: "r".into(),
            source_event_id: "s".into(),
            rule_id: "0192f0c0-0000-7000-8000-000000000002".into(),
            depth: 2,
        });
        assert_eq!(Event::decode_checked(&event.encode_to_vec()).expect("decodes"), event);
    }

    #[test]
    fn garbage_bytes_are_a_decode_error_not_a_panic() {
        let err = Event::decode_checked(b"\xff\xff\xff not protobuf").expect_err("must fail");
        assert!(matches!(err, DecodeError::Protobuf(_)), "{err}");
    }

    #[test]
    fn envelope_without_tenant_is_rejected() {
        let mut event = sample();
        event.tenant_id = "not-a-uuid".into();
        let err = Event::decode_checked(&event.encode_to_vec()).expect_err("must fail");
        assert!(err.to_string().contains("tenant_id"), "{err}");
    }
}
