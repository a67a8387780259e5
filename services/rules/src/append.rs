//! Appends what new firings produced, from inside the batch's transaction,
//! before the runtime commits it: derived events to the events topic,
//! notification requests to the notifications topic, keyed by tenant, with
//! the source record's trace context (ADR 0028).
//!
//! The batch commits only after Kafka acknowledged every record, so nothing
//! is lost. A batch that fails after its append (its commit, a later
//! tenant) is applied again and appends the same records with the same ids:
//! delivery is at-least-once, and consumers deduplicate by id (the notifier
//! records each notification id once, the read model each event id once).

use std::borrow::Cow;

use signalops_platform::TenantId;
use signalops_platform::consumer::{ErrorClass, HandlerError};
use signalops_platform::kafka::{EventProducer, OutgoingRecord, ProduceError};
use signalops_proto::headers::{TRACEPARENT, TRACESTATE};

use crate::metrics;
use crate::staging::{KIND_EVENT, KIND_NOTIFICATION, Staged};

/// Where and how the rules group appends.
pub struct Appender {
    producer: EventProducer,
    events_topic: String,
    notifications_topic: String,
}

/// The records of one batch, ready to append.
#[derive(Default)]
pub struct Outgoing {
    records: Vec<OutgoingRecord>,
    kinds: Vec<&'static str>,
}

impl Outgoing {
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }
}

impl Appender {
    pub fn new(producer: EventProducer, events_topic: String, notifications_topic: String) -> Self {
        Self { producer, events_topic, notifications_topic }
    }

    /// Adds one staged record of `tenant` to `outgoing`.
    pub fn push(&self, outgoing: &mut Outgoing, tenant: TenantId, staged: Staged) {
        let topic = if staged.kind == KIND_EVENT { &self.events_topic } else { &self.notifications_topic };
        let mut headers: Vec<(Cow<'static, str>, Vec<u8>)> = staged.headers.into_iter().map(|(k, v)| (k.into(), v)).collect();
        for (key, value) in [(TRACEPARENT, staged.traceparent), (TRACESTATE, staged.tracestate)] {
            if let Some(value) = value {
                headers.push((key.into(), value.into_bytes()));
            }
        }
        outgoing.kinds.push(if staged.kind == KIND_EVENT { KIND_EVENT } else { KIND_NOTIFICATION });
        outgoing.records.push(OutgoingRecord {
            topic: topic.clone(),
            key: Some(tenant.to_string().into_bytes()),
            payload: staged.payload,
            headers,
        });
    }

    /// Appends every record and waits for Kafka's acknowledgements. A record
    /// Kafka can never take (too large, invalid) makes the batch permanent,
    /// so the runtime finds the source event by bisection and dead-letters
    /// it; anything else (the broker away, a topic missing) is retried.
    pub async fn append(&self, outgoing: Outgoing) -> Result<(), HandlerError> {
        if outgoing.is_empty() {
            return Ok(());
        }
        let total = outgoing.records.len();
        let results = self.producer.send_all(outgoing.records).await;
        let m = metrics::rules();
        let mut failed = Vec::new();
        for (kind, result) in outgoing.kinds.iter().zip(results) {
            match result {
                Ok(_) => m.appended.with_label_values(&[kind]).inc(),
                Err(error) => failed.push(error),
            }
        }
        let Some(first) = failed.first() else { return Ok(()) };
        if failed.iter().any(ProduceError::is_record_refused) {
            return Err(HandlerError::Permanent {
                class: ErrorClass::Poison,
                reason: format!("kafka can never append a record this batch's firings produce: {first}"),
            });
        }
        Err(HandlerError::Transient(anyhow::anyhow!("{} of {total} records were not acknowledged: {first}", failed.len())))
    }
}
