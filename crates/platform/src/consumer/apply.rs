//! Applying one partition's batch: effect + next offset in one transaction,
//! retried on transient failure, with poison records moved to the DLQ.

use std::sync::Arc;
use std::time::{Duration, Instant};

use deadpool_postgres::Pool;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use super::{BatchHandler, DeadLetterSink, HandlerError, Record, offsets};
use crate::config::ConsumerSettings;
use crate::metrics;

pub(crate) struct Applier {
    pub(crate) settings: ConsumerSettings,
    pub(crate) pool: Pool,
    pub(crate) handler: Arc<dyn BatchHandler>,
    pub(crate) dead_letters: DeadLetterSink,
    pub(crate) shutdown: CancellationToken,
}

enum Attempt {
    Committed { applied: usize },
    Poison { index: usize, reason: String },
}

/// The batch could not be applied before the hard deadline; its offsets were
/// not advanced, so whoever owns the partition next applies it.
#[derive(Debug)]
pub(crate) struct Abandoned;

impl Applier {
    /// Applies `records` (one partition, offset order) and returns the next
    /// offset to commit to Kafka. Retries transient failures until they pass
    /// or `hard_deadline` (set once a drain has started) expires.
    pub(crate) async fn apply(&self, mut records: Vec<Record>, hard_deadline: Option<Instant>) -> Result<i64, Abandoned> {
        let Some(last) = records.last() else { return Err(Abandoned) };
        let (topic, partition, next) = (last.topic.clone(), last.partition, last.offset + 1);
        let group = self.settings.group_id.as_str();
        let span = tracing::info_span!("consumer.batch", group, topic = %topic, partition, first_offset = records[0].offset, records = records.len());
        // The batch continues the trace of its first record's producer; the
        // other records' contexts are attached as links.
        let _ = span.set_parent(records[0].parent_context());
        for record in records.iter().skip(1).take(32) {
            span.add_link(opentelemetry::trace::TraceContextExt::span(&record.parent_context()).span_context().clone());
        }
        async {
            let mut backoff = Duration::from_millis(self.settings.retry_initial_backoff_ms);
            loop {
                let started = Instant::now();
                match self.attempt(&topic, partition, &records, next).await {
                    Ok(Attempt::Committed { applied }) => {
                        let m = metrics::consumer();
                        m.records.with_label_values(&[group, &topic]).inc_by(applied as u64);
                        m.batch_size.with_label_values(&[group]).observe(applied as f64);
                        m.batch_seconds.with_label_values(&[group]).observe(started.elapsed().as_secs_f64());
                        return Ok(next);
                    }
                    Ok(Attempt::Poison { index, reason }) => {
                        let record = records.remove(index);
                        if let Err(error) = self.dead_letters.send(group, &record, super::ErrorClass::Poison, &reason).await {
                            tracing::warn!(%error, offset = record.offset, "dead-letter append failed; retrying");
                            records.insert(index, record);
                        } else {
                            tracing::warn!(offset = record.offset, reason, "record dead-lettered");
                            metrics::consumer().dead_letters.with_label_values(&[group, &topic]).inc();
                            continue;
                        }
                    }
                    Err(error) => {
                        metrics::consumer().transient_retries.with_label_values(&[group]).inc();
                        tracing::warn!(error = %format!("{error:#}"), backoff_ms = backoff.as_millis() as u64, "batch failed; retrying without advancing");
                    }
                }
                if hard_deadline.is_some_and(|d| Instant::now() + backoff > d) {
                    return Err(Abandoned);
                }
                tokio::select! {
                    () = tokio::time::sleep(backoff) => {}
                    // On shutdown keep trying until the drain deadline, but wake up promptly.
                    () = self.shutdown.cancelled(), if hard_deadline.is_none() => return Err(Abandoned),
                }
                backoff = (backoff * 2).min(Duration::from_millis(self.settings.retry_max_backoff_ms));
            }
        }
        .instrument(span)
        .await
    }

    async fn attempt(&self, topic: &str, partition: i32, records: &[Record], next: i64) -> anyhow::Result<Attempt> {
        let group = self.settings.group_id.as_str();
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        let stored = offsets::lock_next_offset(&tx, group, topic, partition).await?;
        if stored >= next {
            // Another member (or an earlier life of this one) already applied it.
            tx.rollback().await?;
            return Ok(Attempt::Committed { applied: 0 });
        }
        let skip = records.partition_point(|r| r.offset < stored);
        let fresh = &records[skip..];
        if !fresh.is_empty() {
            match self.handler.handle(&tx, fresh).await {
                Ok(()) => {}
                Err(HandlerError::Poison { index, reason }) => {
                    tx.rollback().await?;
                    return Ok(Attempt::Poison { index: skip + index.min(fresh.len() - 1), reason });
                }
                Err(HandlerError::Transient(error)) => return Err(error),
            }
        }
        offsets::store_next_offset(&tx, group, topic, partition, next).await?;
        tx.commit().await?;
        Ok(Attempt::Committed { applied: fresh.len() })
    }
}
