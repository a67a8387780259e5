//! A compiled rule and its firing step: the loop guard, then the window,
//! then the throttle, then the actions rendered with their ids.

use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;

use crate::action::{self, ActionOutcome, CompiledAction, RenderInput};
use crate::causation::{Causation, FireOptions, Suppression, loop_guard};
use crate::eval::{CompiledCondition, RequiredValue};
use crate::event::{Event, EventContext, rfc3339};
use crate::event_type::EventTypePattern;
use crate::ids::action_id;
use crate::model::{RuleVersion, Status};
use crate::path::{Path, Resolved};
use crate::problem::Problem;
use crate::template::Templates;
use crate::throttle::{ThrottleSpec, ThrottleState};
use crate::trace::Evaluation;
use crate::validate::{ValidationContext, validate};
use crate::window::{WindowSpec, WindowState, WindowStep};

/// Which rule and which version of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct RuleRef {
    pub id: Uuid,
    pub version: u32,
}

/// A rule ready to run: validated, with paths, regexes, times and templates
/// compiled once.
#[derive(Debug)]
pub struct CompiledRule {
    rule: RuleRef,
    version: RuleVersion,
    patterns: Vec<EventTypePattern>,
    condition: CompiledCondition,
    window: Option<(WindowSpec, Option<Path>)>,
    throttle: Option<(ThrottleSpec, Option<Path>)>,
    actions: Vec<CompiledAction>,
    templates: Templates,
}

/// The key of one state of a rule for one event.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(tag = "kind", content = "key", rename_all = "snake_case")]
pub enum StateKey {
    /// The rule has no window (or throttle).
    NotUsed,
    /// The keying path is missing from the event.
    Missing,
    /// The key: a string value as it is, any other value as its JSON text;
    /// the empty string when the rule keys nothing (one state per rule).
    Key(String),
}

/// The keys of the window and the throttle state an event touches.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct StateKeys {
    pub window: StateKey,
    pub throttle: StateKey,
}

/// The states the firing step reads and updates, loaded by the caller for
/// the [`StateKeys`] of the event (a default state when none is stored).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RuleStates {
    pub window: WindowState,
    pub throttle: ThrottleState,
}

/// What the firing step decided.
#[derive(Clone, Debug, PartialEq)]
pub enum Verdict {
    /// The condition did not match.
    NoMatch,
    /// The condition matched, but the loop guard or the throttle stopped the firing.
    Suppressed(Suppression),
    /// The condition matched and the window counted (or ignored) the event.
    WindowPending(WindowStep),
    /// The window's or throttle's key path is missing: the event is not counted.
    KeyMissing,
    /// The rule fired.
    Fired(Vec<ActionOutcome>),
}

/// [`CompiledRule::process`]'s result: the evaluation and the verdict.
#[derive(Debug)]
pub struct Outcome<'r, 'e> {
    pub evaluation: Evaluation<'r, 'e>,
    pub verdict: Verdict,
}

#[derive(Serialize)]
struct TemplateContext<'a> {
    event: EventContext<'a>,
    rule: RuleContext<'a>,
}

#[derive(Serialize)]
struct RuleContext<'a> {
    id: Uuid,
    version: u32,
    name: &'a str,
}

fn problems(found: Vec<(String, String)>) -> Vec<Problem> {
    found.into_iter().map(|(pointer, message)| Problem { pointer, message }).collect()
}

impl CompiledRule {
    /// Validates a rule document and compiles it.
    pub fn compile(rule: RuleRef, raw: &Value, context: &ValidationContext<'_>) -> Result<Self, Vec<Problem>> {
        let version = validate(raw, context)?;
        let patterns = version.event_types.iter().map(|t| EventTypePattern::parse(t)).collect::<Result<Vec<_>, _>>();
        let patterns = patterns.map_err(|m| problems(vec![("/event_types".to_owned(), m)]))?;
        let condition = CompiledCondition::compile(&version.when).map_err(|found| {
            found.into_iter().map(|p| Problem { pointer: format!("/when{}", p.pointer), message: p.message }).collect::<Vec<_>>()
        })?;
        let path = |text: &Option<String>, at: &str| -> Result<Option<Path>, Vec<Problem>> {
            text.as_deref().map(Path::parse).transpose().map_err(|e| problems(vec![(at.to_owned(), e.to_string())]))
        };
        let window = match &version.window {
            Some(w) => Some((w.clone(), path(&w.per, "/window/per")?)),
            None => None,
        };
        let throttle = match &version.throttle {
            Some(t) => Some((t.clone(), path(&t.key, "/throttle/key")?)),
            None => None,
        };
        let mut templates = Templates::new();
        let actions = action::compile(&version.actions, &mut templates).map_err(problems)?;
        Ok(CompiledRule { rule, version, patterns, condition, window, throttle, actions, templates })
    }

