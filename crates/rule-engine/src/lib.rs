//! The SignalOps rule language, pure: parse, normalise, validate, evaluate
//! with a trace, window and throttle state machines, template rendering,
//! the loop guard and deterministic ids. Nothing here does I/O or reads a
//! clock: time comes in as the event's `received_at`, and window and
//! throttle state comes in and goes out as plain serialisable values.
//!
//! The language itself is described for users in `docs/rules.md`, its
//! decisions in ADR 0023, and its JSON Schema is
//! `schemas/rules/rule.schema.json`.
//!
//! # Using it
//!
//! At save time, [`validate`] checks a rule document and returns every
//! problem with its JSON Pointer, or the rule in normal form
//! ([`RuleVersion`], which serialises for storage):
//!
//! ```
//! use std::collections::HashSet;
//! use serde_json::json;
//! use signalops_rule_engine::{validate, ValidationContext};
//!
//! let channels: HashSet<String> = ["ops-email".to_owned()].into();
//! let context = ValidationContext { known_channels: Some(&channels) };
//! let problems = validate(&json!({
//!     "name": "Failed payments",
//!     "event_types": ["payment."],
//!     "when": {"all": [{"path": "/data/amount", "op": "gte", "value": 100}, {"path": "type", "op": "lt", "value": "x"}]},
//!     "actions": [{"notify": {"channels": ["pager"], "body": "{{ event.type }}"}}]
//! }), &context).unwrap_err();
//! let pointers: Vec<&str> = problems.iter().map(|p| p.pointer.as_str()).collect();
//! assert_eq!(pointers, ["/when/all/1/value", "/actions/0/notify/channels/0"]);
//! ```
//!
//! To run rules, compile each stored version once ([`CompiledRule`]), put a
//! tenant's rules in a [`RuleIndex`], and for each event:
//!
//! 1. take the [`RuleIndex::candidates`] for its type;
//! 2. [`CompiledRule::evaluate`] it (a [`Evaluation`] with the per-leaf trace);
//! 3. when it matched, load the window and throttle states for
//!    [`CompiledRule::state_keys`] (default states when none are stored);
//! 4. [`CompiledRule::fire`]: the loop guard, the window, the throttle,
//!    then the actions rendered with their deterministic ids
//!    ([`Verdict`]); store the updated states;
//! 5. delete states for which [`WindowState::is_expired`] /
//!    [`ThrottleState::is_expired`] hold.
//!
//! ```
//! use chrono::{DateTime, Utc};
//! use serde_json::json;
//! use signalops_rule_engine::*;
//!
//! let rule = CompiledRule::compile(
//!     RuleRef { id: uuid::Uuid::from_u128(1), version: 1 },
//!     &json!({
//!         "name": "High severity",
//!         "event_types": ["incident."],
//!         "when": {"equals": {"severity": "high"}},
//!         "actions": [{"notify": {"channels": ["ops"], "subject": "{{ event.type }}", "body": "{{ event.data.title }}"}}]
//!     }),
//!     &ValidationContext::default(),
//! ).unwrap();
//! let data = json!({"severity": "high", "title": "Disk full"});
//! let event = Event {
//!     id: "e1", event_type: "incident.opened", source: "/monitor", subject: None, time: None,
//!     received_at: DateTime::<Utc>::from_timestamp(1_767_225_600, 0).unwrap(), data: &data, causation: None,
//! };
//! let index = RuleIndex::new([rule]);
//! let rule = index.candidates(event.event_type)[0];
//! let evaluation = rule.evaluate(&event);
//! assert!(evaluation.matched);
//! let verdict = rule.fire(&evaluation, &event, &mut RuleStates::default(), &FireOptions::default());
//! let Verdict::Fired(actions) = verdict else { panic!("{verdict:?}") };
//! let Ok(RenderedAction::Notify(n)) = &actions[0].result else { panic!() };
//! assert_eq!((n.subject.as_deref(), n.body.as_str()), (Some("incident.opened"), "Disk full"));
//! ```

mod action;
pub mod causation;
mod compare;
mod compile;
pub mod condition;
pub mod duration;
mod eval;
pub mod event;
pub mod event_type;
pub mod ids;
pub mod index;
pub mod limits;
pub mod model;
pub mod parse;
pub mod path;
mod problem;
mod rule;
pub mod template;
pub mod throttle;
pub mod trace;
mod validate;
pub mod window;

pub use action::{ActionOutcome, DerivedEvent, Notification, RenderedAction};
pub use causation::{Causation, FireOptions, Suppression, loop_guard};
pub use condition::{Condition, Leaf, Operator, ReadAs};
pub use duration::{DurationError, RuleDuration};
pub use eval::{CompiledCondition, RequiredKey, RequiredValue};
pub use event::Event;
pub use event_type::EventTypePattern;
pub use ids::action_id;
pub use index::RuleIndex;
pub use model::{Action, EmitAction, NotifyAction, RuleVersion, Status};
pub use parse::normalise;
pub use path::{Path, PathError, Resolved};
pub use problem::Problem;
pub use rule::{CompiledRule, Outcome, RuleRef, RuleStates, StateKey, StateKeys, Verdict};
pub use template::RenderError;
pub use throttle::{ThrottleSpec, ThrottleState};
pub use trace::{Evaluation, LeafResult, LeafTrace, Reason};
pub use validate::{ValidationContext, validate};
pub use window::{WindowSpec, WindowState, WindowStep};
