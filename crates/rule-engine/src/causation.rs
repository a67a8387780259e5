//! The loop guard. A derived event carries its causation: the root event
//! of its chain, the event it came from, the rule that emitted it and its
//! depth (an event from a backend has depth 0 and no causation; an event
//! derived from a depth-d event has depth d + 1). Two rules keep chains finite:
//!
//! - a rule never fires on an event that its own firing emitted, and
//! - no rule fires on an event whose depth has reached the cap (default
//!   [`DEFAULT_MAX_DEPTH`]), so no chain grows past the cap.
//!
//! A firing stopped here is reported as [`Suppression`], not dropped silently.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::limits::DEFAULT_MAX_DEPTH;

/// Where a derived event came from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Causation {
    /// The event at the start of the chain (sent by a backend).
    pub root_event_id: String,
    /// The event whose rule firing emitted this one.
    pub source_event_id: String,
    /// The rule that emitted this one.
    pub rule_id: Uuid,
    /// 1 for an event derived from a backend's event, and so on.
    pub depth: u32,
}

impl Causation {
    /// The causation of an event that `rule_id` emits while firing on the
    /// event `source_event_id` (whose own causation is `parent`).
    pub fn derived(source_event_id: &str, parent: Option<&Causation>, rule_id: Uuid) -> Causation {
        Causation {
            root_event_id: parent.map_or_else(|| source_event_id.to_owned(), |p| p.root_event_id.clone()),
            source_event_id: source_event_id.to_owned(),
            rule_id,
            depth: parent.map_or(0, |p| p.depth).saturating_add(1),
        }
    }
}

/// Why a rule whose condition matched did not fire.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Suppression {
    /// The event was emitted by this rule's own firing.
    OwnEvent,
    /// The event is at the depth cap; firing would derive a deeper event.
    DepthCap { depth: u32, max_depth: u32 },
    /// The throttle already allowed `at_most` firings within its period.
    Throttled { at_most: u32 },
}

/// Options of the firing step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FireOptions {
    /// No rule fires on an event of this depth or deeper.
    pub max_depth: u32,
}

impl Default for FireOptions {
    fn default() -> Self {
        FireOptions { max_depth: DEFAULT_MAX_DEPTH }
    }
}

/// Whether `rule_id` may fire on an event with `causation`.
pub fn loop_guard(rule_id: Uuid, causation: Option<&Causation>, options: &FireOptions) -> Result<(), Suppression> {
    let Some(c) = causation else { return Ok(()) };
    if c.rule_id == rule_id {
        return Err(Suppression::OwnEvent);
    }
    if c.depth >= options.max_depth {
        return Err(Suppression::DepthCap { depth: c.depth, max_depth: options.max_depth });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: Uuid = Uuid::from_u128(0xa);
    const B: Uuid = Uuid::from_u128(0xb);

    #[test]
    fn an_event_without_causation_may_fire_any_rule() {
        assert_eq!(loop_guard(A, None, &FireOptions::default()), Ok(()));
    }

    #[test]
    fn a_rule_never_fires_on_its_own_derived_event() {
        let c = Causation::derived("e0", None, A);
        assert_eq!(loop_guard(A, Some(&c), &FireOptions::default()), Err(Suppression::OwnEvent));
        assert_eq!(loop_guard(B, Some(&c), &FireOptions::default()), Ok(()));
    }

    #[test]
    fn depth_grows_along_the_chain_and_keeps_the_root() {
        let d1 = Causation::derived("e0", None, A);
        let d2 = Causation::derived("e1", Some(&d1), B);
        assert_eq!((d1.depth, d2.depth), (1, 2));
        assert_eq!(d2.root_event_id, "e0");
        assert_eq!(d2.source_event_id, "e1");
    }

    #[test]
    fn the_depth_cap_stops_firing_at_the_cap_and_not_below() {
        let options = FireOptions::default();
        let below = Causation { root_event_id: "r".into(), source_event_id: "s".into(), rule_id: B, depth: 2 };
        let at = Causation { depth: 3, ..below.clone() };
        assert_eq!(loop_guard(A, Some(&below), &options), Ok(()));
        assert_eq!(loop_guard(A, Some(&at), &options), Err(Suppression::DepthCap { depth: 3, max_depth: 3 }));
        assert_eq!(loop_guard(A, Some(&at), &FireOptions { max_depth: 4 }), Ok(()));
    }
}