    /// Compiles a stored version (no channel check: see [`ValidationContext`]).
    pub fn from_version(rule: RuleRef, version: &RuleVersion) -> Result<Self, Vec<Problem>> {
        let raw = serde_json::to_value(version)
            .map_err(|e| vec![Problem { pointer: String::new(), message: format!("rule does not serialise: {e}") }])?;
        CompiledRule::compile(rule, &raw, &ValidationContext::default())
    }

    /// Which rule and version this is.
    pub fn rule(&self) -> RuleRef {
        self.rule
    }

    /// The rule version, in normal form.
    pub fn version(&self) -> &RuleVersion {
        &self.version
    }

    /// The parsed `event_types`.
    pub fn event_types(&self) -> &[EventTypePattern] {
        &self.patterns
    }

    /// Whether the rule is active (a paused rule is left out of a [`crate::RuleIndex`]).
    pub fn is_active(&self) -> bool {
        self.version.status == Status::Active
    }

    /// Whether the rule runs on events of this type.
    pub fn applies_to(&self, event_type: &str) -> bool {
        self.patterns.iter().any(|p| p.matches(event_type))
    }

    /// A path and the value it must equal for the rule to match, when its
    /// condition has such a leaf at the top; [`RuleIndex::for_event`] uses it.
    ///
    /// [`RuleIndex::for_event`]: crate::RuleIndex::for_event
    pub fn required(&self) -> Option<(&Path, &RequiredValue)> {
        self.condition.required()
    }

    /// Whether the condition matches (no trace, no allocation).
    pub fn matches(&self, event: &Event<'_>) -> bool {
        self.condition.matches(event)
    }

    /// The condition's result with its trace.
    pub fn evaluate<'r, 'e>(&'r self, event: &Event<'e>) -> Evaluation<'r, 'e> {
        self.condition.evaluate(event)
    }

    /// The keys of the states an event touches.
    pub fn state_keys(&self, event: &Event<'_>) -> StateKeys {
        StateKeys {
            window: self.window.as_ref().map_or(StateKey::NotUsed, |(_, per)| key(per.as_ref(), event)),
            throttle: self.throttle.as_ref().map_or(StateKey::NotUsed, |(_, key_path)| key(key_path.as_ref(), event)),
        }
    }

    /// The firing step for an evaluated event: the loop guard, then the
    /// window, then the throttle, then the actions. `states` are the states
    /// for [`Self::state_keys`] of the event, updated in place; the caller
    /// stores them. A window that reaches its count restarts even when the
    /// throttle then suppresses the firing.
    pub fn fire(&self, evaluation: &Evaluation<'_, '_>, event: &Event<'_>, states: &mut RuleStates, options: &FireOptions) -> Verdict {
        if !evaluation.matched {
            return Verdict::NoMatch;
        }
        if let Err(suppression) = loop_guard(self.rule.id, event.causation, options) {
            return Verdict::Suppressed(suppression);
        }
        let keys = self.state_keys(event);
        if keys.window == StateKey::Missing || keys.throttle == StateKey::Missing {
            return Verdict::KeyMissing;
        }
        if let Some((spec, _)) = &self.window {
            let step = states.window.record(spec, event.received_at);
            if !matches!(step, WindowStep::Reached { .. }) {
                return Verdict::WindowPending(step);
            }
        }
        if let Some((spec, _)) = &self.throttle
            && !states.throttle.allow(spec, event.received_at)
        {
            return Verdict::Suppressed(Suppression::Throttled { at_most: spec.at_most });
        }
        Verdict::Fired(self.render(event))
    }

    /// Evaluates and fires in one call.
    pub fn process<'r, 'e>(&'r self, event: &Event<'e>, states: &mut RuleStates, options: &FireOptions) -> Outcome<'r, 'e> {
        let evaluation = self.evaluate(event);
        let verdict = self.fire(&evaluation, event, states, options);
        Outcome { evaluation, verdict }
    }

    fn render(&self, event: &Event<'_>) -> Vec<ActionOutcome> {
        let context = minijinja::Value::from_serialize(TemplateContext {
            event: EventContext::new(event),
            rule: RuleContext { id: self.rule.id, version: self.rule.version, name: &self.version.name },
        });
        let causation = Causation::derived(event.id, event.causation, self.rule.id);
        self.actions
            .iter()
            .enumerate()
            .map(|(i, action)| {
                let index = u32::try_from(i).unwrap_or(u32::MAX);
                let id = action_id(event.id, self.rule.id, self.rule.version, index);
                let input = RenderInput { templates: &self.templates, context: &context, id, causation: &causation };
                ActionOutcome { index, id, result: action.render(&input) }
            })
            .collect()
    }
}

fn key(path: Option<&Path>, event: &Event<'_>) -> StateKey {
    let Some(path) = path else { return StateKey::Key(String::new()) };
    match path.resolve(event) {
        Resolved::Missing => StateKey::Missing,
        Resolved::Str(s) => StateKey::Key(s.to_owned()),
        Resolved::Json(Value::String(s)) => StateKey::Key(s.clone()),
        Resolved::Json(other) => StateKey::Key(other.to_string()),
        Resolved::Time(t) => StateKey::Key(rfc3339(&t)),
    }
}
