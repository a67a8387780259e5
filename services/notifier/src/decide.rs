//! What becomes of a delivery after one attempt: pure, from where it stood
//! in its chain, the attempt's verdict and the schedule.
//!
//! The schedule counts attempts per channel: a retryable failure waits for
//! the channel's next slot; a permanent one (any 4xx but 410 and 429, a
//! refused address), a 410 (which also disables the channel), a channel
//! that is missing or disabled, or an exhausted schedule hands the
//! notification to the next channel of the chain, at once, with a fresh
//! schedule. After the last channel the delivery has failed.

use chrono::{DateTime, TimeDelta, Utc};
use signalops_notify_store::retry::{RetrySchedule, Verdict};

/// Where a delivery stood when it was claimed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    pub channel_index: usize,
    pub channel_attempts: u32,
    pub chain_len: usize,
}

/// What the attempt was, as the delivery log shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptOutcome {
    Delivered,
    /// Failed; the same channel is tried again.
    Retry,
    /// Failed for good on this channel (permanent, or its schedule exhausted).
    Failed,
    /// 410: the channel is disabled.
    Gone,
    /// The address policy refused the destination; nothing was sent.
    Refused,
    /// The channel is missing or disabled; nothing was sent.
    Skipped,
}

impl AttemptOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            AttemptOutcome::Delivered => "delivered",
            AttemptOutcome::Retry => "retry",
            AttemptOutcome::Failed => "failed",
            AttemptOutcome::Gone => "gone",
            AttemptOutcome::Refused => "refused",
            AttemptOutcome::Skipped => "skipped",
        }
    }
}

/// Where the delivery goes next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    Delivered,
    /// The same channel, at this time.
    Again {
        at: DateTime<Utc>,
    },
    /// The next channel of the chain, its first attempt at this time.
    Fallback {
        channel_index: usize,
        at: DateTime<Utc>,
    },
    /// No channel left.
    Failed,
}

impl Next {
    pub fn is_final(self) -> bool {
        matches!(self, Next::Delivered | Next::Failed)
    }
}

/// What an attempt amounted to: `None` when nothing could be sent
/// (missing or disabled channel); `refused` when the address policy said no.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tried {
    Skipped,
    Refused,
    Answered(Verdict),
}

fn wait(d: std::time::Duration) -> TimeDelta {
    TimeDelta::from_std(d).unwrap_or(TimeDelta::MAX)
}

/// `jitter` in `[0, 1)` spreads the schedule's waits (see `RetrySchedule`).
pub fn decide(at: Position, tried: Tried, schedule: &RetrySchedule, now: DateTime<Utc>, jitter: f64) -> (AttemptOutcome, Next) {
    let fallback = |outcome| {
        let next = at.channel_index + 1;
        if next < at.chain_len {
            let first = schedule.next_wait(0, None, jitter).map_or(TimeDelta::zero(), wait);
            (outcome, Next::Fallback { channel_index: next, at: now + first })
        } else {
            (outcome, Next::Failed)
        }
    };
    match tried {
        Tried::Answered(Verdict::Delivered) => (AttemptOutcome::Delivered, Next::Delivered),
        Tried::Answered(Verdict::Retry { retry_after }) => {
            let made = at.channel_attempts as usize + 1;
            match schedule.next_wait(made, retry_after, jitter) {
                Some(w) => (AttemptOutcome::Retry, Next::Again { at: now + wait(w) }),
                None => fallback(AttemptOutcome::Failed),
            }
        }
        Tried::Answered(Verdict::Gone) => fallback(AttemptOutcome::Gone),
        Tried::Answered(Verdict::Permanent) => fallback(AttemptOutcome::Failed),
        Tried::Refused => fallback(AttemptOutcome::Refused),
        Tried::Skipped => fallback(AttemptOutcome::Skipped),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).expect("time")
    }

    fn at(channel_index: usize, channel_attempts: u32) -> Position {
        Position { channel_index, channel_attempts, chain_len: 2 }
    }

    const RETRY: Tried = Tried::Answered(Verdict::Retry { retry_after: None });

    #[test]
    fn a_failure_waits_for_the_channels_next_slot_until_the_schedule_runs_out() {
        let schedule = RetrySchedule::default();
        let (outcome, next) = decide(at(0, 0), RETRY, &schedule, now(), 0.5);
        assert_eq!((outcome, next), (AttemptOutcome::Retry, Next::Again { at: now() + TimeDelta::seconds(5) }));
        let (_, next) = decide(at(0, 2), RETRY, &schedule, now(), 0.5);
        assert_eq!(next, Next::Again { at: now() + TimeDelta::minutes(30) }, "the fourth attempt waits 30 min");
        let (outcome, next) = decide(at(0, 7), RETRY, &schedule, now(), 0.5);
        assert_eq!(
            (outcome, next),
            (AttemptOutcome::Failed, Next::Fallback { channel_index: 1, at: now() }),
            "eighth failed: next channel"
        );
        let (outcome, next) = decide(at(1, 7), RETRY, &schedule, now(), 0.5);
        assert_eq!((outcome, next), (AttemptOutcome::Failed, Next::Failed), "no channel left");
    }

    #[test]
    fn retry_after_is_honoured_and_permanent_answers_fall_back_at_once() {
        let schedule = RetrySchedule::default();
        let asked = Tried::Answered(Verdict::Retry { retry_after: Some(Duration::from_secs(120)) });
        assert_eq!(decide(at(0, 0), asked, &schedule, now(), 0.5).1, Next::Again { at: now() + TimeDelta::seconds(120) });
        for (tried, outcome) in [
            (Tried::Answered(Verdict::Permanent), AttemptOutcome::Failed),
            (Tried::Answered(Verdict::Gone), AttemptOutcome::Gone),
            (Tried::Refused, AttemptOutcome::Refused),
            (Tried::Skipped, AttemptOutcome::Skipped),
        ] {
            assert_eq!(decide(at(0, 3), tried, &schedule, now(), 0.5), (outcome, Next::Fallback { channel_index: 1, at: now() }));
            assert_eq!(decide(at(1, 0), tried, &schedule, now(), 0.5), (outcome, Next::Failed));
        }
        let delivered = decide(at(1, 4), Tried::Answered(Verdict::Delivered), &schedule, now(), 0.5);
        assert_eq!(delivered, (AttemptOutcome::Delivered, Next::Delivered));
    }
}
