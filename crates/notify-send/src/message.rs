//! What is sent: the same for every attempt and every channel of a chain,
//! so a receiver sees one notification, however often it arrives.

use serde_json::{Value, json};

#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    /// The notification's id: `webhook-id`, the same on every retry and fallback.
    pub id: String,
    pub subject: Option<String>,
    pub body: String,
    /// The webhook payload's `type` and `timestamp` (RFC 3339) and `data`.
    pub event_type: String,
    pub timestamp: String,
    pub data: Value,
}

impl Message {
    /// The JSON body of a webhook (the Standard Webhooks payload shape).
    pub fn webhook_body(&self) -> Vec<u8> {
        let payload = json!({"type": self.event_type, "timestamp": self.timestamp, "data": self.data});
        serde_json::to_vec(&payload).unwrap_or_default()
    }

    /// Subject and body as one text, for chat providers.
    pub fn text(&self) -> String {
        match &self.subject {
            Some(subject) if !subject.is_empty() => format!("{subject}\n\n{}", self.body),
            _ => self.body.clone(),
        }
    }
}
