//! Dead letters: records a group can never process, kept byte for byte on
//! `signalops.dlq.v1` so they can be inspected and re-driven.
//!
//! A redrive (`signalctl dlq redrive`) appends the dead letter's value, the
//! `DeadLetter` message unchanged, to the redrive topic with the headers
//! `redrive_group` (the one group that applies it again) and
//! `redrive_source` (`<dlq partition>:<dlq offset>`, which makes a second
//! redrive of the same dead letter a no-op for that group).

use signalops_proto::{DeadLetter, Header, Message};

use super::{ErrorClass, Record};
use crate::kafka::{EventProducer, OutgoingRecord, ProduceError};

pub const HEADER_GROUP: &str = "dlq_group";
pub const HEADER_TOPIC: &str = "dlq_topic";
pub const HEADER_PARTITION: &str = "dlq_partition";
pub const HEADER_OFFSET: &str = "dlq_offset";
pub const HEADER_ERROR: &str = "dlq_error";
pub const HEADER_ERROR_CLASS: &str = "dlq_error_class";
pub const HEADER_REDRIVE_GROUP: &str = "redrive_group";
pub const HEADER_REDRIVE_SOURCE: &str = "redrive_source";

#[derive(Clone)]
pub struct DeadLetterSink {
    producer: EventProducer,
    topic: String,
}

impl DeadLetterSink {
    pub fn new(producer: EventProducer, topic: impl Into<String>) -> Self {
        Self { producer, topic: topic.into() }
    }

    /// Appends the dead letter and waits for the broker's acknowledgement, so
    /// the caller may advance past the record only once it is safe.
    pub async fn send(&self, group: &str, record: &Record, class: ErrorClass, error: &str) -> Result<(), ProduceError> {
        let letter = DeadLetter {
            group_id: group.to_owned(),
            topic: record.topic.clone(),
            partition: record.partition,
            offset: record.offset,
            original_key: record.key.clone().unwrap_or_default(),
            original_value: record.payload.clone().unwrap_or_default(),
            original_headers: record.headers.iter().map(|(key, value)| Header { key: key.clone(), value: value.clone() }).collect(),
            error: error.to_owned(),
            failed_at: Some(signalops_proto::time::to_timestamp(chrono::Utc::now())),
            error_class: class.as_str().to_owned(),
        };
        let headers = vec![
            (HEADER_GROUP.into(), group.as_bytes().to_vec()),
            (HEADER_TOPIC.into(), record.topic.as_bytes().to_vec()),
            (HEADER_PARTITION.into(), record.partition.to_string().into_bytes()),
            (HEADER_OFFSET.into(), record.offset.to_string().into_bytes()),
            (HEADER_ERROR.into(), error.as_bytes().to_vec()),
            (HEADER_ERROR_CLASS.into(), class.as_str().as_bytes().to_vec()),
        ];
        self.producer
            .send(OutgoingRecord { topic: self.topic.clone(), key: record.key.clone(), payload: letter.encode_to_vec(), headers })
            .await
            .map(|_| ())
    }
}
