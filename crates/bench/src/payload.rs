//! The records every scenario sends, so ceilings and gateway runs move the
//! same bytes: one event with ~300 bytes of JSON `data`.

use chrono::{SecondsFormat, Utc};
use serde_json::json;
use signalops_proto::{ENVELOPE_SCHEMA_VERSION, Event, Message as _};

/// Size of the `data` object in bytes: the record size the budget is stated for.
pub const DATA_BYTES: usize = 300;

/// A `data` object of exactly `DATA_BYTES` bytes (padded with a note).
pub fn data_json() -> String {
    let base = json!({"amount": 4200, "currency": "EUR", "customer": "cus_0123456789", "invoice": "inv_9876543210", "note": ""});
    let pad = DATA_BYTES.saturating_sub(base.to_string().len());
    let mut data = base;
    data["note"] = json!("x".repeat(pad));
    data.to_string()
}

/// One client event as JSON; without an id the gateway assigns one. The time
/// is explicit so that a repeat of the same text is a true duplicate (same
/// content), not an id conflict.
pub fn event_json(id: Option<&str>, data: &str) -> String {
    let time = Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true);
    let id = id.map(|id| format!(r#""id":"{id}","#)).unwrap_or_default();
    format!(r#"{{"type":"invoice.paid",{id}"source":"/bench","time":"{time}","data":{data}}}"#)
}

/// A JSON array body from already-serialised events.
pub fn batch_body(events: &[String]) -> String {
    format!("[{}]", events.join(","))
}

/// The envelope the gateway would produce for `event_json`, for the raw
/// producer ceiling.
pub fn envelope(tenant: &str, data: &str) -> Event {
    let now = Utc::now();
    Event {
        id: uuid::Uuid::now_v7().to_string(),
        tenant_id: tenant.to_owned(),
        r#type: "invoice.paid".to_owned(),
        source: "/bench".to_owned(),
        subject: String::new(),
        time: Some(signalops_proto::time::to_timestamp(now)),
        received_at: Some(signalops_proto::time::to_timestamp(now)),
        data_content_type: "application/json".to_owned(),
        data: data.as_bytes().to_vec(),
        schema_version: ENVELOPE_SCHEMA_VERSION,
        causation: None,
    }
}

/// Encoded size of an envelope (reported so record sizes can be compared).
pub fn envelope_len(event: &Event) -> usize {
    event.encoded_len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_has_the_target_size_and_events_are_json() {
        let data = data_json();
        assert_eq!(data.len(), DATA_BYTES);
        let event: serde_json::Value = serde_json::from_str(&event_json(Some("a"), &data)).expect("json");
        assert_eq!(event["data"]["amount"], 4200);
        let batch: serde_json::Value =
            serde_json::from_str(&batch_body(&[event_json(Some("a"), &data), event_json(None, &data)])).expect("json");
        assert_eq!(batch.as_array().map(Vec::len), Some(2));
    }
}
