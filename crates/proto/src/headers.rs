//! Kafka headers carried by every envelope record.
//!
//! Tools route on these without decoding the protobuf value: `content-type`
//! names the value's encoding, `traceparent`/`tracestate` carry W3C trace
//! context, and `ce_*` are the CloudEvents Kafka binding attributes.

use crate::{ENVELOPE_CONTENT_TYPE, Event, time};

pub const CONTENT_TYPE: &str = "content-type";
pub const TRACEPARENT: &str = "traceparent";
pub const TRACESTATE: &str = "tracestate";
pub const CE_SPECVERSION: &str = "ce_specversion";
pub const CE_ID: &str = "ce_id";
pub const CE_TYPE: &str = "ce_type";
pub const CE_SOURCE: &str = "ce_source";
pub const CE_SUBJECT: &str = "ce_subject";
pub const CE_TIME: &str = "ce_time";
pub const CE_TENANT: &str = "ce_tenantid";

/// The routing headers for an envelope (trace headers are added by the
/// producer, which owns the current span).
pub fn envelope_headers(event: &Event) -> Vec<(&'static str, Vec<u8>)> {
    let mut headers = vec![
        (CONTENT_TYPE, ENVELOPE_CONTENT_TYPE.as_bytes().to_vec()),
        (CE_SPECVERSION, b"1.0".to_vec()),
        (CE_ID, event.id.as_bytes().to_vec()),
        (CE_TYPE, event.r#type.as_bytes().to_vec()),
        (CE_SOURCE, event.source.as_bytes().to_vec()),
        (CE_TENANT, event.tenant_id.as_bytes().to_vec()),
    ];
    if !event.subject.is_empty() {
        headers.push((CE_SUBJECT, event.subject.as_bytes().to_vec()));
    }
    if let Some(at) = event.time.as_ref().and_then(time::from_timestamp) {
        headers.push((CE_TIME, at.to_rfc3339().into_bytes()));
    }
    headers
}

/// Finds a header value as UTF-8 in a list of `(key, value)` pairs.
pub fn find<'a, K: AsRef<str>>(headers: &'a [(K, Vec<u8>)], key: &str) -> Option<&'a str> {
    headers.iter().find(|(k, _)| k.as_ref().eq_ignore_ascii_case(key)).and_then(|(_, v)| std::str::from_utf8(v).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_headers_name_type_tenant_and_content_type() {
        let event =
            Event { id: "e1".into(), tenant_id: "t1".into(), r#type: "user.signed_up".into(), source: "/auth".into(), ..Event::default() };
        let headers = envelope_headers(&event);
        assert_eq!(find(&headers, CE_TYPE), Some("user.signed_up"));
        assert_eq!(find(&headers, CE_TENANT), Some("t1"));
        assert_eq!(find(&headers, CONTENT_TYPE), Some(ENVELOPE_CONTENT_TYPE));
        assert_eq!(find(&headers, CE_SUBJECT), None, "empty subject is omitted");
    }
}
