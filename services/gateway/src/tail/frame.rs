//! Turning an envelope into one SSE frame. Pure, so the wire format is
//! unit-tested without a broker.

use serde_json::{Value, json};
use signalops_platform::TenantId;
use signalops_proto::Event;

/// The comment line sent when nothing else was, so proxies and clients keep
/// an idle connection open.
pub const HEARTBEAT: &[u8] = b": keep-alive\n\n";

/// The `event:` name of the last frame of a stream the gateway ended. The
/// colon keeps it apart from every event type (`^[a-z0-9]+([._-][a-z0-9]+)*$`).
pub const CLOSED_EVENT: &str = "signalops:stream-closed";

/// The last frame of a stream whose credential stopped being valid. It has
/// no `id:`, so the client's `Last-Event-ID` stays at the last real event.
pub fn closed_frame(reason: &str, detail: &str) -> String {
    let body = json!({ "reason": reason, "detail": detail });
    format!("event: {CLOSED_EVENT}\ndata: {body}\n\n")
}

/// The frame for `event`, or `None` when the event is not the tenant's.
/// This check, not the record key, is what keeps tenants apart.
pub fn event_frame(event: &Event, tenant: TenantId, partition: i32, offset: i64) -> Option<String> {
    if event.tenant_id != tenant.to_string() {
        return None;
    }
    let body = json!({
        "id": event.id,
        "type": event.r#type,
        "source": event.source,
        "subject": (!event.subject.is_empty()).then_some(&event.subject),
        "time": event.time.as_ref().and_then(signalops_proto::time::from_timestamp),
        "received_at": event.received_at.as_ref().and_then(signalops_proto::time::from_timestamp),
        "partition": partition,
        "offset": offset,
        "data": data_value(&event.data),
    });
    // serde_json escapes control characters, so `data:` stays one line; the
    // type is validated at ingest but a newline there would end the field.
    let event_type: String = event.r#type.chars().filter(|c| *c != '\n' && *c != '\r').collect();
    Some(format!("id: {partition}:{offset}\nevent: {event_type}\ndata: {body}\n\n"))
}

/// The payload as JSON; ingest only accepts JSON, so the string fallback is
/// for records written by something else.
fn data_value(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(bytes).into_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(tenant: TenantId) -> Event {
        Event {
            id: "01J0000000000000000000000".into(),
            tenant_id: tenant.to_string(),
            r#type: "invoice.paid".into(),
            source: "/billing".into(),
            data: br#"{"amount":12}"#.to_vec(),
            ..Event::default()
        }
    }

    #[test]
    fn a_frame_has_id_event_and_one_data_line() {
        let tenant = TenantId::new();
        let frame = event_frame(&event(tenant), tenant, 2, 55).expect("own tenant");
        let lines: Vec<&str> = frame.trim_end().lines().collect();
        assert_eq!(lines[0], "id: 2:55");
        assert_eq!(lines[1], "event: invoice.paid");
        assert_eq!(lines.len(), 3, "{frame}");
        let data: Value = serde_json::from_str(lines[2].strip_prefix("data: ").expect("data")).expect("json");
        assert_eq!(data["data"], json!({"amount": 12}));
        assert_eq!((data["partition"].clone(), data["offset"].clone()), (json!(2), json!(55)));
        assert!(frame.ends_with("\n\n"));
    }

    #[test]
    fn the_closing_frame_names_its_reason_and_has_no_id() {
        let frame = closed_frame("api-key-revoked", "the API key was revoked");
        assert_eq!(
            frame,
            "event: signalops:stream-closed\ndata: {\"detail\":\"the API key was revoked\",\"reason\":\"api-key-revoked\"}\n\n"
        );
        assert!(!crate::ingest::event_input::valid_type(CLOSED_EVENT), "no event type can look like it");
    }

    #[test]
    fn another_tenants_event_never_becomes_a_frame() {
        assert!(event_frame(&event(TenantId::new()), TenantId::new(), 0, 0).is_none());
    }
}
