//! Batches being applied while the poll thread keeps reading.
//!
//! A partition has at most one batch in flight: its next batch starts only
//! after the previous one committed, because the offset fence skips records
//! *below* the stored offset and would not notice a batch that overtook an
//! earlier one. Completions come back over a channel and are settled on the
//! poll thread, which owns the consumer and commits their offsets to Kafka.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, channel};
use std::time::{Duration, Instant};

use super::apply::Outcome;
use super::buffers::PartitionKey;

/// A finished batch and how it ended.
pub(crate) type Completion = (PartitionKey, Outcome);

#[derive(Default)]
struct State {
    busy: HashSet<PartitionKey>,
    /// Partitions whose batch was abandoned: their later records must not be
    /// applied by this assignment, or the abandoned ones would be skipped.
    abandoned: HashSet<PartitionKey>,
    /// Partitions whose batch started past the stored offset: the poll
    /// thread seeks them back to it (`(stored, first)`) before reading on.
    gaps: HashMap<PartitionKey, (i64, i64)>,
}

pub(crate) struct InFlight {
    state: Mutex<State>,
    sender: Sender<Completion>,
    receiver: Mutex<Receiver<Completion>>,
}

impl InFlight {
    pub(crate) fn new() -> Self {
        let (sender, receiver) = channel();
        Self { state: Mutex::default(), sender, receiver: Mutex::new(receiver) }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // Plain sets: a panic elsewhere cannot leave them half-updated.
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Marks `key` busy and returns where its task reports completion.
    pub(crate) fn begin(&self, key: PartitionKey) -> Sender<Completion> {
        self.state().busy.insert(key);
        self.sender.clone()
    }

    pub(crate) fn count(&self) -> usize {
        self.state().busy.len()
    }

    /// Whether `key` may not start a batch now: busy, abandoned or waiting
    /// to be sought back over a gap.
    pub(crate) fn is_blocked(&self, key: &PartitionKey) -> bool {
        let state = self.state();
        state.busy.contains(key) || state.abandoned.contains(key) || state.gaps.contains_key(key)
    }

    /// Forgets revoked partitions' abandonment and gaps: a new assignment
    /// starts from the offsets stored in Postgres.
    pub(crate) fn forget(&self, keys: &[PartitionKey]) {
        let mut state = self.state();
        for key in keys {
            state.abandoned.remove(key);
            state.gaps.remove(key);
        }
    }

    /// Gaps reported so far, as `(partition, (stored, first))`.
    pub(crate) fn gaps(&self) -> Vec<(PartitionKey, (i64, i64))> {
        self.state().gaps.iter().map(|(k, v)| (k.clone(), *v)).collect()
    }

    /// The partition was sought back: it may start batches again.
    pub(crate) fn gap_closed(&self, key: &PartitionKey) {
        self.state().gaps.remove(key);
    }

    /// Completions that have arrived, without waiting.
    pub(crate) fn settle_ready(&self) -> Vec<(PartitionKey, i64)> {
        self.settle_until(|_| true, None)
    }

    /// Waits (until `deadline`) for at least one completion when any batch
    /// is in flight, then takes whatever else has arrived.
    pub(crate) fn settle_one(&self, deadline: Instant) -> Vec<(PartitionKey, i64)> {
        let mut settled = false;
        self.settle_until(
            |_| {
                let done = settled;
                settled = true;
                done
            },
            Some(deadline),
        )
    }

    /// Waits (until `deadline`) until none of `keys` is in flight.
    pub(crate) fn settle_partitions(&self, keys: &[PartitionKey], deadline: Instant) -> Vec<(PartitionKey, i64)> {
        self.settle_until(|busy| !keys.iter().any(|k| busy.contains(k)), Some(deadline))
    }

    /// Waits (until `deadline`) until nothing is in flight.
    pub(crate) fn settle_all(&self, deadline: Instant) -> Vec<(PartitionKey, i64)> {
        self.settle_until(HashSet::is_empty, Some(deadline))
    }

    /// Receives completions; blocks (until `deadline`, if any) while
    /// batches are in flight and `done` is false, and returns the committed
    /// next offsets to report to Kafka.
    fn settle_until(&self, mut done: impl FnMut(&HashSet<PartitionKey>) -> bool, deadline: Option<Instant>) -> Vec<(PartitionKey, i64)> {
        let receiver = self.receiver.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut committed = Vec::new();
        loop {
            let waiting = deadline.is_some() && {
                let state = self.state();
                !state.busy.is_empty() && !done(&state.busy)
            };
            let received = match (waiting, deadline) {
                (true, Some(deadline)) => {
                    match receiver.recv_timeout(deadline.saturating_duration_since(Instant::now()).max(Duration::from_millis(1))) {
                        Ok(completion) => Some(completion),
                        Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) if Instant::now() >= deadline => break,
                        Err(_) => None,
                    }
                }
                _ => receiver.try_recv().ok(),
            };
            let Some((key, next)) = received else {
                if waiting {
                    continue;
                }
                break;
            };
            let mut state = self.state();
            state.busy.remove(&key);
            match next {
                Outcome::Committed(next) => committed.push((key, next)),
                Outcome::Gap { stored, first } => {
                    state.gaps.insert(key, (stored, first));
                }
                Outcome::Abandoned => {
                    state.abandoned.insert(key);
                }
            }
        }
        committed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(partition: i32) -> PartitionKey {
        ("t".to_owned(), partition)
    }

    #[test]
    fn a_partition_is_blocked_while_its_batch_is_in_flight() {
        let in_flight = InFlight::new();
        let done = in_flight.begin(key(0));
        assert!(in_flight.is_blocked(&key(0)));
        assert!(!in_flight.is_blocked(&key(1)));
        done.send((key(0), Outcome::Committed(42))).expect("the in-flight set listens");
        assert_eq!(in_flight.settle_ready(), vec![(key(0), 42)]);
        assert!(!in_flight.is_blocked(&key(0)));
        assert_eq!(in_flight.count(), 0);
    }

    #[test]
    fn an_abandoned_batch_blocks_its_partition_until_it_is_revoked() {
        let in_flight = InFlight::new();
        in_flight.begin(key(3)).send((key(3), Outcome::Abandoned)).expect("the in-flight set listens");
        assert!(in_flight.settle_ready().is_empty());
        assert!(in_flight.is_blocked(&key(3)));
        in_flight.forget(&[key(3)]);
        assert!(!in_flight.is_blocked(&key(3)));
    }

    #[test]
    fn a_gap_blocks_its_partition_until_it_is_sought_back() {
        let in_flight = InFlight::new();
        in_flight.begin(key(1)).send((key(1), Outcome::Gap { stored: 5, first: 9 })).expect("the in-flight set listens");
        assert!(in_flight.settle_ready().is_empty(), "a refused batch commits nothing");
        assert!(in_flight.is_blocked(&key(1)));
        assert_eq!(in_flight.gaps(), vec![(key(1), (5, 9))]);
        in_flight.gap_closed(&key(1));
        assert!(!in_flight.is_blocked(&key(1)));
    }

    #[test]
    fn settling_partitions_waits_for_those_partitions_only() {
        let in_flight = InFlight::new();
        let first = in_flight.begin(key(0));
        let _second = in_flight.begin(key(1));
        let worker = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            first.send((key(0), Outcome::Committed(7))).expect("the in-flight set listens");
        });
        let settled = in_flight.settle_partitions(&[key(0)], Instant::now() + Duration::from_secs(5));
        worker.join().expect("the worker finishes");
        assert_eq!(settled, vec![(key(0), 7)]);
        assert!(in_flight.is_blocked(&key(1)));
    }

    #[test]
    fn settling_gives_up_at_the_deadline() {
        let in_flight = InFlight::new();
        let _never = in_flight.begin(key(0));
        let started = Instant::now();
        assert!(in_flight.settle_all(started + Duration::from_millis(30)).is_empty());
        assert!(started.elapsed() >= Duration::from_millis(30));
        assert!(in_flight.is_blocked(&key(0)));
    }
}
