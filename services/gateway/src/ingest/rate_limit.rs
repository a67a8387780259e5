//! Per-API-key token buckets for ingest, reported with the `RateLimit-*`
//! headers (IETF draft) on every answer and `Retry-After` on 429.

use std::num::NonZeroU32;

use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};
use uuid::Uuid;

type KeyedLimiter = RateLimiter<Uuid, DefaultKeyedStateStore<Uuid>, DefaultClock, StateInformationMiddleware>;

pub struct IngestLimiter {
    limiter: KeyedLimiter,
    limit: u32,
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
}
