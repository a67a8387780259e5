//! One attempt at a slice of a partition's batch, in one transaction: lock
//! the partition's offset row, refuse a gap, skip what is already applied,
//! run the handler (a panic counts as a permanent error), store the next
//! offset, commit. Bounded in time: the pool wait, row-lock waits and
//! statements all end within the attempt's budget.

use std::time::Duration;

use futures::FutureExt;

use super::apply::Applier;
use super::redrive::{self, Carried};
use super::{ErrorClass, HandlerError, Record, offsets};

/// What became of one attempt that did not fail transiently.
pub(crate) enum Attempted {
    /// Applied and committed: `applied` records took effect, `redriven`
    /// of them through the redrive topic, `duplicates` redrives skipped.
    Committed { applied: usize, redriven: usize, duplicates: usize },
    /// The stored offset is already at or past the slice's end.
    AlreadyApplied,
    /// The slice starts past the stored offset: applying it would skip
    /// records. Nothing was applied.
    Gap { stored: i64 },
    /// `records[index]` can never be applied.
    Poison { index: usize, class: ErrorClass, reason: String },
    /// Some record of the slice can never be applied; which is not known.
    Permanent { class: ErrorClass, reason: String },
}

/// One slice: `records` (possibly empty) covering offsets `start..end`,
/// where records missing in between were dead-lettered already.
pub(crate) struct Slice<'a> {
    pub(crate) topic: &'a str,
    pub(crate) partition: i32,
    pub(crate) records: &'a [Record],
    pub(crate) start: i64,
    pub(crate) end: i64,
    /// Offsets at or below which a start past the stored offset is no gap:
    /// the records in between were deleted by retention.
    pub(crate) floor: Option<i64>,
}

impl Applier {
    pub(crate) async fn attempt(&self, slice: &Slice<'_>, budget: Duration) -> anyhow::Result<Attempted> {
        match tokio::time::timeout(budget, self.attempt_unbounded(slice, budget)).await {
            Ok(result) => result,
            Err(_) => Err(anyhow::anyhow!("attempt did not finish within {} ms", budget.as_millis())),
        }
    }

    async fn attempt_unbounded(&self, slice: &Slice<'_>, budget: Duration) -> anyhow::Result<Attempted> {
        let (topic, partition) = (slice.topic, slice.partition);
        let group = self.settings.group_id.as_str();
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        // The server gives up waiting too (a zombie member's row lock, say),
        // so the connection is not stuck behind the abandoned statement.
        let millis = budget.as_millis().max(1);
        let limits = format!("SET LOCAL lock_timeout = {millis}; SET LOCAL statement_timeout = {millis}");
        let (_, stored) = futures::try_join!(tx.batch_execute(&limits), offsets::lock_next_offset(&tx, group, topic, partition))?;
        if stored >= slice.end {
            tx.rollback().await?;
            return Ok(Attempted::AlreadyApplied);
        }
        if slice.start > stored && slice.floor.is_none_or(|floor| slice.start > floor) {
            tx.rollback().await?;
            return Ok(Attempted::Gap { stored });
        }
        let skip = slice.records.partition_point(|r| r.offset < stored);
        let fresh = &slice.records[skip..];
        let (mut redriven, mut duplicates) = (0, 0);
        let outcome = if self.is_redrive_topic(topic) {
            let mut originals = Vec::with_capacity(fresh.len());
            let mut positions = Vec::with_capacity(fresh.len());
            for (index, carrier) in fresh.iter().enumerate() {
                match redrive::carried(group, carrier) {
                    Carried::ForAnotherGroup => {}
                    Carried::Undecodable(reason) => {
                        tx.rollback().await?;
                        return Ok(Attempted::Poison { index: skip + index, class: ErrorClass::Decode, reason });
                    }
                    Carried::ForUs(original) => {
                        if redrive::claim(&tx, group, &original, carrier).await? {
                            originals.push(original);
                            positions.push(skip + index);
                        } else {
                            duplicates += 1;
                        }
                    }
                }
            }
            redriven = originals.len();
            self.run_handler(&tx, &originals).await.map_err(|failure| remap(failure, &positions))
        } else {
            self.run_handler(&tx, fresh).await.map_err(|failure| remap_offset(failure, skip))
        };
        match outcome {
            Ok(()) => {}
            Err(Failure::Transient(error)) => return Err(error),
            Err(Failure::Poison { index, class, reason }) => {
                tx.rollback().await?;
                return Ok(Attempted::Poison { index, class, reason });
            }
            Err(Failure::Permanent { class, reason }) => {
                tx.rollback().await?;
                return Ok(Attempted::Permanent { class, reason });
            }
        }
        offsets::store_next_offset(&tx, group, topic, partition, slice.end).await?;
        tx.commit().await?;
        Ok(Attempted::Committed { applied: fresh.len(), redriven, duplicates })
    }

    /// Runs the handler on `inputs`; a panic becomes a permanent error of
    /// the slice, and a poison index out of range is not trusted.
    async fn run_handler(&self, tx: &deadpool_postgres::Transaction<'_>, inputs: &[Record]) -> Result<(), Failure> {
        if inputs.is_empty() {
            return Ok(());
        }
        let handled = std::panic::AssertUnwindSafe(self.handler.handle(tx, inputs)).catch_unwind().await;
        match handled {
            Ok(Ok(())) => Ok(()),
            Ok(Err(HandlerError::Transient(error))) => Err(Failure::Transient(error)),
            Ok(Err(HandlerError::Poison { index, class, reason })) if index < inputs.len() => Err(Failure::Poison { index, class, reason }),
            Ok(Err(HandlerError::Poison { index, class, reason })) => Err(Failure::Permanent {
                class,
                reason: format!("{reason} (the handler named record {index} of a batch of {})", inputs.len()),
            }),
            Ok(Err(HandlerError::Permanent { class, reason })) => Err(Failure::Permanent { class, reason }),
            Err(panic) => {
                Err(Failure::Permanent { class: ErrorClass::Panic, reason: format!("handler panicked: {}", panic_message(&*panic)) })
            }
        }
    }
}

enum Failure {
    Transient(anyhow::Error),
    Poison { index: usize, class: ErrorClass, reason: String },
    Permanent { class: ErrorClass, reason: String },
}

/// Handler indexes count from the first fresh record; slices count from their first record.
fn remap_offset(failure: Failure, skip: usize) -> Failure {
    match failure {
        Failure::Poison { index, class, reason } => Failure::Poison { index: skip + index, class, reason },
        other => other,
    }
}

/// Redriven originals are a subset of the slice: map back to the carrier.
fn remap(failure: Failure, positions: &[usize]) -> Failure {
    match failure {
        Failure::Poison { index, class, reason } => Failure::Poison { index: positions[index], class, reason },
        other => other,
    }
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".into())
}
