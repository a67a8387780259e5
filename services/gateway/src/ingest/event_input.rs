//! The JSON event a client sends, validated into an envelope.

use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;
use serde_json::value::RawValue;
use signalops_platform::TenantId;
use signalops_proto::{ENVELOPE_SCHEMA_VERSION, Event};
use utoipa::ToSchema;

use crate::problem::{ApiError, FieldError};

pub const MAX_TYPE_LENGTH: usize = 128;
pub const MAX_DATA_BYTES: usize = 64 * 1024;
/// Client clocks drift; events from the far future or past are mistakes.
const MAX_FUTURE: Duration = Duration::hours(24);
const MAX_PAST: Duration = Duration::days(366);

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EventInput {
    /// Dotted lowercase type, e.g. `invoice.paid` (`^[a-z0-9]+([._-][a-z0-9]+)*$`, ≤ 128).
    #[serde(rename = "type")]
    pub event_type: String,
    /// Client-chosen id; a UUIDv7 is assigned when absent.
    pub id: Option<String>,
    pub source: Option<String>,
    pub subject: Option<String>,
    /// RFC 3339; defaults to the time of receipt.
    pub time: Option<String>,
    /// The payload (any JSON). `payload` is accepted as an alias.
    #[schema(value_type = Object)]
    #[serde(alias = "payload")]
    pub data: Option<Box<RawValue>>,
}

pub fn valid_type(event_type: &str) -> bool {
    !event_type.is_empty()
        && event_type.len() <= MAX_TYPE_LENGTH
        && event_type
            .split(['.', '_', '-'])
            .all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()))
}

impl EventInput {
    /// Validates every field (all problems at once) and builds the envelope.
    /// `default_source` names the sender when the client gave no `source`
    /// (CloudEvents requires one).
    pub fn into_envelope(self, tenant: TenantId, received_at: DateTime<Utc>, default_source: &str) -> Result<Event, ApiError> {
        let mut errors = Vec::new();
        if !valid_type(&self.event_type) {
            errors.push(FieldError::new("type", "must match ^[a-z0-9]+([._-][a-z0-9]+)*$ and be at most 128 characters"));
        }
        if let Some(id) = &self.id
            && (id.is_empty() || id.len() > 128 || !id.bytes().all(|b| b.is_ascii_graphic()))
        {
            errors.push(FieldError::new("id", "must be 1-128 printable ASCII characters"));
        }
        if self.source.as_ref().is_some_and(|s| s.len() > 256) {
            errors.push(FieldError::new("source", "must be at most 256 characters"));
        }
        if self.subject.as_ref().is_some_and(|s| s.len() > 256) {
            errors.push(FieldError::new("subject", "must be at most 256 characters"));
        }
        let time = match self.time.as_deref().map(DateTime::parse_from_rfc3339) {
            None => Some(received_at),
            Some(Ok(at)) => {
                let at = at.with_timezone(&Utc);
                if at > received_at + MAX_FUTURE || at < received_at - MAX_PAST {
                    errors.push(FieldError::new("time", "must be within a year before and a day after now"));
                }
                Some(at)
            }
            Some(Err(_)) => {
                errors.push(FieldError::new("time", "must be an RFC 3339 timestamp, e.g. 2026-11-22T10:00:00Z"));
                None
            }
        };
        let data = self.data.map(|raw| raw.get().as_bytes().to_vec()).unwrap_or_else(|| b"null".to_vec());
        if data.len() > MAX_DATA_BYTES {
            errors.push(FieldError::new("data", format!("must be at most {MAX_DATA_BYTES} bytes")));
        }
        if !errors.is_empty() {
            return Err(ApiError::Validation(errors));
        }
        Ok(Event {
            id: self.id.unwrap_or_else(|| uuid::Uuid::now_v7().to_string()),
            tenant_id: tenant.to_string(),
            r#type: self.event_type,
            source: self.source.filter(|s| !s.is_empty()).unwrap_or_else(|| default_source.to_owned()),
            subject: self.subject.unwrap_or_default(),
            time: time.map(signalops_proto::time::to_timestamp),
            received_at: Some(signalops_proto::time::to_timestamp(received_at)),
            data_content_type: "application/json".to_owned(),
            data,
            schema_version: ENVELOPE_SCHEMA_VERSION,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_types_follow_the_dotted_lowercase_form() {
        for good in ["invoice.paid", "user.signed_up", "a", "payment-failed.v2"] {
            assert!(valid_type(good), "{good}");
        }
        for bad in ["", "Invoice.paid", "invoice..paid", ".paid", "paid.", "in voice", "x".repeat(129).as_str(), "é.t"] {
            assert!(!valid_type(bad), "{bad}");
        }
    }

    #[test]
    fn every_invalid_field_is_reported_at_once() {
        let input: EventInput = serde_json::from_str(r#"{"type": "Bad Type", "time": "yesterday", "id": ""}"#).expect("json");
        match input.into_envelope(TenantId::new(), Utc::now(), "/test") {
            Err(ApiError::Validation(errors)) => {
                let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
                assert_eq!(fields, ["type", "id", "time"]);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn payload_is_an_alias_of_data_and_bytes_are_kept_as_sent() {
        // Through the gateway's own body parser, as requests are.
        let input: EventInput =
            crate::extract::json::parse(br#"{"type": "invoice.paid", "payload": {"amount": 4200, "currency": "EUR"}}"#).expect("json");
        let event = input.into_envelope(TenantId::new(), Utc::now(), "/test").expect("valid");
        assert_eq!(event.data, br#"{"amount": 4200, "currency": "EUR"}"#);
        assert!(uuid::Uuid::parse_str(&event.id).is_ok(), "a UUIDv7 was assigned");
    }

    #[test]
    fn times_far_from_now_are_refused() {
        let now = Utc::now();
        for time in [(now + Duration::days(3)).to_rfc3339(), (now - Duration::days(800)).to_rfc3339()] {
            let input = EventInput { event_type: "a.b".into(), id: None, source: None, subject: None, time: Some(time), data: None };
            assert!(input.into_envelope(TenantId::new(), now, "/test").is_err());
        }
    }
}
