//! One compiled rule folded over events in order, with window and throttle
//! states in memory, starting empty. It is the firing pipeline the rules
//! group runs per event, minus storage:
//!
//! 1. the rule applies only to its `event_types` (as `RuleIndex` selects it);
//! 2. the condition is evaluated with its trace;
//! 3. a matching event reads the window and throttle states of its keys
//!    (an empty state for a key not seen yet), the firing step updates them,
//!    and they are kept for the next event.
//!
//! The states are a function of the events in order, so folding the same
//! events in the same order always gives the same verdicts: a backtest and
//! a dry run of sample events are this fold, and the live group, which
//! stores the same states between batches, decides the same.
//!
//! [`Replay::forget_expired`] drops states that can no longer change a
//! verdict of an event received at `now` or later, which bounds memory
//! when the events come in `received_at` order.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use signalops_rule_engine::{
    CompiledRule, Evaluation, Event, FireOptions, RuleStates, StateKey, StateKeys, ThrottleState, Verdict, WindowState,
};

/// The in-memory states of one rule and the fold over its events.
#[derive(Debug)]
pub struct Replay<'r> {
    rule: &'r CompiledRule,
    options: FireOptions,
    windows: HashMap<String, WindowState>,
    throttles: HashMap<String, ThrottleState>,
}

/// What one event did.
#[derive(Debug)]
pub struct Step<'r, 'e> {
    /// False when the event's type is not one of the rule's `event_types`
    /// (then there is no evaluation and the verdict is `NoMatch`).
    pub applies: bool,
    pub evaluation: Option<Evaluation<'r, 'e>>,
    /// The keys of the states the event touches.
    pub keys: StateKeys,
    pub verdict: Verdict,
}

impl<'r> Replay<'r> {
    pub fn new(rule: &'r CompiledRule, options: FireOptions) -> Self {
        Replay { rule, options, windows: HashMap::new(), throttles: HashMap::new() }
    }

    /// The rule being folded.
    pub fn rule(&self) -> &'r CompiledRule {
        self.rule
    }

    /// The states an event with `keys` would read now.
    pub fn states(&self, keys: &StateKeys) -> RuleStates {
        RuleStates {
            window: key(&keys.window).and_then(|k| self.windows.get(k)).cloned().unwrap_or_default(),
            throttle: key(&keys.throttle).and_then(|k| self.throttles.get(k)).cloned().unwrap_or_default(),
        }
    }

    /// Folds the next event in.
    pub fn step<'e>(&mut self, event: &Event<'e>) -> Step<'r, 'e> {
        let rule: &'r CompiledRule = self.rule;
        let keys = rule.state_keys(event);
        if !rule.applies_to(event.event_type) {
            return Step { applies: false, evaluation: None, keys, verdict: Verdict::NoMatch };
        }
        let evaluation = rule.evaluate(event);
        if !evaluation.matched {
            return Step { applies: true, evaluation: Some(evaluation), keys, verdict: Verdict::NoMatch };
        }
        let mut states = RuleStates {
            window: key(&keys.window).and_then(|k| self.windows.remove(k)).unwrap_or_default(),
            throttle: key(&keys.throttle).and_then(|k| self.throttles.remove(k)).unwrap_or_default(),
        };
        let verdict = rule.fire(&evaluation, event, &mut states, &self.options);
        if let Some(k) = key(&keys.window)
            && states.window != WindowState::default()
        {
            self.windows.insert(k.to_owned(), states.window);
        }
        if let Some(k) = key(&keys.throttle)
            && states.throttle != ThrottleState::default()
        {
            self.throttles.insert(k.to_owned(), states.throttle);
        }
        Step { applies: true, evaluation: Some(evaluation), keys, verdict }
    }

    /// Drops the states no event received at `now` or later can see.
    pub fn forget_expired(&mut self, now: DateTime<Utc>) {
        let version = self.rule.version();
        if let Some(spec) = &version.window {
            self.windows.retain(|_, state| !state.is_expired(spec, now));
        }
        if let Some(spec) = &version.throttle {
            self.throttles.retain(|_, state| !state.is_expired(spec, now));
        }
    }

    /// How many keyed states are held.
    pub fn state_count(&self) -> usize {
        self.windows.len() + self.throttles.len()
    }
}

