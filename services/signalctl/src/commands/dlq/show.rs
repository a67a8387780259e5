//! `signalctl dlq show <partition:offset>`: one dead letter in full: where
//! it came from, the error, its headers and the original record, with the
//! `Event` envelope decoded when it decodes.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use clap::Args;
use serde_json::{Value, json};
use signalops_proto::content_type::is_json;
use signalops_proto::{Event, Message as _};

use super::Output;
use super::filter::{Filter, parse_position};
use super::letter::Letter;
use super::select::select;
use crate::CtlConfig;

/// Text output shows at most this much of a value that is not an event.
const TEXT_BYTES_SHOWN: usize = 1024;

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// The dead letter's position in the dead-letter topic, `PARTITION:OFFSET`
    /// (the POSITION column of `dlq list`).
    #[arg(value_name = "P:O", value_parser = parse_position)]
    pub position: (i32, i64),
}

pub async fn run(args: ShowArgs, output: Output) -> anyhow::Result<()> {
    let config = CtlConfig::load()?;
    let kafka = config.require_kafka()?.clone();
    let position = args.position;
    let selection = tokio::task::spawn_blocking(move || select(&kafka, &Filter::default(), &[position])).await??;
    let Some(letter) = selection.letters.first() else {
        anyhow::bail!("no dead letter at {}:{} on {}", position.0, position.1, config.kafka.topics.dlq)
    };
    let redriven = selection.is_redriven(letter);
    let mut value = letter.summary_json(redriven);
    value["headers"] = headers_json(&letter.record.headers);
    value["decode_error"] = json!(letter.decoded.as_ref().err());
    if let Ok(d) = &letter.decoded {
        value["failed_at"] = json!(d.failed_at.as_ref().and_then(signalops_proto::time::from_timestamp).map(|t| t.to_rfc3339()));
        value["original"] = json!({
            "key": String::from_utf8_lossy(&d.original_key),
            "headers": headers_json(&d.original_headers.iter().map(|h| (h.key.clone(), h.value.clone())).collect::<Vec<_>>()),
            "event": event_json(&d.original_value),
            "value_base64": BASE64.encode(&d.original_value),
        });
    }
    output.print(render(letter, redriven, &value), value);
    Ok(())
}

/// A header value as text when it is UTF-8, base64 otherwise.
fn header_value(value: &[u8]) -> Value {
    match std::str::from_utf8(value) {
        Ok(text) => json!(text),
        Err(_) => json!({"base64": BASE64.encode(value)}),
    }
}

fn headers_json(headers: &[(String, Vec<u8>)]) -> Value {
    json!(headers.iter().map(|(k, v)| json!({"key": k, "value": header_value(v)})).collect::<Vec<_>>())
}

/// The envelope, or why it does not decode.
fn event_json(bytes: &[u8]) -> Value {
    let event = match Event::decode(bytes) {
        Ok(event) => event,
        Err(error) => return json!({"decodes": false, "error": format!("not a protobuf signalops.v1.Event: {error}")}),
    };
    let data = if is_json(&event.data_content_type)
        && let Ok(parsed) = serde_json::from_slice::<Value>(&event.data)
    {
        json!({"json": parsed})
    } else if let Ok(text) = std::str::from_utf8(&event.data) {
        json!({"text": text})
    } else {
        json!({"base64": BASE64.encode(&event.data)})
    };
    json!({
        "decodes": true,
        // What a consumer would refuse in it (empty id or type, tenant not a UUID).
        "invalid": Event::decode_checked(bytes).err().map(|e| e.to_string()),
        "id": event.id,
        "tenant_id": event.tenant_id,
        "type": event.r#type,
        "source": event.source,
        "subject": event.subject,
        "time": event.time.as_ref().and_then(signalops_proto::time::from_timestamp).map(|t| t.to_rfc3339()),
        "received_at": event.received_at.as_ref().and_then(signalops_proto::time::from_timestamp).map(|t| t.to_rfc3339()),
        "data_content_type": event.data_content_type,
        "schema_version": event.schema_version,
        "data": data,
    })
}

fn render(letter: &Letter, redriven: bool, value: &Value) -> String {
    let text = |v: &Value| match v {
        Value::String(s) => s.clone(),
        Value::Null => "-".to_owned(),
        other => other.to_string(),
    };
    let mut lines = vec![
        format!("dead letter {}  (written {})", letter.position(), letter.at_text()),
        format!("  group        {}", letter.group),
        format!("  from         {}  (topic:partition:offset)", letter.source()),
        format!("  tenant       {}", if letter.tenant.is_empty() { "-" } else { &letter.tenant }),
        format!("  error class  {}", letter.error_class),
        format!("  error        {}", letter.error),
        format!("  failed at    {}", text(&value["failed_at"])),
        format!("  redriven     {}", if redriven { "yes (found on the redrive topic)" } else { "no" }),
        "  headers".to_owned(),
    ];
    for h in value["headers"].as_array().into_iter().flatten() {
        lines.push(format!("    {}: {}", text(&h["key"]), text(&h["value"])));
    }
    if let Err(error) = &letter.decoded {
        lines.push(format!("  the value is not a signalops.v1.DeadLetter: {error}"));
        return lines.join("\n");
    }
    let original = &value["original"];
    lines.push(format!("  original key  {}", text(&original["key"])));
    lines.push("  original headers".to_owned());
    for h in original["headers"].as_array().into_iter().flatten() {
        lines.push(format!("    {}: {}", text(&h["key"]), text(&h["value"])));
    }
    let event = &original["event"];
    if event["decodes"] == true {
        lines.push("  original event".to_owned());
        for field in ["id", "tenant_id", "type", "source", "subject", "time", "received_at", "data_content_type", "schema_version"] {
            lines.push(format!("    {field:<18} {}", text(&event[field])));
        }
        if !event["invalid"].is_null() {
            lines.push(format!("    (a consumer refuses it: {})", text(&event["invalid"])));
        }
        let data = &event["data"];
        let shown = if let Some(json) = data.get("json") {
            serde_json::to_string_pretty(json).unwrap_or_default()
        } else if let Some(t) = data.get("text") {
            text(t)
        } else {
            format!("(base64) {}", text(&data["base64"]))
        };
        lines.push("    data".to_owned());
        lines.extend(shown.lines().map(|l| format!("      {l}")));
    } else {
        lines.push(format!("  original value  {}", text(&event["error"])));
        let b64 = text(&original["value_base64"]);
        let clipped: String = b64.chars().take(TEXT_BYTES_SHOWN).collect();
        let more = if clipped.len() < b64.len() { " …(--json shows all)" } else { "" };
        lines.push(format!("    (base64) {clipped}{more}"));
    }
    lines.join("\n")
}
