//! Schemas for the OpenAPI document of values the engine serialises
//! itself (traces, verdicts, rendered actions, window and throttle
//! states). The handlers send the engine's serialisation; these describe it.
#![allow(dead_code)] // read by utoipa only

use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

/// One leaf of the condition as evaluated on one event, in written order.
#[derive(ToSchema)]
pub struct RuleTraceEntry {
    /// JSON Pointer of the leaf in the stored condition, e.g. `/all/1`.
    at: String,
    /// The leaf's path as written.
    path: String,
    /// What the path found; absent when the leaf was skipped or the path is missing.
    #[schema(value_type = Option<serde_json::Value>)]
    resolved: Option<Value>,
    /// Present (true) when the path found nothing.
    missing: Option<bool>,
    /// The operator, e.g. `gte`.
    op: String,
    /// The leaf's value as written (absent for `exists` / `missing`).
    #[schema(value_type = Option<serde_json::Value>)]
    expected: Option<Value>,
    /// `true`, `false` or `skipped`.
    result: String,
    /// Why the leaf was false or skipped, e.g. `path missing`, `type mismatch: string vs number`.
    reason: Option<String>,
}

/// What the firing step decided, tagged by `outcome`: `not_applicable` (the
/// event's type is not one of the rule's), `no_match`, `window_pending`
/// (with `window`), `key_missing`, `suppressed` (with `reason`) or `fired`.
#[derive(ToSchema)]
pub struct RuleVerdict {
    outcome: String,
    /// With `suppressed`: `{"kind": "throttled", "at_most": 1}`, `{"kind": "own_event"}`
    /// or `{"kind": "depth_cap", "depth": 3, "max_depth": 3}`.
    #[schema(value_type = Option<Object>)]
    reason: Option<Value>,
    /// With `window_pending`: `{"kind": "counted", "count": 1, "needed": 3}` or `{"kind": "too_old"}`.
    #[schema(value_type = Option<Object>)]
    window: Option<Value>,
}

/// One rendered action of a firing: `rendered` or `error`.
#[derive(ToSchema)]
pub struct RuleAction {
    /// The action's position in the rule.
    index: u32,
    /// Its deterministic id (from the event id, rule id, version and index).
    id: Uuid,
    /// `{"notify": {"id", "channels", "subject"?, "body"}}` or
    /// `{"emit": {"id", "type", "data", "causation"}}`.
    #[schema(value_type = Option<Object>)]
    rendered: Option<Value>,
    /// Why rendering failed (fuel, output size).
    error: Option<String>,
}

/// The window and throttle states of the event's keys.
#[derive(ToSchema)]
pub struct RuleStates {
    /// `{"window": {"kind": "key", "key": "c1"}, "throttle": {"kind": "not_used"}}`;
    /// a kind is `not_used`, `missing` (the keying path is missing) or `key`.
    #[schema(value_type = Object)]
    keys: Value,
    /// What the event saw: `{"window": {"events": [times], "newest"}, "throttle": {"fired": [times], "newest"}}`
    /// (only the ones the rule has and the event has a key for).
    #[schema(value_type = Object)]
    before: Value,
    /// The same after the event.
    #[schema(value_type = Object)]
    after: Value,
}

/// Where a derived event came from (to try the loop guard).
#[derive(ToSchema)]
pub struct RuleCausation {
    root_event_id: String,
    source_event_id: String,
    rule_id: Uuid,
    depth: u32,
}
