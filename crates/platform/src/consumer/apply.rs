//! Applying one partition's batch until every record has either taken
//! effect or been dead-lettered, in offset order, never skipping one.
//!
//! - A transient failure retries the same slice with capped, jittered
//!   backoff; the partition shows as stalled meanwhile (see `health`).
//! - A permanent failure the handler pins on one record dead-letters that
//!   record; one it cannot pin bisects the slice until the failing records
//!   are alone, so a good record is never dead-lettered.
//! - A dead letter is appended (and acknowledged) before the offset moves
//!   past its record; an unavailable dead-letter topic stalls the partition.
//! - A slice that starts past the stored offset is refused: the poll thread
//!   seeks back (see `runtime`).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use deadpool_postgres::Pool;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use super::attempt::{Attempted, Slice};
use super::backoff::Backoff;
use super::buffers::PartitionKey;
use super::health::ConsumerHealth;
use super::{BatchHandler, DeadLetterSink, ErrorClass, Record, redrive};
use crate::config::ConsumerSettings;
use crate::metrics;

pub(crate) struct Applier {
    pub(crate) settings: ConsumerSettings,
    pub(crate) pool: Pool,
    pub(crate) handler: Arc<dyn BatchHandler>,
    pub(crate) dead_letters: DeadLetterSink,
    pub(crate) shutdown: CancellationToken,
    pub(crate) health: ConsumerHealth,
    pub(crate) redrive_topic: Option<String>,
    /// Set when a drain starts (shutdown for all, revocation per
    /// partition): no attempt of those partitions outlives it.
    pub(crate) deadlines: Deadlines,
}

/// How a batch ended, for the poll thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Every record took effect or was dead-lettered; the next offset.
    Committed(i64),
    /// The batch started at `first`, past the stored offset `stored`.
    Gap { stored: i64, first: i64 },
    /// Not finished before the drain deadline or shutdown; offsets are
    /// where the last committed slice left them.
    Abandoned,
}

enum Work {
    Apply { records: Vec<Record>, start: i64, end: i64 },
    DeadLetter { record: Record, class: ErrorClass, reason: String },
}

enum Step {
    Done(Vec<Work>),
    Gap { stored: i64 },
    Retry(anyhow::Error),
}

impl Applier {
    pub(crate) fn is_redrive_topic(&self, topic: &str) -> bool {
        self.redrive_topic.as_deref() == Some(topic)
    }

    /// Applies `records` (one partition, offset order). `floor`: see `Slice`.
    pub(crate) async fn apply(&self, records: Vec<Record>, floor: Option<i64>) -> Outcome {
        let (Some(first), Some(last)) = (records.first(), records.last()) else { return Outcome::Abandoned };
        let key: PartitionKey = (first.topic.clone(), first.partition);
        let (start, end) = (first.offset, last.offset + 1);
        let group = self.settings.group_id.as_str();
        let span =
            tracing::info_span!("consumer.batch", group, topic = %key.0, partition = key.1, first_offset = start, records = records.len());
        // The batch continues the trace of its first record's producer; the
        // other records' contexts are attached as links.
        let _ = span.set_parent(first.parent_context());
        for record in records.iter().skip(1).take(32) {
            span.add_link(opentelemetry::trace::TraceContextExt::span(&record.parent_context()).span_context().clone());
        }
        let mut work = VecDeque::from([Work::Apply { records, start, end }]);
        async {
            let mut backoff = Backoff::new(
                Duration::from_millis(self.settings.retry_initial_backoff_ms),
                Duration::from_millis(self.settings.retry_max_backoff_ms),
            );
            while let Some(item) = work.pop_front() {
                loop {
                    let deadline = self.deadlines.of(&key);
                    let mut budget = Duration::from_millis(self.settings.attempt_timeout_ms);
                    if let Some(deadline) = deadline {
                        budget = budget.min(deadline.saturating_duration_since(Instant::now()));
                        if budget.is_zero() {
                            return Outcome::Abandoned;
                        }
                    }
                    let step = match &item {
                        Work::Apply { records, start, end } => {
                            let slice = Slice { topic: &key.0, partition: key.1, records, start: *start, end: *end, floor };
                            self.apply_slice(&slice, budget).await
                        }
                        Work::DeadLetter { record, class, reason } => self.dead_letter(record, *class, reason, budget).await,
                    };
                    match step {
                        Step::Done(next) => {
                            self.health.recovered(&key);
                            backoff.reset();
                            for item in next.into_iter().rev() {
                                work.push_front(item);
                            }
                            break;
                        }
                        Step::Gap { stored } => {
                            self.health.recovered(&key);
                            return Outcome::Gap { stored, first: start };
                        }
                        Step::Retry(error) => {
                            metrics::consumer().transient_retries.with_label_values(&[group]).inc();
                            let stalled = self.health.stalled(&key);
                            let wait = backoff.next_wait();
                            tracing::warn!(
                                error = %format!("{error:#}"),
                                backoff_ms = wait.as_millis() as u64,
                                stalled_secs = stalled.as_secs(),
                                "batch failed; retrying without advancing"
                            );
                            if self.deadlines.of(&key).is_some_and(|d| Instant::now() + wait > d) {
                                return Outcome::Abandoned;
                            }
                            tokio::select! {
                                () = tokio::time::sleep(wait) => {}
                                // A partition in backoff is failing anyway: let the drain go on without it.
                                () = self.shutdown.cancelled() => return Outcome::Abandoned,
                            }
                        }
                    }
                }
            }
            Outcome::Committed(end)
        }
        .instrument(span)
        .await
    }

