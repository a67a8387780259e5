//! CloudEvents 1.0 in its three HTTP forms — structured
//! (`application/cloudevents+json`), batch (`application/cloudevents-batch+json`)
//! and binary (`ce-*` headers, body = data) — turned into the same
//! `EventInput` the plain JSON form uses. Data of any media type is kept as
//! bytes with its content type. Extension attributes (and `dataschema`)
//! travel as `ce_<name>` Kafka headers.

use actix_web::http::header::HeaderMap;
use base64::Engine as _;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use serde_json::value::RawValue;
use serde_json::{Map, Value};
pub use signalops_proto::content_type::is_json;

use super::event_input::EventInput;
use crate::problem::{ApiError, FieldError};

/// CloudEvents context attributes we map onto the envelope.
const CORE: &[&str] = &["specversion", "id", "source", "type", "subject", "time", "datacontenttype", "data", "data_base64"];

/// Binary data of a type that names no format of its own.
const OCTET_STREAM: &str = "application/octet-stream";

/// An event plus its extension attributes.
pub struct CloudEvent {
    pub input: EventInput,
    pub extensions: Vec<(String, Vec<u8>)>,
}

/// A structured-mode event (one JSON object, JSON event format). A `null`
/// attribute is unset. `data` is a JSON value when `datacontenttype` is
/// JSON (or absent) and a string of the declared type otherwise;
/// `data_base64` carries bytes and excludes `data`.
pub fn from_structured(object: &Map<String, Value>) -> Result<CloudEvent, ApiError> {
    let mut errors = Vec::new();
    let text = |name: &str, required: bool, errors: &mut Vec<FieldError>| -> Option<String> {
        match object.get(name) {
            Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
            None | Some(Value::Null) if !required => None,
            _ => {
                errors.push(FieldError::new(
                    name,
                    if required { "is required and must be a non-empty string" } else { "must be a non-empty string" },
                ));
                None
            }
        }
    };
    if object.get("specversion").and_then(Value::as_str) != Some("1.0") {
        errors.push(FieldError::new("specversion", "must be \"1.0\""));
    }
    let id = text("id", true, &mut errors);
    let source = text("source", true, &mut errors);
    let event_type = text("type", true, &mut errors);
    let subject = text("subject", false, &mut errors);
    let time = text("time", false, &mut errors);
    let content_type = text("datacontenttype", false, &mut errors);
    let (data, data_bytes) = data_of(object, content_type.as_deref(), &mut errors);
    let mut extensions = Vec::new();
    for (name, value) in object.iter().filter(|(name, value)| !CORE.contains(&name.as_str()) && !value.is_null()) {
        if !valid_extension_name(name) {
            errors.push(FieldError::new(
                name.clone(),
                "is not a CloudEvents attribute (extension names are 1-20 lowercase letters or digits)",
            ));
        } else {
            let value = match value {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            extensions.push((format!("ce_{name}"), value.into_bytes()));
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    // Bytes without a declared type are opaque.
    let data_content_type = content_type.or_else(|| data_bytes.is_some().then(|| OCTET_STREAM.to_owned()));
    let input = EventInput { event_type: event_type.unwrap_or_default(), id, source, subject, time, data, data_content_type, data_bytes };
    Ok(CloudEvent { input, extensions })
}

/// `data` or `data_base64`, read as the JSON event format says.
fn data_of(
    object: &Map<String, Value>,
    content_type: Option<&str>,
    errors: &mut Vec<FieldError>,
) -> (Option<Box<RawValue>>, Option<Vec<u8>>) {
    let declared_json = content_type.is_none_or(is_json);
    match (object.get("data"), object.get("data_base64").filter(|v| !v.is_null())) {
        (Some(_), Some(_)) => {
            errors.push(FieldError::new("data_base64", "data and data_base64 are mutually exclusive; send one"));
            (None, None)
        }
        (None, None) => (None, None),
        (None, Some(Value::String(encoded))) => match lenient_base64().decode(encoded.trim()) {
            Ok(bytes) => (None, Some(bytes)),
            Err(_) => {
                errors.push(FieldError::new("data_base64", "must be base64 (RFC 4648)"));
                (None, None)
            }
        },
        (None, Some(_)) => {
            errors.push(FieldError::new("data_base64", "must be a base64 string"));
            (None, None)
        }
        (Some(value), None) if declared_json => match RawValue::from_string(value.to_string()) {
            Ok(raw) => (Some(raw), None),
            Err(error) => {
                errors.push(FieldError::new("data", error.to_string()));
                (None, None)
            }
        },
        // A non-JSON type: data is the text of that type.
        (Some(Value::String(text)), None) => (None, Some(text.clone().into_bytes())),
        (Some(_), None) => {
            errors.push(FieldError::new("data", "must be a string when datacontenttype is not JSON (or send data_base64)"));
            (None, None)
        }
    }
}

/// Standard alphabet, with or without padding.
fn lenient_base64() -> GeneralPurpose {
    GeneralPurpose::new(&alphabet::STANDARD, GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent))
}

/// A binary-mode event (HTTP binding): attributes in `ce-*` headers
/// (percent-encoded UTF-8), the body is the data and `content-type` is its
/// `datacontenttype`.
pub fn from_binary(headers: &HeaderMap, content_type: &str, body: &[u8]) -> Result<CloudEvent, ApiError> {
    let mut object = Map::new();
    let mut errors = Vec::new();
    for (name, value) in headers {
        let Some(attribute) = name.as_str().strip_prefix("ce-") else { continue };
        if attribute == "datacontenttype" {
            errors.push(FieldError::new(name.as_str(), "must not be sent in binary mode: content-type is the datacontenttype"));
            continue;
        }
        match header_value(value.as_bytes()) {
            Some(value) => {
                object.insert(attribute.to_owned(), Value::String(value));
            }
            None => errors.push(FieldError::new(name.as_str(), "must be percent-encoded UTF-8")),
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let mut event = from_structured(&object).map_err(|error| match error {
        ApiError::Validation(errors) => {
            ApiError::Validation(errors.into_iter().map(|e| FieldError::new(header_name(&e.field), e.message)).collect())
        }
        other => other,
    })?;
    let content_type = content_type.trim();
    if !body.is_empty() || !content_type.is_empty() {
        event.input.data_content_type = Some(if content_type.is_empty() { OCTET_STREAM.to_owned() } else { content_type.to_owned() });
        event.input.data_bytes = Some(body.to_vec());
    }
    Ok(event)
}

/// A header value: quoted strings unescaped, then one round of percent-decoding.
fn header_value(raw: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(raw).ok()?.trim();
    let unquoted = match text.strip_prefix('"').and_then(|t| t.strip_suffix('"')) {
        Some(inner) => {
            let mut out = String::with_capacity(inner.len());
            let mut chars = inner.chars();
            while let Some(c) = chars.next() {
                out.push(if c == '\\' { chars.next()? } else { c });
            }
            out
        }
        None => text.to_owned(),
    };
    percent_encoding::percent_decode_str(&unquoted).decode_utf8().ok().map(|s| s.into_owned())
}

/// In binary mode the offending "field" is a header.
fn header_name(field: &str) -> String {
    match field {
        "data" | "datacontenttype" => "content-type".to_owned(),
        _ => format!("ce-{field}"),
    }
}

fn valid_extension_name(name: &str) -> bool {
    (1..=20).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn object(value: Value) -> Map<String, Value> {
        value.as_object().cloned().expect("object")
    }

    #[test]
    fn a_structured_event_maps_its_attributes_and_keeps_extensions() {
        let event = from_structured(&object(json!({
            "specversion": "1.0", "id": "e-1", "source": "/billing", "type": "invoice.paid",
            "subject": "invoice/1", "time": "2026-11-22T10:00:00Z", "data": {"amount": 1}, "traceid": "abc"
        })))
        .expect("valid");
        assert_eq!(event.input.id.as_deref(), Some("e-1"));
        assert_eq!(event.input.source.as_deref(), Some("/billing"));
        assert_eq!(event.input.data.as_ref().map(|d| d.get()), Some(r#"{"amount":1}"#));
        assert_eq!(event.extensions, vec![("ce_traceid".to_owned(), b"abc".to_vec())]);
    }

    #[test]
    fn missing_required_attributes_and_bad_extensions_are_named() {
        match from_structured(&object(json!({"specversion": "0.3", "type": "a.b", "Bad-Name": 1}))) {
            Err(ApiError::Validation(errors)) => {
                let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
                assert_eq!(fields, ["specversion", "id", "source", "Bad-Name"]);
            }
            other => panic!("{:?}", other.map(|_| ())),
        }
    }

    #[test]
    fn data_base64_is_bytes_and_excludes_data() {
        let base = json!({"specversion": "1.0", "id": "e", "source": "/s", "type": "a.b", "datacontenttype": "image/png"});
        let mut with_bytes = object(base.clone());
        with_bytes.insert("data_base64".into(), json!("AAEC/w=="));
        let event = from_structured(&with_bytes).expect("valid");
        assert_eq!(event.input.data_bytes.as_deref(), Some(&[0, 1, 2, 255][..]));
        assert_eq!(event.input.data_content_type.as_deref(), Some("image/png"));
        with_bytes.insert("data".into(), json!({"a": 1}));
        assert!(matches!(from_structured(&with_bytes), Err(ApiError::Validation(e)) if e[0].field == "data_base64"));
        let mut text = object(base);
        text.insert("datacontenttype".into(), json!("text/plain"));
        text.insert("data".into(), json!("hello"));
        assert_eq!(from_structured(&text).expect("valid").input.data_bytes.as_deref(), Some(&b"hello"[..]));
    }

    #[test]
    fn header_values_are_unquoted_and_percent_decoded() {
        assert_eq!(header_value(b"Euro%20%E2%82%AC%20%F0%9F%98%80").as_deref(), Some("Euro \u{20ac} \u{1f600}"));
        assert_eq!(header_value(br#""a \"b\"""#).as_deref(), Some("a \"b\""));
        assert_eq!(header_value(b"%C0%A0"), None, "overlong UTF-8 is refused");
    }
}
