//! The throttle: `{"at_most": K, "per": "1h", "key": <path>}` lets at most K
//! firings through in any period of length `per`, measured on `received_at`;
//! the others are suppressed.
//!
//! - **Half-open period.** A firing stops counting once `per` has passed:
//!   a firing exactly `per` after an earlier one does not see it.
//! - **Out-of-order events.** As for windows, the state keeps the newest
//!   `received_at` seen and counts the allowed firings of the period that
//!   ends there, so replaying the same events in the same order computes the
//!   same result.
//!
//! The state holds at most K timestamps and the high-water mark.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::duration::RuleDuration;

/// The throttle of a rule.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThrottleSpec {
    /// Most firings per period.
    pub at_most: u32,
    /// The period.
    pub per: RuleDuration,
    /// The path whose value keys the throttle (one per value); one throttle
    /// for the whole rule when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

/// The stored state of one throttle (one rule, one key).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThrottleState {
    /// `received_at` of the firings let through, oldest first.
    pub fired: Vec<DateTime<Utc>>,
    /// The newest `received_at` seen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub newest: Option<DateTime<Utc>>,
}

impl ThrottleState {
    /// Asks to fire at `at`: `true` lets the firing through (and counts it),
    /// `false` suppresses it.
    pub fn allow(&mut self, spec: &ThrottleSpec, at: DateTime<Utc>) -> bool {
        let newest = self.newest.map_or(at, |n| n.max(at));
        self.newest = Some(newest);
        let horizon = newest - spec.per.delta();
        self.fired.retain(|t| *t > horizon);
        if u32::try_from(self.fired.len()).unwrap_or(u32::MAX) >= spec.at_most {
            return false;
        }
        if at > horizon {
            let position = self.fired.partition_point(|t| *t <= at);
            self.fired.insert(position, at);
        }
        true
    }

    /// True when no firing at `now` or later could see anything of this
    /// state, so deleting it changes no result for such firings.
    pub fn is_expired(&self, spec: &ThrottleSpec, now: DateTime<Utc>) -> bool {
        self.newest.is_none_or(|newest| now >= newest + spec.per.delta())
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeDelta;

    use super::*;

    fn spec(at_most: u32, per: &str) -> ThrottleSpec {
        ThrottleSpec { at_most, per: RuleDuration::parse(per).expect("duration"), key: None }
    }

    fn t(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_767_225_600 + seconds, 0).expect("valid")
    }

    #[test]
    fn lets_k_through_per_period_and_suppresses_the_rest() {
        let spec = spec(2, "1h");
        let mut state = ThrottleState::default();
        assert!(state.allow(&spec, t(0)));
        assert!(state.allow(&spec, t(10)));
        assert!(!state.allow(&spec, t(20)));
        assert!(!state.allow(&spec, t(3_599)));
    }

    #[test]
    fn a_firing_exactly_per_later_is_let_through() {
        let spec = spec(1, "1h");
        let mut state = ThrottleState::default();
        assert!(state.allow(&spec, t(0)));
        assert!(!state.allow(&spec, t(3_600) - TimeDelta::nanoseconds(1)));
        assert!(state.allow(&spec, t(3_600)));
    }

    #[test]
    fn the_state_never_holds_more_than_k_timestamps() {
        let spec = spec(3, "1h");
        let mut state = ThrottleState::default();
        for i in 0..100 {
            state.allow(&spec, t(i * 13 % 40));
            assert!(state.fired.len() <= 3);
        }
    }

    #[test]
    fn out_of_order_firings_are_deterministic() {
        let spec = spec(2, "1m");
        let times = [t(30), t(0), t(10), t(100), t(45), t(160), t(161), t(220)];
        let run = || {
            let mut state = ThrottleState::default();
            let allowed: Vec<bool> = times.iter().map(|at| state.allow(&spec, *at)).collect();
            (allowed, state)
        };
        let (allowed, _) = run();
        assert_eq!(allowed, vec![true, true, false, true, true, true, true, true]);
        assert_eq!(run(), run());
    }

    #[test]
    fn expiry_is_once_per_has_passed_since_the_newest_firing() {
        let spec = spec(1, "1h");
        let mut state = ThrottleState::default();
        assert!(state.is_expired(&spec, t(0)));
        state.allow(&spec, t(0));
        assert!(!state.is_expired(&spec, t(3_599)));
        assert!(state.is_expired(&spec, t(3_600)));
        let mut fresh = ThrottleState::default();
        assert_eq!(state.allow(&spec, t(3_600)), fresh.allow(&spec, t(3_600)));
    }
}
