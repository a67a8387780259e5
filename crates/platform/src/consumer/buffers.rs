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

    /// Batches that are full or have waited long enough.
    pub(crate) fn take_ready(&mut self, now: Instant) -> Vec<(PartitionKey, Vec<Record>)> {
        let ready: Vec<PartitionKey> = self
            .pending
            .iter()
            .filter(|(_, p)| p.records.len() >= self.max_records || now.duration_since(p.since) >= self.max_wait)
            .map(|(k, _)| k.clone())
            .collect();
        ready.into_iter().filter_map(|k| self.pending.remove(&k).map(|p| (k, p.records))).collect()
    }

    pub(crate) fn take_partitions(&mut self, keys: &[PartitionKey]) -> Vec<(PartitionKey, Vec<Record>)> {
        keys.iter().filter_map(|k| self.pending.remove(k).map(|p| (k.clone(), p.records))).collect()
    }

    pub(crate) fn take_all(&mut self) -> Vec<(PartitionKey, Vec<Record>)> {
        self.pending.drain().map(|(k, p)| (k, p.records)).collect()
    }

    /// How long the loop may block in poll before some batch is due.
    pub(crate) fn time_until_due(&self, now: Instant) -> Option<Duration> {
        self.pending.values().map(|p| self.max_wait.saturating_sub(now.duration_since(p.since))).min()
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.pending.values().map(|p| p.records.len()).sum()
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
        let ready = buffers.take_ready(Instant::now());
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
        assert_eq!(buffers.time_until_due(later), Some(Duration::ZERO));
        assert_eq!(buffers.take_ready(later).len(), 1);
        assert_eq!(buffers.time_until_due(later), None);
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
}
