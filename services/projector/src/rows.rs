//! From Kafka records to `events` rows: decode the envelope, check what the
//! read model needs, and say precisely why a record cannot be projected.

use chrono::{DateTime, Utc};
use signalops_platform::TenantId;
use signalops_platform::consumer::Record;
use signalops_proto::Event;
use signalops_proto::json_text::{self, Limits};

/// One row of the `events` read model.
#[derive(Debug, Clone, PartialEq)]
pub struct EventRow {
    pub tenant: TenantId,
    pub id: String,
    pub event_type: String,
    pub source: String,
    pub subject: Option<String>,
    pub time: DateTime<Utc>,
    pub received_at: DateTime<Utc>,
    pub data_content_type: String,
    /// JSON text; data of other media types is kept as a JSON object
    /// `{"base64": "…"}` so nothing the client sent is lost.
    pub data: String,
    pub schema_version: i32,
    pub partition: i32,
    pub offset: i64,
}

/// Why a record is poison for the projector (it goes to the dead-letter topic).
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum RowError {
    #[error("record has no value")]
    Empty,
    #[error("{0}")]
    Envelope(String),
    #[error("envelope field `{0}` is missing or out of range")]
    Field(&'static str),
    #[error("data declared as JSON is not valid JSON: {0}")]
    Data(String),
    #[error("envelope field `{0}` contains a NUL character, which Postgres text cannot store")]
    Nul(&'static str),
}

/// What `jsonb` stores: no `\u0000`, no lone surrogates, numbers within
/// `numeric`. Nesting is bounded well inside what Postgres parses with its
/// default 2 MB stack; the gateway itself accepts far less (64 levels).
const STORABLE: Limits = Limits { max_depth: 1_000, float_range: false };

/// Postgres timestamps start in 4713 BC; chrono reaches further back.
const EARLIEST_YEAR: i32 = -4712;

impl EventRow {
    pub fn from_record(record: &Record) -> Result<Self, RowError> {
        let payload = record.payload.as_deref().ok_or(RowError::Empty)?;
        let event = Event::decode_checked(payload).map_err(|e| RowError::Envelope(e.to_string()))?;
        let tenant: TenantId = event.tenant_id.parse().map_err(|_| RowError::Field("tenant_id"))?;
        let received_at =
            event.received_at.as_ref().and_then(signalops_proto::time::from_timestamp).ok_or(RowError::Field("received_at"))?;
        let time = event.time.as_ref().and_then(signalops_proto::time::from_timestamp).unwrap_or(received_at);
        let content_type = if event.data_content_type.is_empty() { "application/json".to_owned() } else { event.data_content_type.clone() };
        let data = data_as_json(&content_type, &event.data)?;
        for (field, value) in [("id", &event.id), ("type", &event.r#type), ("source", &event.source), ("subject", &event.subject)] {
            if value.contains('\0') {
                return Err(RowError::Nul(field));
            }
        }
        if content_type.contains('\0') {
            return Err(RowError::Nul("data_content_type"));
        }
        use chrono::Datelike as _;
        if time.year() < EARLIEST_YEAR {
            return Err(RowError::Field("time"));
        }
        Ok(Self {
            tenant,
            id: event.id,
            event_type: event.r#type,
            source: event.source,
            subject: Some(event.subject).filter(|s| !s.is_empty()),
            time,
            received_at,
            data_content_type: content_type,
            data,
            schema_version: i32::try_from(event.schema_version).map_err(|_| RowError::Field("schema_version"))?,
            partition: record.partition,
            offset: record.offset,
        })
    }
}

fn data_as_json(content_type: &str, data: &[u8]) -> Result<String, RowError> {
    use base64::Engine as _;
    if data.is_empty() {
        return Ok("null".to_owned());
    }
    if signalops_proto::content_type::is_json(content_type) {
        // Check what Postgres jsonb would refuse, to name the problem (and
        // never fail a whole batch on one record).
        let text = std::str::from_utf8(data).map_err(|e| RowError::Data(e.to_string()))?;
        let _: &serde_json::value::RawValue = serde_json::from_str(text).map_err(|e| RowError::Data(e.to_string()))?;
        json_text::check(data, STORABLE)
            .map_err(|refusal| RowError::Data(format!("{} {}", refusal.path, refusal.problem).trim().to_owned()))?;
        return Ok(text.to_owned());
    }
    Ok(serde_json::json!({ "base64": base64::engine::general_purpose::STANDARD.encode(data) }).to_string())
}

#[cfg(test)]
mod tests {
    use signalops_proto::Message as _;

    use super::*;

    fn record(event: &Event) -> Record {
        Record {
            topic: "t".into(),
            partition: 3,
            offset: 42,
            key: None,
            payload: Some(event.encode_to_vec()),
            headers: Vec::new(),
            timestamp_ms: None,
        }
    }

    fn event() -> Event {
        let now = signalops_proto::time::to_timestamp(Utc::now());
        Event {
            id: "e1".into(),
            tenant_id: uuid::Uuid::new_v4().to_string(),
            r#type: "invoice.paid".into(),
            source: "/billing".into(),
            time: Some(now),
            received_at: Some(now),
            data_content_type: "application/json".into(),
            data: br#"{"amount":42}"#.to_vec(),
            schema_version: 1,
            ..Event::default()
        }
    }

    #[test]
    fn a_valid_envelope_becomes_a_row_with_its_position() {
        let row = EventRow::from_record(&record(&event())).expect("row");
        assert_eq!((row.partition, row.offset, row.data.as_str(), row.subject), (3, 42, r#"{"amount":42}"#, None));
    }

    #[test]
    fn binary_data_is_kept_as_base64() {
        let mut event = event();
        event.data_content_type = "application/octet-stream".into();
        event.data = vec![0, 1, 2];
        assert_eq!(EventRow::from_record(&record(&event)).expect("row").data, r#"{"base64":"AAEC"}"#);
    }

    #[test]
    fn undecodable_records_and_broken_json_are_poison() {
        let mut garbage = record(&event());
        garbage.payload = Some(vec![0xff, 0xff, 0xff]);
        assert!(matches!(EventRow::from_record(&garbage), Err(RowError::Envelope(_))));
        let mut event = event();
        event.data = b"{not json".to_vec();
        assert!(matches!(EventRow::from_record(&record(&event)), Err(RowError::Data(_))));
        let mut nul = self::event();
        nul.data = br#"{"a":"\u0000"}"#.to_vec();
        assert!(matches!(EventRow::from_record(&record(&nul)), Err(RowError::Data(_))));
        let mut lone = self::event();
        lone.data = br#"["\ud800"]"#.to_vec();
        assert!(matches!(EventRow::from_record(&record(&lone)), Err(RowError::Data(_))));
    }

    #[test]
    fn what_jsonb_stores_is_projected_even_when_it_looks_like_a_nul() {
        for data in [&br#"{"a":"\\u0000"}"#[..], br#"{"deep":[[[[[[[[[[[[1]]]]]]]]]]]]}"#, b"1e400"] {
            let mut event = event();
            event.data = data.to_vec();
            assert!(EventRow::from_record(&record(&event)).is_ok(), "{}", String::from_utf8_lossy(data));
        }
    }
}