    async fn apply_slice(&self, slice: &Slice<'_>, budget: Duration) -> Step {
        let started = Instant::now();
        let attempted = match self.attempt(slice, budget).await {
            Ok(attempted) => attempted,
            Err(error) => return Step::Retry(error),
        };
        let group = self.settings.group_id.as_str();
        match attempted {
            Attempted::Committed { applied, redriven, duplicates } => {
                let m = metrics::consumer();
                m.records.with_label_values(&[group, slice.topic]).inc_by(applied as u64);
                m.batch_size.with_label_values(&[group]).observe(applied as f64);
                m.batch_seconds.with_label_values(&[group]).observe(started.elapsed().as_secs_f64());
                m.redrives.with_label_values(&[group, "applied"]).inc_by(redriven as u64);
                m.redrives.with_label_values(&[group, "duplicate"]).inc_by(duplicates as u64);
                Step::Done(Vec::new())
            }
            Attempted::AlreadyApplied => Step::Done(Vec::new()),
            Attempted::Gap { stored } => Step::Gap { stored },
            Attempted::Poison { index, class, reason } => Step::Done(split_around(slice, index, class, reason)),
            Attempted::Permanent { class, reason } => Step::Done(bisect(slice, class, reason)),
        }
    }

    /// Appends the dead letter, then moves the stored offset past its record,
    /// so a restart in between at worst appends it twice, never skips it.
    async fn dead_letter(&self, record: &Record, class: ErrorClass, reason: &str, budget: Duration) -> Step {
        let group = self.settings.group_id.as_str();
        let subject = match self.is_redrive_topic(&record.topic).then(|| redrive::carried(group, record)) {
            // The redriven original failed again: its dead letter names where it came from.
            Some(redrive::Carried::ForUs(original)) => original,
            _ => record.clone(),
        };
        match tokio::time::timeout(budget, self.dead_letters.send(group, &subject, class, reason)).await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => return Step::Retry(anyhow::Error::new(error).context("dead-letter append failed")),
            Err(_) => return Step::Retry(anyhow::anyhow!("dead-letter append did not finish within {} ms", budget.as_millis())),
        }
        tracing::warn!(topic = %subject.topic, partition = subject.partition, offset = subject.offset, error_class = %class, reason, "record dead-lettered");
        metrics::consumer().dead_letters.with_label_values(&[group, class.as_str()]).inc();
        Step::Done(vec![Work::Apply { records: Vec::new(), start: record.offset, end: record.offset + 1 }])
    }
}

/// Around a record the handler named: what precedes it, its dead letter,
/// the offset past it, and what follows.
fn split_around(slice: &Slice<'_>, index: usize, class: ErrorClass, reason: String) -> Vec<Work> {
    let bad = &slice.records[index];
    let mut work = Vec::with_capacity(3);
    if index > 0 {
        work.push(Work::Apply { records: slice.records[..index].to_vec(), start: slice.start, end: bad.offset });
    }
    work.push(Work::DeadLetter { record: bad.clone(), class, reason });
    if index + 1 < slice.records.len() {
        work.push(Work::Apply { records: slice.records[index + 1..].to_vec(), start: bad.offset + 1, end: slice.end });
    } else if bad.offset + 1 < slice.end {
        work.push(Work::Apply { records: Vec::new(), start: bad.offset + 1, end: slice.end });
    }
    work
}

