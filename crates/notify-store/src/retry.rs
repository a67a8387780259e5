//! When a delivery is tried again, and what an answer means.
//!
//! The schedule is the wait before each attempt: by default at once, then
//! 5 s, 5 min, 30 min, 2 h, 5 h, 10 h and 10 h later (eight attempts over
//! about 28 hours), each wait but the first spread by up to ±10 % so that
//! deliveries failed together do not retry together. A `Retry-After` on a
//! 429 or 503 is honoured when it asks for longer (up to a day).

use std::time::{Duration, SystemTime};

/// The default schedule, as configuration writes it.
pub const DEFAULT_SCHEDULE: &str = "0s, 5s, 5m, 30m, 2h, 5h, 10h, 10h";
/// The most a `Retry-After` may postpone an attempt.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(86_400);
/// Attempts one schedule may hold.
const MAX_ATTEMPTS: usize = 20;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetrySchedule {
    /// The wait before attempt `n + 1`; the first is the wait before the
    /// first attempt (normally none).
    waits: Vec<Duration>,
}

impl Default for RetrySchedule {
    fn default() -> Self {
        RetrySchedule::parse(DEFAULT_SCHEDULE).unwrap_or(RetrySchedule { waits: vec![Duration::ZERO] })
    }
}

impl RetrySchedule {
    /// `0s, 5s, 5m, …`: one wait per attempt, at most a day each.
    pub fn parse(text: &str) -> Result<Self, String> {
        let waits = text
            .split(',')
            .map(str::trim)
            .map(|w| humantime::parse_duration(w).map_err(|_| format!("{w:?} is not a duration (e.g. 0s, 5s, 5m, 2h)")))
            .collect::<Result<Vec<_>, _>>()?;
        if waits.is_empty() || waits.len() > MAX_ATTEMPTS {
            return Err(format!("needs 1 to {MAX_ATTEMPTS} attempts"));
        }
        if let Some(long) = waits.iter().find(|w| **w > MAX_RETRY_AFTER) {
            return Err(format!("a wait of {} is longer than a day", humantime::format_duration(*long)));
        }
        Ok(RetrySchedule { waits })
    }

    pub fn attempts(&self) -> usize {
        self.waits.len()
    }

    /// The wait before the next attempt after `made` attempts failed, or
    /// `None` when the schedule is exhausted. `jitter` in `[0, 1)` spreads
    /// the wait by ±10 %; `retry_after` lengthens it.
    pub fn next_wait(&self, made: usize, retry_after: Option<Duration>, jitter: f64) -> Option<Duration> {
        let scheduled = *self.waits.get(made)?;
        let spread = scheduled.mul_f64(0.9 + 0.2 * jitter.clamp(0.0, 1.0));
        Some(retry_after.map_or(spread, |asked| spread.max(asked.min(MAX_RETRY_AFTER))))
    }
}

/// What one attempt's answer means for the delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// A 2xx within the timeout.
    Delivered,
    /// A redirect (never followed), a 5xx, a 429, a timeout or a failed
    /// connection: try again on schedule, not before `retry_after`.
    Retry { retry_after: Option<Duration> },
    /// 410: the receiver says the endpoint is gone; the channel is disabled.
    Gone,
    /// Any other 4xx: trying again would get the same answer; the next
    /// channel of the chain gets the notification.
    Permanent,
}

/// Judges an attempt: `status` is `None` when no answer came (timeout,
/// connection refused or reset); `retry_after` is the header's value.
pub fn judge(status: Option<u16>, retry_after: Option<&str>, now: SystemTime) -> Verdict {
    match status {
        Some(200..=299) => Verdict::Delivered,
        Some(410) => Verdict::Gone,
        Some(429 | 503) => Verdict::Retry { retry_after: retry_after.and_then(|v| parse_retry_after(v, now)) },
        Some(400..=499) => Verdict::Permanent,
        _ => Verdict::Retry { retry_after: None },
    }
}

/// `Retry-After` as seconds or as an HTTP date.
fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_schedule_is_eight_attempts_spread_by_ten_percent() {
        let schedule = RetrySchedule::default();
        assert_eq!(schedule.attempts(), 8);
        let hours = |h: u64| Duration::from_secs(h * 3_600);
        let mid: Vec<Duration> = (0..8).filter_map(|n| schedule.next_wait(n, None, 0.5)).collect();
        assert_eq!(
            mid,
            [
                Duration::ZERO,
                Duration::from_secs(5),
                Duration::from_secs(300),
                Duration::from_secs(1_800),
                hours(2),
                hours(5),
                hours(10),
                hours(10)
            ]
        );
        assert_eq!(schedule.next_wait(8, None, 0.5), None, "exhausted after the eighth attempt");
        assert_eq!(schedule.next_wait(1, None, 0.0), Some(Duration::from_millis(4_500)));
        assert_eq!(schedule.next_wait(1, None, 0.999_999).map(|d| d.as_millis()), Some(5_499));
        assert_eq!(schedule.next_wait(0, None, 0.9), Some(Duration::ZERO), "the first attempt is at once");
    }

    #[test]
    fn retry_after_lengthens_a_wait_but_never_past_a_day() {
        let schedule = RetrySchedule::default();
        assert_eq!(schedule.next_wait(1, Some(Duration::from_secs(120)), 0.5), Some(Duration::from_secs(120)));
        assert_eq!(schedule.next_wait(2, Some(Duration::from_secs(1)), 0.5), Some(Duration::from_secs(300)), "never shorter");
        assert_eq!(schedule.next_wait(1, Some(Duration::from_secs(10_000_000)), 0.5), Some(Duration::from_secs(86_400)));
    }

    #[test]
    fn answers_are_judged_as_the_delivery_contract_says() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(judge(Some(200), None, now), Verdict::Delivered);
        assert_eq!(judge(Some(204), None, now), Verdict::Delivered);
        assert_eq!(judge(Some(410), None, now), Verdict::Gone);
        assert_eq!(judge(Some(400), None, now), Verdict::Permanent);
        assert_eq!(judge(Some(404), Some("30"), now), Verdict::Permanent);
        for status in [Some(301), Some(302), Some(500), Some(502), None] {
            assert_eq!(judge(status, None, now), Verdict::Retry { retry_after: None }, "{status:?}");
        }
        assert_eq!(judge(Some(429), Some("30"), now), Verdict::Retry { retry_after: Some(Duration::from_secs(30)) });
        let date = httpdate::fmt_http_date(now + Duration::from_secs(90));
        assert_eq!(judge(Some(503), Some(&date), now), Verdict::Retry { retry_after: Some(Duration::from_secs(90)) });
        assert_eq!(judge(Some(503), Some("soon"), now), Verdict::Retry { retry_after: None });
        assert_eq!(judge(Some(500), Some("30"), now), Verdict::Retry { retry_after: None }, "only 429 and 503 carry one");
    }

    #[test]
    fn schedules_are_checked() {
        assert_eq!(RetrySchedule::parse("0s, 1m").map(|s| s.attempts()), Ok(2));
        assert!(RetrySchedule::parse("").is_err());
        assert!(RetrySchedule::parse("5x").is_err());
        assert!(RetrySchedule::parse("2d").is_err());
        assert!(RetrySchedule::parse(&vec!["1s"; 21].join(",")).is_err());
    }
}
