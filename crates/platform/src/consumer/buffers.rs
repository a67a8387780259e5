//! Per-partition batching by count and time.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use super::Record;

pub(crate) type PartitionKey = (String, i32);

struct Pending {
    records: Vec<Record>,
    since: Instant,
}

pub(crate) struct Buffers {
    max_records: usize,
    max_wait: Duration,
    pending: HashMap<PartitionKey, Pending>,
}

impl Buffers {
    pub(crate) fn new(max_records: usize, max_wait: Duration) -> Self {
        Self { max_records, max_wait, pending: HashMap::new() }
    }

    pub(crate) fn push(&mut self, record: Record) {
        let key = (record.topic.clone(), record.partition);
        self.pending
            .entry(key)
            .or_insert_with(|| Pending { records: Vec::with_capacity(self.max_records.min(1024)), since: Instant::now() })
            .records
            .push(record);
    }

    /// Up to `limit` batches that are full or have waited long enough, full
    /// ones first, skipping `blocked` partitions.
    pub(crate) fn take_ready(
        &mut self,
        now: Instant,
        blocked: impl Fn(&PartitionKey) -> bool,
        limit: usize,
    ) -> Vec<(PartitionKey, Vec<Record>)> {
        let mut ready: Vec<(&PartitionKey, &Pending)> = self
            .pending
            .iter()
            .filter(|(k, p)| !blocked(k) && (p.records.len() >= self.max_records || now.duration_since(p.since) >= self.max_wait))
            .collect();
        ready.sort_by_key(|(_, p)| (std::cmp::Reverse(p.records.len().min(self.max_records)), p.since));
        let keys: Vec<PartitionKey> = ready.into_iter().take(limit).map(|(k, _)| k.clone()).collect();
        self.take(keys)
    }

    /// Up to `limit` batches of any size, largest first, skipping `blocked`
    /// partitions: when traffic pauses, or the buffers are over budget.
    pub(crate) fn take_largest(&mut self, blocked: impl Fn(&PartitionKey) -> bool, limit: usize) -> Vec<(PartitionKey, Vec<Record>)> {
        let mut all: Vec<(&PartitionKey, &Pending)> = self.pending.iter().filter(|(k, _)| !blocked(k)).collect();
        all.sort_by_key(|(_, p)| std::cmp::Reverse(p.records.len()));
        let keys: Vec<PartitionKey> = all.into_iter().take(limit).map(|(k, _)| k.clone()).collect();
        self.take(keys)
    }

    pub(crate) fn take_partitions(&mut self, keys: &[PartitionKey]) -> Vec<(PartitionKey, Vec<Record>)> {
        self.take(keys.to_vec())
    }

    pub(crate) fn take_all(&mut self) -> Vec<(PartitionKey, Vec<Record>)> {
        self.pending.drain().map(|(k, p)| (k, p.records)).collect()
    }

    fn take(&mut self, keys: Vec<PartitionKey>) -> Vec<(PartitionKey, Vec<Record>)> {
        keys.into_iter().filter_map(|k| self.pending.remove(&k).map(|p| (k, p.records))).collect()
    }

    /// Records buffered and not yet handed to a batch.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.len_where(|_| true)
    }

    /// Records buffered for the partitions `counted` selects.
    pub(crate) fn len_where(&self, counted: impl Fn(&PartitionKey) -> bool) -> usize {
        self.pending.iter().filter(|(k, _)| counted(k)).map(|(_, p)| p.records.len()).sum()
    }

    /// How long the loop may block in poll before some batch is due.
    /// `blocked` partitions cannot start a batch anyway, so they do not count.
    pub(crate) fn time_until_due(&self, now: Instant, blocked: impl Fn(&PartitionKey) -> bool) -> Option<Duration> {
        self.pending.iter().filter(|(k, _)| !blocked(k)).map(|(_, p)| self.max_wait.saturating_sub(now.duration_since(p.since))).min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(partition: i32, offset: i64) -> Record {
        Record { topic: "t".into(), partition, offset, key: None, payload: None, headers: vec![], timestamp_ms: None }
    }

    #[test]
    fn a_full_partition_is_ready_and_others_wait() {
        let mut buffers = Buffers::new(2, Duration::from_secs(60));
        buffers.push(record(0, 1));
        buffers.push(record(0, 2));
        buffers.push(record(1, 1));
        let ready = buffers.take_ready(Instant::now(), |_| false, 12);
        assert_eq!(ready.len(), 1);
        assert_eq!(ready[0].0, ("t".to_string(), 0));
        assert_eq!(ready[0].1.iter().map(|r| r.offset).collect::<Vec<_>>(), vec![1, 2]);
        assert_eq!(buffers.len(), 1);
    }

    #[test]
    fn a_batch_is_due_after_the_wait() {
        let mut buffers = Buffers::new(100, Duration::from_millis(10));
        buffers.push(record(3, 7));
        let later = Instant::now() + Duration::from_millis(11);
        assert_eq!(buffers.time_until_due(later, |_| false), Some(Duration::ZERO));
        assert_eq!(buffers.take_ready(later, |_| false, 12).len(), 1);
        assert_eq!(buffers.time_until_due(later, |_| false), None);
    }

    #[test]
    fn revoked_partitions_are_taken_out() {
        let mut buffers = Buffers::new(100, Duration::from_secs(60));
        buffers.push(record(0, 1));
        buffers.push(record(1, 1));
        let taken = buffers.take_partitions(&[("t".to_string(), 1)]);
        assert_eq!(taken.len(), 1);
        assert_eq!(buffers.len(), 1);
    }

    #[test]
    fn blocked_partitions_keep_their_records_and_the_limit_prefers_full_batches() {
        let mut buffers = Buffers::new(2, Duration::from_millis(10));
        for (partition, offset) in [(0, 1), (0, 2), (1, 1), (1, 2), (2, 1)] {
            buffers.push(record(partition, offset));
        }
        let later = Instant::now() + Duration::from_millis(11);
        let blocked = |k: &PartitionKey| k.1 == 0;
        let ready = buffers.take_ready(later, blocked, 1);
        assert_eq!(ready.iter().map(|(k, _)| k.1).collect::<Vec<_>>(), vec![1], "the full batch first, the blocked one kept");
        assert_eq!(buffers.len(), 3);
        let largest = buffers.take_largest(blocked, 5);
        assert_eq!(largest.iter().map(|(k, _)| k.1).collect::<Vec<_>>(), vec![2]);
        assert_eq!(buffers.len(), 2);
    }
}
