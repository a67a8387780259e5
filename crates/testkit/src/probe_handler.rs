//! A consumer handler for tests: one row per record, so "exactly once" can
//! be checked by counting (a record applied twice shows as two rows).
//! Payloads starting with `poison` are declared poison, payloads starting
//! with `panic` make it panic, payloads starting with `refuse` are declared
//! poison while the handler's refusal flag is set (a cause an operator can
//! fix), payloads starting with `misindex` are declared poison at an index
//! past the end of the batch (a handler's bug the runtime must not trust),
//! and the first `transient_failures` batches fail transiently.
//! Database errors go back to the runtime as they are.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use async_trait::async_trait;
use deadpool_postgres::Transaction;
use signalops_platform::consumer::{BatchHandler, HandlerError, Record};
use signalops_platform::trace_context;

/// Create with the owner role, then grant to the application role.
pub const PROBE_TABLE_SQL: &str = "
    CREATE TABLE IF NOT EXISTS probe_rows (
        topic text NOT NULL, partition integer NOT NULL, kafka_offset bigint NOT NULL,
        payload text NOT NULL, trace_id text, written_by text NOT NULL
    );
    GRANT SELECT, INSERT ON probe_rows TO signalops_app;";

pub struct ProbeHandler {
    pub name: String,
    transient_failures: AtomicUsize,
    pub delay_per_batch: std::time::Duration,
    refusing: Arc<AtomicBool>,
}

impl ProbeHandler {
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            transient_failures: AtomicUsize::new(0),
            delay_per_batch: std::time::Duration::ZERO,
            refusing: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Refuses `refuse…` payloads as poison while `refusing` is true; the
    /// test clears it to stand for the fix an operator deploys.
    pub fn refusing_while(mut self, refusing: Arc<AtomicBool>) -> Self {
        self.refusing = refusing;
        self
    }

    pub fn failing_first(self, batches: usize) -> Self {
        self.transient_failures.store(batches, Ordering::SeqCst);
        self
    }

    pub fn with_delay(mut self, delay: std::time::Duration) -> Self {
        self.delay_per_batch = delay;
        self
    }
}

#[async_trait]
impl BatchHandler for ProbeHandler {
    async fn handle(&self, tx: &Transaction<'_>, records: &[Record]) -> Result<(), HandlerError> {
        if self.transient_failures.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok() {
            return Err(HandlerError::Transient(anyhow::anyhow!("injected transient failure")));
        }
        if !self.delay_per_batch.is_zero() {
            tokio::time::sleep(self.delay_per_batch).await;
        }
        let statement = tx
            .prepare_cached(
                "INSERT INTO probe_rows (topic, partition, kafka_offset, payload, trace_id, written_by) VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .await?;
        for (index, record) in records.iter().enumerate() {
            let payload = String::from_utf8_lossy(record.payload_bytes()).into_owned();
            if payload.starts_with("poison") {
                return Err(HandlerError::poison(index, "payload says poison"));
            }
            if payload.starts_with("misindex") {
                return Err(HandlerError::poison(records.len() + index, "payload names the wrong record"));
            }
            if payload.starts_with("refuse") && self.refusing.load(Ordering::SeqCst) {
                return Err(HandlerError::poison(index, "refused until the cause is fixed"));
            }
            assert!(!payload.starts_with("panic"), "payload says panic");
            let trace_id = trace_context::trace_id(&record.parent_context());
            tx.execute(&statement, &[&record.topic, &record.partition, &record.offset, &payload, &trace_id, &self.name]).await?;
        }
        Ok(())
    }
}
