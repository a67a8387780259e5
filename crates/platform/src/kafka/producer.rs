//! The producer every service appends with: `acks=all`, idempotence on, so a
//! retried send never duplicates or reorders a partition's records. Records
//! are enqueued together and their deliveries awaited together; nothing on a
//! hot path waits for one record before sending the next.

use std::borrow::Cow;
use std::time::Duration;

use futures::future::join_all;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};

use super::client_config::base_client_config;
use crate::config::KafkaSettings;
use crate::trace_context;

/// Where Kafka durably appended a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delivered {
    pub partition: i32,
    pub offset: i64,
}

#[derive(Debug, Clone)]
pub struct OutgoingRecord {
    pub topic: String,
    pub key: Option<Vec<u8>>,
    pub payload: Vec<u8>,
    /// Header names are mostly constants, so they are borrowed when they can be.
    pub headers: Vec<(Cow<'static, str>, Vec<u8>)>,
}

#[derive(Debug, thiserror::Error)]
pub enum ProduceError {
    /// The broker did not acknowledge in time or is unreachable: retry later.
    #[error("kafka did not acknowledge the append: {0}")]
    Unavailable(KafkaError),
    /// The record itself can never be appended (too large, unknown topic).
    #[error("kafka rejected the record: {0}")]
    Rejected(KafkaError),
    #[error("kafka producer could not be created: {0}")]
    Create(KafkaError),
}

impl ProduceError {
    /// Whether this record can never be appended, however often it is
    /// retried (too large, invalid), unlike a topic that may yet be created
    /// or authorized.
    pub fn is_record_refused(&self) -> bool {
        let Self::Rejected(error) = self else { return false };
        matches!(error.rdkafka_error_code(), Some(RDKafkaErrorCode::MessageSizeTooLarge | RDKafkaErrorCode::InvalidRecord))
    }

    fn classify(error: KafkaError) -> Self {
        match error.rdkafka_error_code() {
            Some(
                RDKafkaErrorCode::MessageSizeTooLarge
                | RDKafkaErrorCode::UnknownTopicOrPartition
                | RDKafkaErrorCode::UnknownTopic
                | RDKafkaErrorCode::InvalidRecord
                | RDKafkaErrorCode::TopicAuthorizationFailed,
            ) => Self::Rejected(error),
            _ => Self::Unavailable(error),
        }
    }
}

#[derive(Clone)]
pub struct EventProducer {
    inner: FutureProducer,
    queue_timeout: Duration,
}

impl EventProducer {
    pub fn new(settings: &KafkaSettings, client_id: &str) -> Result<Self, ProduceError> {
        let mut config = base_client_config(settings, client_id);
        config
            .set("acks", "all")
            .set("enable.idempotence", "true")
            .set("compression.type", &settings.compression)
            .set("linger.ms", settings.linger_ms.to_string())
            .set("delivery.timeout.ms", settings.delivery_timeout_ms.to_string())
            .set("request.timeout.ms", settings.delivery_timeout_ms.min(30_000).to_string())
            .set("batch.num.messages", "10000")
            .set("queue.buffering.max.kbytes", "262144");
        let inner: FutureProducer = config.create().map_err(ProduceError::Create)?;
        Ok(Self { inner, queue_timeout: Duration::from_millis(u64::from(settings.delivery_timeout_ms)) })
    }

    /// Appends one record and waits for the broker's acknowledgement.
    pub async fn send(&self, record: OutgoingRecord) -> Result<Delivered, ProduceError> {
        self.send_all(vec![record]).await.pop().unwrap_or_else(|| Err(ProduceError::Unavailable(KafkaError::Canceled)))
    }

    /// Enqueues every record first, then awaits all acknowledgements; results
    /// are in input order. Each record carries the current trace context.
    pub async fn send_all(&self, records: Vec<OutgoingRecord>) -> Vec<Result<Delivered, ProduceError>> {
        let trace_headers = trace_context::current_trace_headers();
        let pending = records.iter().map(|record| self.enqueue(record, &trace_headers));
        let pending: Vec<_> = pending.collect();
        join_all(pending.into_iter().map(|p| async move {
            match p {
                Ok(future) => match future.await {
                    Ok(Ok(delivery)) => Ok(Delivered { partition: delivery.partition, offset: delivery.offset }),
                    Ok(Err((error, _))) => Err(ProduceError::classify(error)),
                    Err(_canceled) => Err(ProduceError::Unavailable(KafkaError::Canceled)),
                },
                Err(error) => Err(error),
            }
        }))
        .await
    }

    fn enqueue(
        &self,
        record: &OutgoingRecord,
        trace_headers: &[(String, String)],
    ) -> Result<rdkafka::producer::DeliveryFuture, ProduceError> {
        let mut headers = OwnedHeaders::new_with_capacity(record.headers.len() + trace_headers.len());
        for (key, value) in &record.headers {
            headers = headers.insert(Header { key, value: Some(value) });
        }
        for (key, value) in trace_headers {
            if !record.headers.iter().any(|(k, _)| k.eq_ignore_ascii_case(key)) {
                headers = headers.insert(Header { key, value: Some(value) });
            }
        }
        let mut future_record = FutureRecord::to(&record.topic).payload(&record.payload).headers(headers);
        if let Some(key) = &record.key {
            future_record = future_record.key(key);
        }
        // The local queue can be full under a burst: wait for room (bounded)
        // rather than failing the caller at once.
        let deadline = std::time::Instant::now() + self.queue_timeout;
        loop {
            match self.inner.send_result(future_record) {
                Ok(future) => return Ok(future),
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), returned)) if std::time::Instant::now() < deadline => {
                    self.inner.poll(Duration::from_millis(10));
                    future_record = returned;
                }
                Err((error, _)) => return Err(ProduceError::classify(error)),
            }
        }
    }

    /// Waits until every enqueued record is acknowledged (graceful shutdown).
    pub fn flush(&self, timeout: Duration) -> Result<(), ProduceError> {
        self.inner.flush(timeout).map_err(ProduceError::Unavailable)
    }

    pub fn client(&self) -> &FutureProducer {
        &self.inner
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn produce_error(code: RDKafkaErrorCode) -> ProduceError {
        ProduceError::classify(KafkaError::MessageProduction(code))
    }

    #[test]
    fn only_records_kafka_can_never_take_are_refused_for_good() {
        assert!(produce_error(RDKafkaErrorCode::MessageSizeTooLarge).is_record_refused());
        assert!(produce_error(RDKafkaErrorCode::InvalidRecord).is_record_refused());
        // A topic may yet be created or authorized; a broker may come back.
        for code in [
            RDKafkaErrorCode::UnknownTopicOrPartition,
            RDKafkaErrorCode::TopicAuthorizationFailed,
            RDKafkaErrorCode::MessageTimedOut,
            RDKafkaErrorCode::BrokerTransportFailure,
        ] {
            assert!(!produce_error(code).is_record_refused(), "{code:?}");
        }
    }
}
