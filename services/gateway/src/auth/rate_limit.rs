//! Login attempts are limited per email and per client IP (token buckets,
//! in memory per gateway instance). A refused attempt looks like any other
//! failure to the caller, apart from the 429 and `Retry-After`.

use std::num::NonZeroU32;
use std::sync::Arc;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::problem::ApiError;

pub struct LoginLimiter {
    per_email: Arc<DefaultKeyedRateLimiter<String>>,
    per_ip: Arc<DefaultKeyedRateLimiter<String>>,
}

impl LoginLimiter {
    pub fn new(per_email_per_minute: u32, per_ip_per_minute: u32) -> Self {
        let quota = |n: u32| Quota::per_minute(NonZeroU32::new(n.max(1)).unwrap_or(NonZeroU32::MIN));
        Self {
            per_email: Arc::new(RateLimiter::keyed(quota(per_email_per_minute))),
            per_ip: Arc::new(RateLimiter::keyed(quota(per_ip_per_minute))),
        }
    }

    /// Spends one attempt for this email and IP; `RateLimited` when either is exhausted.
    pub fn check(&self, email: &str, ip: &str) -> Result<(), ApiError> {
        let clock = DefaultClock::default();
        for (limiter, key) in [(&self.per_email, email.to_ascii_lowercase()), (&self.per_ip, ip.to_owned())] {
            if let Err(not_until) = limiter.check_key(&key) {
                let wait = not_until.wait_time_from(clock.now());
                return Err(ApiError::RateLimited { retry_after_secs: wait.as_secs().max(1) });
            }
        }
        Ok(())
    }

    /// Spends one attempt of the IP's budget only (sign-ups: each costs a
    /// bcrypt hash, so an unlimited stream would load the CPU).
    pub fn check_ip(&self, ip: &str) -> Result<(), ApiError> {
        self.per_ip.check_key(&ip.to_owned()).map_err(|not_until| ApiError::RateLimited {
            retry_after_secs: not_until.wait_time_from(DefaultClock::default().now()).as_secs().max(1),
        })
    }

    /// Drops idle keys so memory stays bounded (called periodically).
    pub fn forget_idle(&self) {
        self.per_email.retain_recent();
        self.per_ip.retain_recent();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_email_runs_out_of_attempts_and_others_do_not() {
        let limiter = LoginLimiter::new(3, 100);
        for _ in 0..3 {
            limiter.check("a@example.com", "127.0.0.1").expect("within budget");
        }
        assert!(matches!(limiter.check("A@example.com", "127.0.0.2"), Err(ApiError::RateLimited { .. })), "case-insensitive");
        limiter.check("b@example.com", "127.0.0.1").expect("another email");
    }

    #[test]
    fn an_ip_runs_out_of_attempts_across_emails() {
        let limiter = LoginLimiter::new(100, 2);
        limiter.check("a@example.com", "10.0.0.1").expect("1");
        limiter.check("b@example.com", "10.0.0.1").expect("2");
        assert!(matches!(limiter.check("c@example.com", "10.0.0.1"), Err(ApiError::RateLimited { .. })));
    }
}
