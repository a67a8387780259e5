//! Failed API-key authentications are limited per client address, so no
//! one can make the gateway look up invented keys at will. A token bucket
//! (`governor`, as for sign-in) counts failures; an address that runs out is
//! remembered as blocked until its next failure would be allowed again.
//! While blocked it gets 429 for every key that would need a Postgres
//! lookup and for every further failure; keys already verified and in
//! memory keep working, so one bad client behind a shared address does not
//! lock out the others' known keys.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::{Duration, Instant};

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::problem::ApiError;

/// Blocked addresses kept in memory at most.
const BLOCKED_CAPACITY: u64 = 100_000;

pub struct FailureLimiter {
    failures: DefaultKeyedRateLimiter<IpAddr>,
    blocked: moka::sync::Cache<IpAddr, Instant>,
}

impl FailureLimiter {
    pub fn new(per_minute: u32) -> Self {
        let quota = Quota::per_minute(NonZeroU32::new(per_minute).unwrap_or(NonZeroU32::MIN));
        Self {
            failures: RateLimiter::keyed(quota),
            // A block lasts at most one replenish interval (60 s / per_minute).
            blocked: moka::sync::Cache::builder().max_capacity(BLOCKED_CAPACITY).time_to_live(Duration::from_secs(60)).build(),
        }
    }

    /// 429 while `address` is blocked.
    pub fn check_blocked(&self, address: IpAddr) -> Result<(), ApiError> {
        match self.blocked.get(&address).and_then(|until| until.checked_duration_since(Instant::now())) {
            Some(wait) if !wait.is_zero() => Err(rate_limited(wait)),
            _ => Ok(()),
        }
    }

    /// Counts one failure of `address`: `failure` itself while the budget
    /// lasts, 429 once it is spent.
    pub fn record_failure(&self, address: IpAddr, failure: ApiError) -> ApiError {
        match self.failures.check_key(&address) {
            Ok(()) => failure,
            Err(not_until) => {
                let wait = not_until.wait_time_from(DefaultClock::default().now());
                self.blocked.insert(address, Instant::now() + wait);
                rate_limited(wait)
            }
        }
    }

    /// Drops idle addresses so memory stays bounded (called periodically).
    pub fn forget_idle(&self) {
        self.failures.retain_recent();
        self.blocked.run_pending_tasks();
    }
}

fn rate_limited(wait: Duration) -> ApiError {
    ApiError::RateLimited { retry_after_secs: wait.as_secs_f64().ceil().max(1.0) as u64 }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn local(last: u8) -> IpAddr {
        IpAddr::from([10, 0, 0, last])
    }

    #[test]
    fn an_address_gets_its_budget_of_failures_then_429_and_others_keep_theirs() {
        let limiter = FailureLimiter::new(3);
        for _ in 0..3 {
            assert!(matches!(limiter.record_failure(local(1), ApiError::Unauthorized("x")), ApiError::Unauthorized(_)));
        }
        limiter.check_blocked(local(1)).expect("not blocked before the budget is exceeded");
        let ApiError::RateLimited { retry_after_secs } = limiter.record_failure(local(1), ApiError::Unauthorized("x")) else {
            panic!("the fourth failure is 429")
        };
        // 3 per minute: the next attempt is allowed about 20 s later.
        assert!((1..=20).contains(&retry_after_secs), "{retry_after_secs}");
        assert!(matches!(limiter.check_blocked(local(1)), Err(ApiError::RateLimited { .. })));
        limiter.check_blocked(local(2)).expect("another address is not blocked");
        assert!(matches!(limiter.record_failure(local(2), ApiError::Unauthorized("x")), ApiError::Unauthorized(_)));
    }
}
