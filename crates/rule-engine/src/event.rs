//! The view of an event that rules read. It borrows from the caller's
//! decoded envelope, so evaluating a rule never copies the event.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use serde_json::Value;

use crate::causation::Causation;

/// An event as rules see it: the envelope fields and the decoded JSON data.
#[derive(Clone, Copy, Debug)]
pub struct Event<'a> {
    /// The envelope id.
    pub id: &'a str,
    /// The dotted event type, e.g. `payment.failed`.
    pub event_type: &'a str,
    /// The origin of the event (CloudEvents `source`).
    pub source: &'a str,
    /// What the event is about; `None` when the envelope has none.
    pub subject: Option<&'a str>,
    /// When it happened, as the client reported. The rules group and the
    /// API pass `received_at` when the client gave none; `None` is for
    /// callers with no such default.
    pub time: Option<DateTime<Utc>>,
    /// When the gateway accepted it. Windows and throttles run on this clock.
    pub received_at: DateTime<Utc>,
    /// The decoded JSON payload (`Value::Null` when the event has none).
    pub data: &'a Value,
    /// Set on derived events: which event and rule caused this one.
    pub causation: Option<&'a Causation>,
}

/// RFC 3339 with as many fraction digits as needed, always `Z`.
pub(crate) fn rfc3339(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// What templates see as `event`.
#[derive(Serialize)]
pub(crate) struct EventContext<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    event_type: &'a str,
    source: &'a str,
    subject: Option<&'a str>,
    time: Option<String>,
    received_at: String,
    data: &'a Value,
}

impl<'a> EventContext<'a> {
    pub(crate) fn new(event: &Event<'a>) -> Self {
        EventContext {
            id: event.id,
            event_type: event.event_type,
            source: event.source,
            subject: event.subject,
            time: event.time.as_ref().map(rfc3339),
            received_at: rfc3339(&event.received_at),
            data: event.data,
        }
    }
}