fn key(key: &StateKey) -> Option<&str> {
    match key {
        StateKey::Key(k) => Some(k),
        StateKey::NotUsed | StateKey::Missing => None,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};
    use signalops_rule_engine::{RuleRef, Suppression, ValidationContext, WindowStep};
    use uuid::Uuid;

    use super::*;

    fn rule(extra: Value) -> CompiledRule {
        let mut doc = json!({
            "name": "Failures", "event_types": ["payment.failed"],
            "when": {"path": "/data/amount", "op": "gt", "value": 0},
            "actions": [{"notify": {"channels": ["ops"], "body": "{{ event.data.customer }}"}}]
        });
        for (k, v) in extra.as_object().expect("object") {
            doc[k] = v.clone();
        }
        CompiledRule::compile(RuleRef { id: Uuid::from_u128(7), version: 1 }, &doc, &ValidationContext::default()).expect("valid")
    }

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_767_225_600 + seconds, 0).expect("time")
    }

    fn run(rule: &CompiledRule, events: &[(&str, Value, i64)]) -> Vec<Verdict> {
        let mut replay = Replay::new(rule, FireOptions::default());
        let ids: Vec<String> = (0..events.len()).map(|i| format!("e{i}")).collect();
        events
            .iter()
            .zip(&ids)
            .map(|((event_type, data, seconds), id)| {
                let event =
                    Event { id, event_type, source: "/t", subject: None, time: None, received_at: at(*seconds), data, causation: None };
                replay.step(&event).verdict
            })
            .collect()
    }

    fn fired(verdicts: &[Verdict]) -> Vec<usize> {
        verdicts.iter().enumerate().filter(|(_, v)| matches!(v, Verdict::Fired(_))).map(|(i, _)| i).collect()
    }

    #[test]
    fn windows_are_kept_per_key_across_events_and_restart_after_firing() {
        let rule = rule(json!({"window": {"count": 2, "within": "10m", "per": "/data/customer"}}));
        let a = json!({"amount": 1, "customer": "a"});
        let b = json!({"amount": 1, "customer": "b"});
        let verdicts = run(
            &rule,
            &[
                ("payment.failed", a.clone(), 0),
                ("payment.failed", b.clone(), 1),
                ("payment.failed", a.clone(), 2),
                ("payment.failed", a.clone(), 3),
                ("payment.failed", b, 700),
            ],
        );
        assert_eq!(fired(&verdicts), [2]);
        assert_eq!(verdicts[3], Verdict::WindowPending(WindowStep::Counted { count: 1, needed: 2 }));
        assert_eq!(
            verdicts[4],
            Verdict::WindowPending(WindowStep::Counted { count: 1, needed: 2 }),
            "b's first event is out of its window"
        );
    }

    #[test]
    fn other_types_and_non_matching_events_leave_the_states_alone() {
        let rule = rule(json!({"window": {"count": 2, "within": "10m"}}));
        let hit = json!({"amount": 1});
        let miss = json!({"amount": 0});
        let verdicts = run(
            &rule,
            &[
                ("payment.failed", hit.clone(), 0),
                ("payment.sent", hit.clone(), 1),
                ("payment.failed", miss, 2),
                ("payment.failed", hit, 3),
            ],
        );
        assert_eq!(fired(&verdicts), [3]);
    }

    #[test]
    fn the_throttle_suppresses_within_its_period_per_key() {
        let rule = rule(json!({"throttle": {"at_most": 1, "per": "1h"}}));
        let hit = json!({"amount": 1});
        let verdicts =
            run(&rule, &[("payment.failed", hit.clone(), 0), ("payment.failed", hit.clone(), 60), ("payment.failed", hit, 3_600)]);
        assert_eq!(fired(&verdicts), [0, 2]);
        assert_eq!(verdicts[1], Verdict::Suppressed(Suppression::Throttled { at_most: 1 }));
    }

    #[test]
    fn forgetting_expired_states_changes_no_later_verdict() {
        let rule = rule(json!({"window": {"count": 2, "within": "1m", "per": "/data/customer"}}));
        let events: Vec<(String, DateTime<Utc>)> = (0..200).map(|i| (format!("c{}", i / 3), at(i * 13))).collect();
        let fold = |forget: bool| {
            let mut replay = Replay::new(&rule, FireOptions::default());
            let mut out = Vec::new();
            for (i, (customer, received_at)) in events.iter().enumerate() {
                if forget {
                    replay.forget_expired(*received_at);
                }
                let data = json!({"amount": 1, "customer": customer});
                let id = format!("e{i}");
                let event = Event {
                    id: &id,
                    event_type: "payment.failed",
                    source: "/t",
                    subject: None,
                    time: None,
                    received_at: *received_at,
                    data: &data,
                    causation: None,
                };
                out.push(replay.step(&event).verdict);
            }
            (out, replay.state_count())
        };
        let (kept, kept_states) = fold(false);
        let (forgot, forgot_states) = fold(true);
        assert_eq!(kept, forgot);
        assert!(kept.iter().any(|v| matches!(v, Verdict::Fired(_))), "the windows fire");
        assert!(forgot_states < kept_states, "{forgot_states} vs {kept_states}");
    }
}
