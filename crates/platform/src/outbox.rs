//! A relay from a Postgres outbox table to Kafka, for any table whose rows
//! are staged in the transaction of the change they describe.
//!
//! Promises, and why they hold:
//! - **Nothing staged is lost.** A pass claims pending rows with
//!   `FOR UPDATE SKIP LOCKED`, appends them, and settles (marks or deletes)
//!   only the rows Kafka acknowledged, in the same transaction as the claim.
//!   A row whose append failed stays pending and is claimed again.
//! - **At-least-once, with the same record.** A crash between Kafka's
//!   acknowledgement and the commit of the settle leaves the rows pending:
//!   the next pass appends the same bytes again. Consumers deduplicate on the
//!   record's id, which the row carries.
//! - **Several relays share a table.** `SKIP LOCKED` gives each pass rows no
//!   other pass holds, so relays in every instance of a service append each
//!   row once between them (barring the crash above).
//!
//! The table-specific part (which rows, which topic and headers, how a row is
//! settled) is an [`Outbox`].

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use deadpool_postgres::{Pool, Transaction};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::kafka::{EventProducer, OutgoingRecord};

/// A staged row, ready to append.
#[derive(Debug, Clone)]
pub struct StagedRecord {
    /// The row's key in its table, handed back to [`Outbox::settle`].
    pub row_id: i64,
    pub record: OutgoingRecord,
}

/// One outbox table.
#[async_trait]
pub trait Outbox: Send + Sync + 'static {
    /// Used in logs.
    fn name(&self) -> &'static str;

    /// Claims up to `limit` pending rows in `tx`, oldest first, locked with
    /// `FOR UPDATE SKIP LOCKED` (after setting whatever the table's
    /// row-level security asks of a relay).
    async fn claim(&self, tx: &Transaction<'_>, limit: i64) -> anyhow::Result<Vec<StagedRecord>>;

    /// Settles the rows Kafka acknowledged (marks them appended, or deletes them).
    async fn settle(&self, tx: &Transaction<'_>, appended: &[i64]) -> anyhow::Result<()>;
}

/// What one pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RelayPass {
    pub claimed: usize,
    pub appended: usize,
}

/// Appends one batch of pending rows and settles those Kafka acknowledged.
pub async fn relay_once(pool: &Pool, producer: &EventProducer, outbox: &dyn Outbox, limit: i64) -> anyhow::Result<RelayPass> {
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    let staged = outbox.claim(&tx, limit).await?;
    if staged.is_empty() {
        tx.commit().await?;
        return Ok(RelayPass::default());
    }
    let (ids, records): (Vec<i64>, Vec<OutgoingRecord>) = staged.into_iter().map(|s| (s.row_id, s.record)).unzip();
    let results = producer.send_all(records).await;
    let appended: Vec<i64> = ids.iter().zip(&results).filter(|(_, r)| r.is_ok()).map(|(id, _)| *id).collect();
    if let Some(Err(error)) = results.iter().find(|r| r.is_err()) {
        tracing::warn!(outbox = outbox.name(), %error, unsent = ids.len() - appended.len(), "some staged records were not acknowledged; will retry");
    }
    if !appended.is_empty() {
        outbox.settle(&tx, &appended).await?;
    }
    tx.commit().await?;
    Ok(RelayPass { claimed: ids.len(), appended: appended.len() })
}

/// How a relay task paces itself.
#[derive(Debug, Clone, Copy)]
pub struct RelayPacing {
    /// Rows per pass; a full pass is followed by the next at once.
    pub batch: i64,
    /// The wait after a pass that found less than a full batch (rows staged
    /// by other processes are found within it), unless woken earlier.
    pub idle: Duration,
    /// The wait after a failed pass, or one that left records unacknowledged.
    pub retry: Duration,
}

/// Relays until `stop`: at once when `wake` is notified, and every
/// `pacing.idle` otherwise. `on_pass` sees each successful pass (metrics).
pub fn spawn_relay(
    pool: Pool,
    producer: EventProducer,
    outbox: Arc<dyn Outbox>,
    pacing: RelayPacing,
    wake: Arc<Notify>,
    stop: CancellationToken,
    on_pass: impl Fn(RelayPass) + Send + 'static,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let pause = match relay_once(&pool, &producer, outbox.as_ref(), pacing.batch).await {
                Ok(pass) => {
                    on_pass(pass);
                    if pass.appended < pass.claimed {
                        // Kafka refused or timed out: retrying at once would
                        // only repeat the warning.
                        pacing.retry
                    } else if i64::try_from(pass.claimed).unwrap_or(i64::MAX) >= pacing.batch {
                        continue;
                    } else {
                        pacing.idle
                    }
                }
                Err(error) => {
                    tracing::warn!(outbox = outbox.name(), error = %format!("{error:#}"), "outbox relay pass failed; retrying");
                    pacing.retry
                }
            };
            tokio::select! {
                () = stop.cancelled() => return,
                () = wake.notified() => {}
                () = tokio::time::sleep(pause) => {}
            }
        }
    })
}
