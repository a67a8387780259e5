//! Verdicts and rendered actions as JSON, for the people who read them
//! (dry runs, backtests) and for `rule_firings.produced`.

use serde::Serialize;
use signalops_rule_engine::{ActionOutcome, RenderedAction, Suppression, Verdict, WindowStep};
use uuid::Uuid;

/// One action of a firing: what it rendered to, or why it failed.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ActionView {
    /// The action's position in the rule.
    pub index: u32,
    /// Its deterministic id (see `signalops_rule_engine::action_id`).
    pub id: Uuid,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rendered: Option<RenderedAction>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The actions of a firing, in order.
pub fn actions(outcomes: &[ActionOutcome]) -> Vec<ActionView> {
    outcomes
        .iter()
        .map(|o| {
            let (rendered, error) = match &o.result {
                Ok(r) => (Some(r.clone()), None),
                Err(e) => (None, Some(e.to_string())),
            };
            ActionView { index: o.index, id: o.id, rendered, error }
        })
        .collect()
}

/// A verdict, tagged by `outcome` (`{"outcome": "suppressed", "reason": {"kind": "throttled", "at_most": 1}}`).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum VerdictView {
    /// The event's type is not one of the rule's `event_types`.
    NotApplicable,
    NoMatch,
    Suppressed {
        reason: Suppression,
    },
    WindowPending {
        window: WindowStep,
    },
    KeyMissing,
    /// The rule fired; its rendered actions are reported next to the verdict.
    Fired,
}

impl VerdictView {
    pub fn new(applies: bool, verdict: &Verdict) -> Self {
        if !applies {
            return VerdictView::NotApplicable;
        }
        match verdict {
            Verdict::NoMatch => VerdictView::NoMatch,
            Verdict::Suppressed(reason) => VerdictView::Suppressed { reason: reason.clone() },
            Verdict::WindowPending(step) => VerdictView::WindowPending { window: *step },
            Verdict::KeyMissing => VerdictView::KeyMissing,
            Verdict::Fired(_) => VerdictView::Fired,
        }
    }
}

/// `rule_firings.outcome` and `reason` for a verdict that is recorded
/// (fired or suppressed); `None` for the others.
pub fn firing_outcome(verdict: &Verdict) -> Option<(&'static str, Option<String>)> {
    match verdict {
        Verdict::Fired(_) => Some(("fired", None)),
        Verdict::Suppressed(reason) => Some(("suppressed", Some(suppression_text(reason)))),
        Verdict::NoMatch | Verdict::WindowPending(_) | Verdict::KeyMissing => None,
    }
}

/// A suppression in words: `throttled`, `own_event`, `depth_cap`.
pub fn suppression_text(reason: &Suppression) -> String {
    match reason {
        Suppression::OwnEvent => "own_event".to_owned(),
        Suppression::DepthCap { .. } => "depth_cap".to_owned(),
        Suppression::Throttled { .. } => "throttled".to_owned(),
    }
}

/// The rendered actions of a verdict (empty unless it fired).
pub fn verdict_actions(verdict: &Verdict) -> Vec<ActionView> {
    match verdict {
        Verdict::Fired(outcomes) => actions(outcomes),
        _ => Vec::new(),
    }
}
