//! The counting window: `{"count": N, "within": "10m", "per": <path>}` fires
//! when the N-th matching event for one key arrives while the N events lie
//! within `within` of each other, measured on `received_at`:
//!
//! - **Inclusive bound.** An event exactly `within` older than the newest one
//!   still counts; one a nanosecond older does not.
//! - **Restart after firing.** A firing empties the window; the next firing
//!   needs N new events.
//! - **Out-of-order events.** The state keeps the newest `received_at` seen
//!   (its high-water mark). An event older than it by more than `within` is
//!   ignored (it cannot share a window with the newest); an older event
//!   inside that range counts. The state is a function of the events in
//!   order, so a replay in the same order computes the same firings.
//!
//! The state holds at most N - 1 timestamps and the high-water mark.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::duration::RuleDuration;

/// The window of a rule.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WindowSpec {
    /// How many matching events fire the rule.
    pub count: u32,
    /// How close together they must be.
    pub within: RuleDuration,
    /// The path whose value keys the window (one window per value); one
    /// window for the whole rule when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per: Option<String>,
}

/// The stored state of one window (one rule, one key).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WindowState {
    /// `received_at` of the counted events, oldest first.
    pub events: Vec<DateTime<Utc>>,
    /// The newest `received_at` recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub newest: Option<DateTime<Utc>>,
}

/// What recording one event did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum WindowStep {
    /// Counted; `count` of `needed` events are in the window now.
    Counted { count: u32, needed: u32 },
    /// Ignored: older than the newest event by more than `within`.
    TooOld,
    /// The N-th event: the rule fires and the window restarts.
    Reached { count: u32 },
}

impl WindowState {
    /// Records a matching event received at `at`.
    pub fn record(&mut self, spec: &WindowSpec, at: DateTime<Utc>) -> WindowStep {
        let newest = self.newest.map_or(at, |n| n.max(at));
        self.newest = Some(newest);
        let horizon = newest - spec.within.delta();
        if at < horizon {
            return WindowStep::TooOld;
        }
        let position = self.events.partition_point(|t| *t <= at);
        self.events.insert(position, at);
        self.events.retain(|t| *t >= horizon);
        let count = u32::try_from(self.events.len()).unwrap_or(u32::MAX);
        if count >= spec.count {
            self.events.clear();
            WindowStep::Reached { count }
        } else {
            WindowStep::Counted { count, needed: spec.count }
        }
    }

    /// True when no event received at `now` or later could see anything of
    /// this state, so deleting it changes no firing of such events.
    pub fn is_expired(&self, spec: &WindowSpec, now: DateTime<Utc>) -> bool {
        self.newest.is_none_or(|newest| now > newest + spec.within.delta())
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeDelta;

    use super::*;

    fn spec(count: u32, within: &str) -> WindowSpec {
        WindowSpec { count, within: RuleDuration::parse(within).expect("duration"), per: None }
    }

    fn t(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_767_225_600 + seconds, 0).expect("valid")
    }

    #[test]
    fn fires_on_the_nth_event_within_the_window_and_restarts() {
        let spec = spec(3, "10m");
        let mut state = WindowState::default();
        assert_eq!(state.record(&spec, t(0)), WindowStep::Counted { count: 1, needed: 3 });
        assert_eq!(state.record(&spec, t(60)), WindowStep::Counted { count: 2, needed: 3 });
        assert_eq!(state.record(&spec, t(120)), WindowStep::Reached { count: 3 });
        assert!(state.events.is_empty());
        assert_eq!(state.record(&spec, t(121)), WindowStep::Counted { count: 1, needed: 3 });
    }

    #[test]
    fn an_event_exactly_within_apart_still_counts() {
        let spec = spec(2, "10m");
        let mut state = WindowState::default();
        state.record(&spec, t(0));
        assert_eq!(state.record(&spec, t(600)), WindowStep::Reached { count: 2 });
    }

    #[test]
    fn an_event_just_over_within_apart_starts_over() {
        let spec = spec(2, "10m");
        let mut state = WindowState::default();
        state.record(&spec, t(0));
        let just_after = t(600) + TimeDelta::nanoseconds(1);
        assert_eq!(state.record(&spec, just_after), WindowStep::Counted { count: 1, needed: 2 });
        assert_eq!(state.events, vec![just_after]);
    }

    #[test]
    fn late_events_inside_the_window_count_and_older_ones_are_ignored() {
        let spec = spec(3, "10m");
        let mut state = WindowState::default();
        state.record(&spec, t(1_000));
        assert_eq!(state.record(&spec, t(399)), WindowStep::TooOld);
        assert_eq!(state.record(&spec, t(400)), WindowStep::Counted { count: 2, needed: 3 });
        assert_eq!(state.events, vec![t(400), t(1_000)]);
        assert_eq!(state.newest, Some(t(1_000)));
    }

    #[test]
    fn the_same_events_in_the_same_order_give_the_same_steps() {
        let spec = spec(3, "1m");
        let times = [t(50), t(10), t(55), t(200), t(0), t(230), t(240), t(241), t(100)];
        let run = || {
            let mut state = WindowState::default();
            let steps: Vec<WindowStep> = times.iter().map(|at| state.record(&spec, *at)).collect();
            (steps, state)
        };
        assert_eq!(run(), run());
    }

    #[test]
    fn the_state_never_holds_more_than_n_minus_one_timestamps() {
        let spec = spec(4, "1h");
        let mut state = WindowState::default();
        for i in 0..100 {
            state.record(&spec, t(i * 7 % 50));
            assert!(state.events.len() < 4);
        }
    }

    #[test]
    fn expiry_is_after_within_has_passed_since_the_newest_event() {
        let spec = spec(2, "10m");
        let mut state = WindowState::default();
        assert!(state.is_expired(&spec, t(0)));
        state.record(&spec, t(0));
        assert!(!state.is_expired(&spec, t(600)));
        assert!(state.is_expired(&spec, t(601)));
        // Deleting an expired state changes nothing for events at `now` or later.
        let mut fresh = WindowState::default();
        assert_eq!(state.record(&spec, t(601)), fresh.record(&spec, t(601)));
    }
}
