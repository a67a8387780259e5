//! The JSON event a client sends, validated into an envelope.

use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;
use serde_json::value::RawValue;
use signalops_platform::TenantId;
use signalops_proto::{ENVELOPE_SCHEMA_VERSION, Event};
use utoipa::ToSchema;

use signalops_proto::content_type::is_json;
use signalops_proto::event_data::DATA_LIMITS;
pub use signalops_proto::event_data::{MAX_DATA_BYTES, MAX_DATA_DEPTH, MAX_TYPE_LENGTH, valid_type};
use signalops_proto::json_text;

use crate::problem::{ApiError, FieldError};

/// `source` and `subject`, in bytes of UTF-8.
pub const MAX_TEXT_BYTES: usize = 256;
pub const MAX_CONTENT_TYPE_BYTES: usize = 128;
/// Client clocks drift; events from the far future or past are mistakes.
const MAX_FUTURE: Duration = Duration::hours(24);
const MAX_PAST: Duration = Duration::days(366);

#[derive(Debug, Default, Deserialize, ToSchema)]
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
    /// CloudEvents `datacontenttype`; JSON when absent.
    #[serde(skip)]
    #[schema(ignore)]
    pub data_content_type: Option<String>,
    /// Data as bytes (CloudEvents binary mode, `data_base64`, or the string
    /// `data` of a non-JSON type); when set, `data` is not used.
    #[serde(skip)]
    #[schema(ignore)]
    pub data_bytes: Option<Vec<u8>>,
}

/// Client ids: 1-128 printable ASCII characters (generated ids are UUIDs).
pub fn valid_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 128 && id.bytes().all(|b| b.is_ascii_graphic())
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
            && !valid_id(id)
        {
            errors.push(FieldError::new("id", "must be 1-128 printable ASCII characters"));
        }
        for (field, value) in [("source", &self.source), ("subject", &self.subject)] {
            if let Some(message) = value.as_deref().and_then(text_problem) {
                errors.push(FieldError::new(field, message));
            }
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
        let content_type = match self.data_content_type {
            Some(content_type) if !valid_media_type(&content_type) => {
                errors.push(FieldError::new(
                    "datacontenttype",
                    "must be a media type such as application/json (type/subtype, printable ASCII, at most 128 bytes)",
                ));
                content_type
            }
            Some(content_type) => content_type,
            None => "application/json".to_owned(),
        };
        // Bytes have not been parsed as JSON yet; `data` was, by the body parser.
        let parsed = self.data_bytes.is_none();
        let data = match (self.data_bytes, self.data) {
            (Some(bytes), _) => bytes,
            (None, Some(raw)) => raw.get().as_bytes().to_vec(),
            (None, None) => b"null".to_vec(),
        };
        if data.len() > MAX_DATA_BYTES {
            errors.push(FieldError::new("data", format!("must be at most {MAX_DATA_BYTES} bytes")));
        } else if is_json(&content_type)
            && let Err(message) = check_json_data(&data, parsed)
        {
            errors.push(FieldError::new("data", message));
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
            data_content_type: content_type,
            data,
            schema_version: ENVELOPE_SCHEMA_VERSION,
            causation: None,
        })
    }
}

/// Why a `source` or `subject` cannot be stored and read back as sent:
/// too long, or a control character (CloudEvents forbids U+0000–U+001F and
/// U+007F–U+009F in attributes; Postgres text cannot hold NUL at all).
fn text_problem(value: &str) -> Option<String> {
    if value.len() > MAX_TEXT_BYTES {
        Some(format!("must be at most {MAX_TEXT_BYTES} bytes of UTF-8"))
    } else if value.chars().any(|c| c.is_control()) {
        Some("must not contain control characters (U+0000-U+001F, U+007F-U+009F)".to_owned())
    } else {
        None
    }
}

/// `type/subtype` with optional `; parameters`, printable ASCII.
pub fn valid_media_type(value: &str) -> bool {
    let media = value.split(';').next().unwrap_or("").trim();
    let token = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$&-^_.+".contains(&b));
    value.len() <= MAX_CONTENT_TYPE_BYTES
        && value.bytes().all(|b| b == b' ' || b.is_ascii_graphic())
        && media.split_once('/').is_some_and(|(kind, sub)| token(kind) && token(sub))
}

/// JSON data must parse and pass what every reader can take.
fn check_json_data(data: &[u8], parsed: bool) -> Result<(), String> {
    if !parsed {
        let text = std::str::from_utf8(data).map_err(|_| "is declared as JSON but is not UTF-8".to_owned())?;
        let _: &RawValue = serde_json::from_str(text).map_err(|e| format!("is declared as JSON but is not valid JSON: {e}"))?;
    }
    json_text::check(data, DATA_LIMITS).map_err(|refusal| {
        if refusal.path.is_empty() || matches!(refusal.problem, json_text::Problem::TooDeep { .. }) {
            refusal.problem.to_string()
        } else {
            format!("{} (at {})", refusal.problem, refusal.path)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn data_every_reader_cannot_take_and_control_characters_are_refused_by_field() {
        let deep = format!("{{\"type\": \"a.b\", \"subject\": \"x\\u0000\", \"data\": {}1{}}}", "[".repeat(200), "]".repeat(200));
        let input: EventInput = crate::extract::json::parse(deep.as_bytes()).expect("json");
        match input.into_envelope(TenantId::new(), Utc::now(), "/test") {
            Err(ApiError::Validation(errors)) => {
                let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
                assert_eq!(fields, ["subject", "data"], "{errors:?}");
            }
            other => panic!("{other:?}"),
        }
        let at_limit = format!("{{\"type\": \"a.b\", \"data\": {}1{}}}", "[".repeat(64), "]".repeat(64));
        let input: EventInput = crate::extract::json::parse(at_limit.as_bytes()).expect("json");
        assert!(input.into_envelope(TenantId::new(), Utc::now(), "/test").is_ok());
    }

    #[test]
    fn times_far_from_now_are_refused() {
        let now = Utc::now();
        for time in [(now + Duration::days(3)).to_rfc3339(), (now - Duration::days(800)).to_rfc3339()] {
            let input = EventInput { event_type: "a.b".into(), time: Some(time), ..EventInput::default() };
            assert!(input.into_envelope(TenantId::new(), now, "/test").is_err());
        }
    }
}