/// A permanent failure with no record named: halve the slice until the
/// failing records stand alone; a lone failing record is dead-lettered.
fn bisect(slice: &Slice<'_>, class: ErrorClass, reason: String) -> Vec<Work> {
    match slice.records {
        [] => Vec::new(),
        [_] => split_around(slice, 0, class, reason),
        records => {
            let mid = records.len() / 2;
            let middle = records[mid].offset;
            vec![
                Work::Apply { records: records[..mid].to_vec(), start: slice.start, end: middle },
                Work::Apply { records: records[mid..].to_vec(), start: middle, end: slice.end },
            ]
        }
    }
}

/// Drain deadlines: one for everything (shutdown), one per revoked partition.
#[derive(Default)]
pub(crate) struct Deadlines {
    all: Mutex<Option<Instant>>,
    partitions: Mutex<HashMap<PartitionKey, Instant>>,
}

impl Deadlines {
    pub(crate) fn of(&self, key: &PartitionKey) -> Option<Instant> {
        let all = *self.all.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let one = self.partitions.lock().unwrap_or_else(std::sync::PoisonError::into_inner).get(key).copied();
        match (all, one) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The shutdown deadline, once shutdown has begun.
    pub(crate) fn all(&self) -> Option<Instant> {
        *self.all.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(crate) fn set_all(&self, deadline: Instant) {
        *self.all.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(deadline);
    }

    pub(crate) fn set_partitions(&self, keys: &[PartitionKey], deadline: Instant) {
        let mut partitions = self.partitions.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        for key in keys {
            partitions.insert(key.clone(), deadline);
        }
    }

    /// A partition assigned again starts without its old deadline.
    pub(crate) fn clear_partitions(&self, keys: &[PartitionKey]) {
        let mut partitions = self.partitions.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        for key in keys {
            partitions.remove(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(offset: i64) -> Record {
        Record { topic: "t".into(), partition: 0, offset, key: None, payload: None, headers: vec![], timestamp_ms: None }
    }

    fn describe(work: &[Work]) -> Vec<String> {
        work.iter()
            .map(|w| match w {
                Work::Apply { records, start, end } => {
                    format!("apply {start}..{end} {:?}", records.iter().map(|r| r.offset).collect::<Vec<_>>())
                }
                Work::DeadLetter { record, .. } => format!("dead-letter {}", record.offset),
            })
            .collect()
    }

    #[test]
    fn a_named_record_is_dead_lettered_between_its_neighbours() {
        let records: Vec<Record> = (10..15).map(record).collect();
        let slice = Slice { topic: "t", partition: 0, records: &records, start: 10, end: 15, floor: None };
        let work = split_around(&slice, 2, ErrorClass::Poison, "bad".into());
        assert_eq!(describe(&work), ["apply 10..12 [10, 11]", "dead-letter 12", "apply 13..15 [13, 14]"]);
    }

    #[test]
    fn the_last_record_dead_lettered_still_moves_the_offset_past_it() {
        let records: Vec<Record> = (10..12).map(record).collect();
        let slice = Slice { topic: "t", partition: 0, records: &records, start: 10, end: 12, floor: None };
        assert_eq!(describe(&split_around(&slice, 1, ErrorClass::Poison, "bad".into())), ["apply 10..11 [10]", "dead-letter 11"]);
    }

    #[test]
    fn bisection_halves_a_slice_and_covers_every_offset() {
        let records: Vec<Record> = (0..5).map(record).collect();
        let slice = Slice { topic: "t", partition: 0, records: &records, start: 0, end: 5, floor: None };
        assert_eq!(describe(&bisect(&slice, ErrorClass::Constraint, "23505".into())), ["apply 0..2 [0, 1]", "apply 2..5 [2, 3, 4]"]);
        let lone = [record(3)];
        let slice = Slice { topic: "t", partition: 0, records: &lone, start: 3, end: 4, floor: None };
        assert_eq!(describe(&bisect(&slice, ErrorClass::Constraint, "23505".into())), ["dead-letter 3"]);
    }
}
