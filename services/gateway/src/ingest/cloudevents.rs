//! CloudEvents 1.0 in its three HTTP forms — structured
//! (`application/cloudevents+json`), batch (`application/cloudevents-batch+json`)
//! and binary (`ce-*` headers, body = data) — turned into the same
//! `EventInput` the plain JSON form uses. Extension attributes travel as
//! `ce_<name>` Kafka headers.

use actix_web::http::header::HeaderMap;
use serde_json::value::RawValue;
use serde_json::{Map, Value};
pub use signalops_proto::content_type::is_json;

use super::event_input::EventInput;
use crate::problem::{ApiError, FieldError};

/// CloudEvents context attributes we map onto the envelope.
const CORE: &[&str] = &["specversion", "id", "source", "type", "subject", "time", "datacontenttype", "data", "data_base64", "dataschema"];

/// An event plus its extension attributes.
pub struct CloudEvent {
    pub input: EventInput,
    pub extensions: Vec<(String, Vec<u8>)>,
}

/// A structured-mode event (one JSON object).
pub fn from_structured(object: &Map<String, Value>) -> Result<CloudEvent, ApiError> {
    let mut errors = Vec::new();
    let text = |name: &str, required: bool, errors: &mut Vec<FieldError>| -> Option<String> {
        match object.get(name) {
            Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
            None if !required => None,
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
    if let Some(content_type) = object.get("datacontenttype").and_then(Value::as_str)
        && !is_json(content_type)
    {
        errors.push(FieldError::new("datacontenttype", "only JSON data is accepted (application/json or +json)"));
    }
    if object.contains_key("data_base64") {
        errors.push(FieldError::new("data_base64", "binary data is not accepted; send JSON in data"));
    }
    let mut extensions = Vec::new();
    for (name, value) in object.iter().filter(|(name, _)| !CORE.contains(&name.as_str())) {
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
    let data = match object.get("data") {
        None => None,
        Some(value) => Some(RawValue::from_string(value.to_string()).map_err(|e| ApiError::Malformed(e.to_string()))?),
    };
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let input = EventInput { event_type: event_type.unwrap_or_default(), id, source, subject, time, data };
    Ok(CloudEvent { input, extensions })
}

/// A binary-mode event: attributes in `ce-*` headers, the body is the data.
pub fn from_binary(headers: &HeaderMap, content_type: &str, body: &[u8]) -> Result<CloudEvent, ApiError> {
    let mut object = Map::new();
    for (name, value) in headers {
        if let Some(attribute) = name.as_str().strip_prefix("ce-") {
            let value = value.to_str().map_err(|_| ApiError::field(name.as_str(), "must be ASCII"))?;
            object.insert(attribute.to_owned(), Value::String(value.to_owned()));
        }
    }
    if !is_json(content_type) {
        return Err(ApiError::UnsupportedMediaType(
            "binary-mode CloudEvents must carry JSON data (content-type application/json)".to_owned(),
        ));
    }
    let data: Value = crate::extract::json::parse(body)?;
    object.insert("data".to_owned(), data);
    from_structured(&object).map_err(|error| match error {
        ApiError::Validation(errors) => {
            ApiError::Validation(errors.into_iter().map(|e| FieldError::new(header_name(&e.field), e.message)).collect())
        }
        other => other,
    })
}

/// In binary mode the offending "field" is a header.
fn header_name(field: &str) -> String {
    if field == "data" { field.to_owned() } else { format!("ce-{field}") }
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
}
