//! Per-API-key token buckets for ingest, reported with the `RateLimit-*`
//! headers (IETF draft) on every answer and `Retry-After` on 429.
//!
//! Requests spend their tokens at once or are refused. Streams are paced
//! instead (ADR 0020): each line waits for its token, at most `max_wait`;
//! only a line whose token would not come within that bound is refused.

use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};
use uuid::Uuid;

type KeyedLimiter = RateLimiter<Uuid, DefaultKeyedStateStore<Uuid>, DefaultClock, StateInformationMiddleware>;

pub struct IngestLimiter {
    limiter: KeyedLimiter,
    limit: u32,
    per_second: u32,
}

/// What the headers report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    pub limit: u32,
    pub remaining: u32,
    pub reset_secs: u64,
}

impl IngestLimiter {
    pub fn new(per_second: u32, burst: u32) -> Self {
        let per_second = NonZeroU32::new(per_second).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN);
        Self {
            limiter: RateLimiter::keyed(Quota::per_second(per_second).allow_burst(burst)).with_middleware::<StateInformationMiddleware>(),
            limit: burst.get(),
            per_second: per_second.get(),
        }
    }

    /// Spends one token per line of a stream, waiting for each at most
    /// `max_wait`: `Ok` for a line that got its token, `Err(seconds to
    /// wait)` for one that would have waited longer. Tokens are taken in
    /// pieces that refill within `max_wait`, so a lone stream is paced to
    /// the key's rate and never refused; lines are refused only when the
    /// key's traffic as a whole is beyond its rate by more than the bound.
    pub async fn pace(&self, key: Uuid, lines: usize, max_wait: Duration) -> Vec<Result<(), u64>> {
        let refills_in_bound = (f64::from(self.per_second) * max_wait.as_secs_f64()).floor() as usize;
        let piece_max = refills_in_bound.clamp(1, self.limit as usize);
        let mut outcomes = Vec::with_capacity(lines);
        while outcomes.len() < lines {
            let piece = piece_max.min(lines - outcomes.len());
            match self.take(key, piece, max_wait).await {
                Ok(()) => outcomes.extend(std::iter::repeat_n(Ok(()), piece)),
                Err(retry_after) if piece == 1 => outcomes.push(Err(retry_after)),
                // The whole piece would wait too long; some of its lines may not.
                Err(_) => {
                    for _ in 0..piece {
                        outcomes.push(self.take(key, 1, max_wait).await);
                    }
                }
            }
        }
        outcomes
    }

    /// Takes `n` (at most the burst) tokens, waiting up to `max_wait`.
    async fn take(&self, key: Uuid, n: usize, max_wait: Duration) -> Result<(), u64> {
        let n = NonZeroU32::new(u32::try_from(n).unwrap_or(u32::MAX)).unwrap_or(NonZeroU32::MIN);
        let deadline = tokio::time::Instant::now() + max_wait;
        loop {
            match self.limiter.check_key_n(&key, n) {
                Ok(Ok(_)) => return Ok(()),
                Ok(Err(not_until)) => {
                    let wait = not_until.wait_time_from(DefaultClock::default().now());
                    if tokio::time::Instant::now() + wait > deadline {
                        return Err(wait.as_secs().max(1));
                    }
                    tokio::time::sleep(wait).await;
                }
                Err(_insufficient) => return Err(1),
            }
        }
    }

    /// Spends `events` tokens of the key's bucket: `Ok(budget left)` or
    /// `Err(seconds to wait)`. A request larger than the whole burst can
    /// never pass, so it is told to wait a full refill and shrink.
    pub fn spend(&self, key: Uuid, events: u32) -> Result<Budget, u64> {
        let events = NonZeroU32::new(events.max(1)).unwrap_or(NonZeroU32::MIN);
        match self.limiter.check_key_n(&key, events) {
            Ok(Ok(snapshot)) => {
                let remaining = snapshot.remaining_burst_capacity();
                Ok(Budget { limit: self.limit, remaining, reset_secs: u64::from(self.limit.saturating_sub(remaining) > 0) })
            }
            Ok(Err(not_until)) => Err(not_until.wait_time_from(DefaultClock::default().now()).as_secs().max(1)),
            Err(_insufficient) => Err(1),
        }
    }

    pub fn limit(&self) -> u32 {
        self.limit
    }

    pub fn forget_idle(&self) {
        self.limiter.retain_recent();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_spends_its_burst_then_waits_and_other_keys_do_not() {
        let limiter = IngestLimiter::new(1, 10);
        let key = Uuid::now_v7();
        let budget = limiter.spend(key, 4).expect("within burst");
        assert_eq!((budget.limit, budget.remaining), (10, 6));
        limiter.spend(key, 6).expect("exactly the rest");
        assert!(limiter.spend(key, 1).is_err());
        limiter.spend(Uuid::now_v7(), 10).expect("another key has its own bucket");
        assert!(limiter.spend(Uuid::now_v7(), 11).is_err(), "more than the burst never passes");
    }

    #[tokio::test]
    async fn a_stream_is_paced_past_its_burst_and_only_lines_beyond_the_bound_are_refused() {
        let limiter = IngestLimiter::new(200, 50);
        let key = Uuid::now_v7();
        let started = std::time::Instant::now();
        let outcomes = limiter.pace(key, 150, Duration::from_secs(1)).await;
        assert!(outcomes.iter().all(Result::is_ok), "paced, not refused");
        assert!(started.elapsed() >= Duration::from_millis(400), "100 lines past the burst took their time at 200/s");

        let slow = IngestLimiter::new(1, 3);
        let outcomes = slow.pace(key, 5, Duration::from_millis(100)).await;
        assert_eq!(outcomes.iter().filter(|o| o.is_ok()).count(), 3, "{outcomes:?}");
        assert!(outcomes[3..].iter().all(Result::is_err), "a token a second cannot come within 100 ms");
    }
}
