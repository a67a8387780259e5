//! One replay step as JSON: the trace, the verdict, the rendered actions
//! and the states, as dry runs and backtests answer them.

use serde_json::{Map, Value, json};
use signalops_rule_engine::{RuleStates, StateKey, StateKeys};
use signalops_rule_store::Step;
use signalops_rule_store::report::{VerdictView, verdict_actions};

pub(crate) fn trace(step: &Step<'_, '_>) -> Value {
    step.evaluation.as_ref().map_or_else(|| json!([]), |e| serde_json::to_value(&e.trace).unwrap_or_else(|_| json!([])))
}

pub(crate) fn matched(step: &Step<'_, '_>) -> bool {
    step.evaluation.as_ref().is_some_and(|e| e.matched)
}

pub(crate) fn verdict(step: &Step<'_, '_>) -> Value {
    serde_json::to_value(VerdictView::new(step.applies, &step.verdict)).unwrap_or(Value::Null)
}

pub(crate) fn actions(step: &Step<'_, '_>) -> Value {
    serde_json::to_value(verdict_actions(&step.verdict)).unwrap_or_else(|_| json!([]))
}

/// The states of the keys the event has: a rule without a window (or
/// throttle), or an event without its key, shows none.
pub(crate) fn states(keys: &StateKeys, states: &RuleStates) -> Value {
    let mut out = Map::new();
    if matches!(keys.window, StateKey::Key(_)) {
        out.insert("window".to_owned(), serde_json::to_value(&states.window).unwrap_or(Value::Null));
    }
    if matches!(keys.throttle, StateKey::Key(_)) {
        out.insert("throttle".to_owned(), serde_json::to_value(&states.throttle).unwrap_or(Value::Null));
    }
    Value::Object(out)
}
