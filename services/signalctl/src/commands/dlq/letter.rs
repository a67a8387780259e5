//! One record of the dead-letter topic, decoded as far as it goes: the
//! `DeadLetter` value when it decodes, the `dlq_*` headers otherwise, so a
//! damaged record is still listed (and never silently dropped).

use chrono::{DateTime, TimeZone as _, Utc};
use serde_json::{Value, json};
use signalops_platform::consumer::Record;
use signalops_platform::consumer::dead_letter::{
    HEADER_ERROR, HEADER_ERROR_CLASS, HEADER_GROUP, HEADER_OFFSET, HEADER_PARTITION, HEADER_TOPIC,
};
use signalops_proto::{DeadLetter, Message as _};

/// The class shown for dead letters written before classes existed.
pub const UNKNOWN_CLASS: &str = "unknown";

#[derive(Debug, Clone)]
pub struct Letter {
    /// The dead-letter record itself, byte for byte (redrive copies it).
    pub record: Record,
    /// The decoded value, or why it does not decode.
    pub decoded: Result<DeadLetter, String>,
    pub group: String,
    pub source_topic: String,
    pub source_partition: Option<i32>,
    pub source_offset: Option<i64>,
    pub error: String,
    pub error_class: String,
    /// The record key: the tenant id (empty when the record had none).
    pub tenant: String,
    pub at: Option<DateTime<Utc>>,
}

impl Letter {
    pub fn from_record(record: Record) -> Self {
        let decoded = DeadLetter::decode(record.payload_bytes()).map_err(|e| e.to_string());
        let header = |key: &str| record.header(key).map(str::to_owned);
        let (group, source_topic, source_partition, source_offset, error, class) = match &decoded {
            Ok(d) => (
                d.group_id.clone(),
                d.topic.clone(),
                Some(d.partition),
                Some(d.offset),
                d.error.clone(),
                Some(d.error_class.clone()).filter(|c| !c.is_empty()).or_else(|| header(HEADER_ERROR_CLASS)),
            ),
            Err(_) => (
                header(HEADER_GROUP).unwrap_or_default(),
                header(HEADER_TOPIC).unwrap_or_default(),
                header(HEADER_PARTITION).and_then(|p| p.parse().ok()),
                header(HEADER_OFFSET).and_then(|o| o.parse().ok()),
                header(HEADER_ERROR).unwrap_or_default(),
                header(HEADER_ERROR_CLASS),
            ),
        };
        let tenant = record.key.as_deref().map(|k| String::from_utf8_lossy(k).into_owned()).unwrap_or_default();
        let at = record.timestamp_ms.and_then(|ms| Utc.timestamp_millis_opt(ms).single());
        Self {
            decoded,
            group,
            source_topic,
            source_partition,
            source_offset,
            error,
            error_class: class.filter(|c| !c.is_empty()).unwrap_or_else(|| UNKNOWN_CLASS.to_owned()),
            tenant,
            at,
            record,
        }
    }

    /// `<dlq partition>:<dlq offset>`: how operators name a dead letter, and
    /// the `redrive_source` header of its redrives.
    pub fn position(&self) -> String {
        format!("{}:{}", self.record.partition, self.record.offset)
    }

    /// `<topic>:<partition>:<offset>` the record came from.
    pub fn source(&self) -> String {
        let dash = |v: Option<String>| v.unwrap_or_else(|| "-".to_owned());
        format!(
            "{}:{}:{}",
            if self.source_topic.is_empty() { "-" } else { &self.source_topic },
            dash(self.source_partition.map(|p| p.to_string())),
            dash(self.source_offset.map(|o| o.to_string()))
        )
    }

    /// (group, source topic, partition, offset) when the value decodes.
    pub fn source_key(&self) -> Option<super::scan::SourceKey> {
        self.decoded.as_ref().ok().map(|d| (d.group_id.clone(), d.topic.clone(), d.partition, d.offset))
    }

    pub fn at_text(&self) -> String {
        self.at.map_or_else(|| "-".to_owned(), |at| at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
    }

    pub fn summary_json(&self, redriven: bool) -> Value {
        json!({
            "partition": self.record.partition,
            "offset": self.record.offset,
            "position": self.position(),
            "at": self.at.map(|at| at.to_rfc3339()),
            "group": self.group,
            "source_topic": self.source_topic,
            "source_partition": self.source_partition,
            "source_offset": self.source_offset,
            "error_class": self.error_class,
            "error": self.error,
            "tenant": self.tenant,
            "decodes": self.decoded.is_ok(),
            "redriven": redriven,
        })
    }
}

/// Shortens `text` to `max` characters for a table cell.
pub fn clip(text: &str, max: usize) -> String {
    let single_line = text.replace(['\n', '\r'], " ");
    if single_line.chars().count() <= max {
        single_line
    } else {
        let mut clipped: String = single_line.chars().take(max.saturating_sub(1)).collect();
        clipped.push('…');
        clipped
    }
}

#[cfg(test)]
mod tests {
    use signalops_proto::Message as _;

    use super::*;

    fn record(payload: Vec<u8>, headers: Vec<(&str, &str)>) -> Record {
        Record {
            topic: "dlq".into(),
            partition: 2,
            offset: 7,
            key: Some(b"tenant-a".to_vec()),
            payload: Some(payload),
            headers: headers.into_iter().map(|(k, v)| (k.to_owned(), v.as_bytes().to_vec())).collect(),
            timestamp_ms: Some(1_700_000_000_000),
        }
    }

    #[test]
    fn a_dead_letter_without_a_class_is_unknown() {
        let letter = DeadLetter { group_id: "g".into(), topic: "events".into(), partition: 1, offset: 9, ..DeadLetter::default() };
        let letter = Letter::from_record(record(letter.encode_to_vec(), vec![]));
        assert_eq!((letter.error_class.as_str(), letter.group.as_str(), letter.tenant.as_str()), (UNKNOWN_CLASS, "g", "tenant-a"));
        assert_eq!((letter.position(), letter.source()), ("2:7".to_owned(), "events:1:9".to_owned()));
    }

    #[test]
    fn a_value_that_does_not_decode_falls_back_to_the_headers() {
        let letter = Letter::from_record(record(vec![0xff, 0xff, 0xff], vec![(HEADER_GROUP, "g2"), (HEADER_ERROR_CLASS, "poison")]));
        assert!(letter.decoded.is_err());
        assert_eq!((letter.group.as_str(), letter.error_class.as_str(), letter.source()), ("g2", "poison", "-:-:-".to_owned()));
    }

    #[test]
    fn clip_keeps_short_text_and_marks_cut_text() {
        assert_eq!(clip("abc", 5), "abc");
        assert_eq!(clip("abcdef\nx", 4), "abc…");
    }
}
