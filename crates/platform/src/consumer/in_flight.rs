//! Batches being applied while the poll thread keeps reading.
//!
//! A partition has at most one batch in flight: its next batch starts only
//! after the previous one committed, because the offset fence skips records
//! *below* the stored offset and would not notice a batch that overtook an
//! earlier one. Completions come back over a channel and are settled on the
//! poll thread, which owns the consumer and commits their offsets to Kafka.
//!
//! Each assignment of a partition is a new generation: a batch begun under
//! an earlier one that ends abandoned or refused does not hold back the
//! partition given back since, which starts from the stored offsets.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, channel};
use std::time::{Duration, Instant};

use super::apply::Outcome;
use super::buffers::PartitionKey;

/// A finished batch, the generation it began in, and how it ended.
type Completion = (PartitionKey, u64, Outcome);

/// A batch begun: how its task reports that it ended.
pub(crate) struct Ticket {
    key: PartitionKey,
    generation: u64,
    sender: Sender<Completion>,
}

impl Ticket {
    pub(crate) fn finish(self, outcome: Outcome) {
        // The poll thread has stopped listening only when the member is gone.
        let _ = self.sender.send((self.key, self.generation, outcome));
    }
}

#[derive(Default)]
struct State {
    /// Partitions with a batch in flight, and the generation it began in.
    busy: HashMap<PartitionKey, u64>,
    /// Per partition, the generation of its current assignment.
    generations: HashMap<PartitionKey, u64>,
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

    /// Marks `key` busy; its task reports completion on the ticket.
    pub(crate) fn begin(&self, key: PartitionKey) -> Ticket {
        let mut state = self.state();
        let generation = state.generations.get(&key).copied().unwrap_or_default();
        state.busy.insert(key.clone(), generation);
        Ticket { key, generation, sender: self.sender.clone() }
    }

    pub(crate) fn count(&self) -> usize {
        self.state().busy.len()
    }

    /// Whether `key` may not start a batch now: busy, abandoned or waiting
    /// to be sought back over a gap.
    pub(crate) fn is_blocked(&self, key: &PartitionKey) -> bool {
        let state = self.state();
        state.busy.contains_key(key) || state.abandoned.contains(key) || state.gaps.contains_key(key)
    }

    /// Starts a new generation for partitions assigned or revoked: their
    /// abandonment and gaps are forgotten, and so are those of batches
    /// still in flight from before, because a new assignment starts from
    /// the offsets stored in Postgres.
    pub(crate) fn forget(&self, keys: &[PartitionKey]) {
        let mut state = self.state();
        for key in keys {
            state.abandoned.remove(key);
            state.gaps.remove(key);
            *state.generations.entry(key.clone()).or_default() += 1;
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
        self.settle_until(|busy| !keys.iter().any(|k| busy.contains_key(k)), Some(deadline))
    }

    /// Waits (until `deadline`) until nothing is in flight.
    pub(crate) fn settle_all(&self, deadline: Instant) -> Vec<(PartitionKey, i64)> {
        self.settle_until(HashMap::is_empty, Some(deadline))
    }

    /// Receives completions; blocks (until `deadline`, if any) while
    /// batches are in flight and `done` is false, and returns the committed
    /// next offsets to report to Kafka.
    fn settle_until(
        &self,
        mut done: impl FnMut(&HashMap<PartitionKey, u64>) -> bool,
        deadline: Option<Instant>,
    ) -> Vec<(PartitionKey, i64)> {
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
            let Some((key, generation, outcome)) = received else {
                if waiting {
                    continue;
                }
                break;
            };
            let mut state = self.state();
            state.busy.remove(&key);
            let current = state.generations.get(&key).copied().unwrap_or_default() == generation;
            match outcome {
                // Committed in Postgres whichever generation it began in;
                // the caller reports it to Kafka only for partitions it owns.
                Outcome::Committed(next) => committed.push((key, next)),
                Outcome::Gap { stored, first } if current => {
                    state.gaps.insert(key, (stored, first));
                }
                Outcome::Abandoned if current => {
                    state.abandoned.insert(key);
                }
                Outcome::Gap { .. } | Outcome::Abandoned => {}
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
        done.finish(Outcome::Committed(42));
        assert_eq!(in_flight.settle_ready(), vec![(key(0), 42)]);
        assert!(!in_flight.is_blocked(&key(0)));
        assert_eq!(in_flight.count(), 0);
    }

    #[test]
    fn an_abandoned_batch_blocks_its_partition_until_it_is_revoked() {
        let in_flight = InFlight::new();
        in_flight.begin(key(3)).finish(Outcome::Abandoned);
        assert!(in_flight.settle_ready().is_empty());
        assert!(in_flight.is_blocked(&key(3)));
        in_flight.forget(&[key(3)]);
        assert!(!in_flight.is_blocked(&key(3)));
    }

    #[test]
    fn a_batch_of_an_earlier_assignment_ending_abandoned_or_refused_does_not_hold_the_partition_given_back() {
        let in_flight = InFlight::new();
        let abandoned = in_flight.begin(key(3));
        let refused = in_flight.begin(key(4));
        let committed = in_flight.begin(key(5));
        // Lost and assigned again while the three batches are in flight.
        in_flight.forget(&[key(3), key(4), key(5)]);
        in_flight.forget(&[key(3), key(4), key(5)]);
        assert!(in_flight.is_blocked(&key(3)), "still in flight");
        abandoned.finish(Outcome::Abandoned);
        refused.finish(Outcome::Gap { stored: 5, first: 9 });
        committed.finish(Outcome::Committed(12));
        assert_eq!(in_flight.settle_ready(), vec![(key(5), 12)], "what committed in Postgres is still reported");
        assert!(!in_flight.is_blocked(&key(3)));
        assert!(!in_flight.is_blocked(&key(4)));
        assert!(in_flight.gaps().is_empty());
        // A batch of the current assignment still blocks when abandoned.
        in_flight.begin(key(3)).finish(Outcome::Abandoned);
        assert!(in_flight.settle_ready().is_empty());
        assert!(in_flight.is_blocked(&key(3)));
    }

    #[test]
    fn a_gap_blocks_its_partition_until_it_is_sought_back() {
        let in_flight = InFlight::new();
        in_flight.begin(key(1)).finish(Outcome::Gap { stored: 5, first: 9 });
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
            first.finish(Outcome::Committed(7));
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
