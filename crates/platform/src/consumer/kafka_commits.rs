//! The offsets this member owes Kafka. Kafka's committed offsets serve lag
//! tooling only (Postgres is authoritative), but the broker refuses commits
//! now and then (a rebalance in progress, a moving coordinator), and a
//! partition that receives no further record would then show a lag that
//! nothing clears. So each owned partition's latest offset is offered again
//! until the broker confirms it.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use super::buffers::PartitionKey;

/// How long an unconfirmed commit waits before it is offered again.
pub(crate) const RETRY_AFTER: Duration = Duration::from_secs(1);

#[derive(Default)]
pub(crate) struct KafkaCommits {
    owed: HashMap<PartitionKey, Owed>,
}

struct Owed {
    next: i64,
    confirmed: bool,
    sent_at: Option<Instant>,
}

impl KafkaCommits {
    /// `next` committed in Postgres for `key` (or found stored there on
    /// assignment): Kafka should hear of it. Offsets only move forward
    /// within an assignment.
    pub(crate) fn owe(&mut self, key: PartitionKey, next: i64) {
        match self.owed.get_mut(&key) {
            Some(owed) if owed.next >= next => {}
            Some(owed) => *owed = Owed { next, confirmed: false, sent_at: None },
            None => {
                self.owed.insert(key, Owed { next, confirmed: false, sent_at: None });
            }
        }
    }

    /// Starts an assignment afresh at the offset stored in Postgres.
    pub(crate) fn assigned(&mut self, key: PartitionKey, next: i64) {
        self.owed.insert(key, Owed { next, confirmed: false, sent_at: None });
    }

    /// What to send now: offsets never sent, and offsets sent at least
    /// `RETRY_AFTER` ago and not confirmed since.
    pub(crate) fn due(&mut self, now: Instant) -> Vec<(PartitionKey, i64)> {
        let mut due = Vec::new();
        for (key, owed) in &mut self.owed {
            let waiting = owed.sent_at.is_some_and(|sent| now.saturating_duration_since(sent) < RETRY_AFTER);
            if !owed.confirmed && !waiting {
                owed.sent_at = Some(now);
                due.push((key.clone(), owed.next));
            }
        }
        due
    }

    /// The broker stored `next` for `key`. An older confirmation arriving
    /// after a newer offset was owed settles nothing.
    pub(crate) fn confirmed(&mut self, key: &PartitionKey, next: i64) {
        if let Some(owed) = self.owed.get_mut(key)
            && owed.next == next
        {
            owed.confirmed = true;
        }
    }

    /// The partitions went to another member, which reports them from now on.
    pub(crate) fn forget(&mut self, keys: &[PartitionKey]) {
        for key in keys {
            self.owed.remove(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(partition: i32) -> PartitionKey {
        ("t".to_owned(), partition)
    }

    #[test]
    fn an_owed_offset_is_sent_at_once_and_again_until_confirmed() {
        let mut commits = KafkaCommits::default();
        let start = Instant::now();
        commits.owe(key(3), 882);
        assert_eq!(commits.due(start), vec![(key(3), 882)]);
        assert!(commits.due(start + RETRY_AFTER / 2).is_empty(), "a commit in flight is not sent twice at once");
        assert_eq!(commits.due(start + RETRY_AFTER), vec![(key(3), 882)], "refused or unanswered, it is offered again");
        commits.confirmed(&key(3), 882);
        assert!(commits.due(start + RETRY_AFTER * 5).is_empty(), "confirmed, it is settled");
    }

    #[test]
    fn a_newer_offset_supersedes_and_a_stale_confirmation_settles_nothing() {
        let mut commits = KafkaCommits::default();
        let start = Instant::now();
        commits.owe(key(0), 10);
        assert_eq!(commits.due(start), vec![(key(0), 10)]);
        commits.owe(key(0), 20);
        commits.owe(key(0), 15);
        assert_eq!(commits.due(start), vec![(key(0), 20)], "the newest offset goes at once");
        commits.confirmed(&key(0), 10);
        assert_eq!(commits.due(start + RETRY_AFTER), vec![(key(0), 20)]);
        commits.confirmed(&key(0), 20);
        assert!(commits.due(start + RETRY_AFTER * 2).is_empty());
    }

    #[test]
    fn an_assignment_starts_afresh_and_a_revocation_forgets() {
        let mut commits = KafkaCommits::default();
        let start = Instant::now();
        commits.owe(key(1), 50);
        commits.confirmed(&key(1), 50);
        commits.forget(&[key(1)]);
        commits.assigned(key(1), 40);
        assert_eq!(commits.due(start), vec![(key(1), 40)], "the stored offset of the new assignment, even if lower");
        commits.forget(&[key(1)]);
        assert!(commits.due(start + RETRY_AFTER).is_empty(), "another member owns it now");
    }
}
