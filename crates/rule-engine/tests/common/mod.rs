//! Helpers shared by the integration tests.
#![allow(dead_code)]

use chrono::{DateTime, Utc};
use serde_json::Value;
use signalops_rule_engine::{CompiledCondition, Evaluation, Event, parse};

/// 2026-01-01T00:00:00Z plus `seconds`.
pub fn at(seconds: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_767_225_600 + seconds, 0).expect("valid time")
}

pub fn event<'a>(event_type: &'a str, data: &'a Value) -> Event<'a> {
    Event {
        id: "01900000-0000-7000-8000-000000000001",
        event_type,
        source: "/billing",
        subject: Some("customer/42"),
        time: Some(at(-60)),
        received_at: at(0),
        data,
        causation: None,
    }
}

/// Parses and compiles a condition, panicking with its problems.
pub fn condition(json: Value) -> CompiledCondition {
    let parsed = parse::condition(&json).unwrap_or_else(|p| panic!("{json}: {p:?}"));
    CompiledCondition::compile(&parsed).unwrap_or_else(|p| panic!("{json}: {p:?}"))
}

/// The problems a condition is refused with, as `pointer: message`.
pub fn refused(json: Value) -> Vec<String> {
    match parse::condition(&json) {
        Ok(c) => panic!("{json} was accepted as {c:?}"),
        Err(problems) => problems.iter().map(ToString::to_string).collect(),
    }
}

/// Evaluates `json` on `data` (event type `payment.failed`).
pub fn eval(json: Value, data: &Value) -> bool {
    let c = condition(json);
    let e = event("payment.failed", data);
    let traced = c.evaluate(&e).matched;
    assert_eq!(traced, c.matches(&e), "traced and untraced evaluation disagree");
    traced
}

/// The reason of the single leaf of `json` on `data`, as text.
pub fn reason(json: Value, data: &Value) -> Option<String> {
    let c = condition(json);
    let e = event("payment.failed", data);
    let Evaluation { trace, .. } = c.evaluate(&e);
    assert_eq!(trace.len(), 1);
    trace[0].reason.map(|r| r.to_string())
}
