//! Actions compiled for rendering, and what rendering them produces: a
//! notification request or a derived event, each with its deterministic id.

use serde::Serialize;
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::causation::Causation;
use crate::limits::MAX_RENDERED_BYTES;
use crate::model::Action;
use crate::problem::{child, item};
use crate::template::{RenderError, Templates};

/// An action whose templates are compiled into a rule's [`Templates`].
#[derive(Debug)]
pub(crate) enum CompiledAction {
    Notify { channels: Vec<String>, subject: Option<String>, body: String },
    Emit { event_type: String, data: DataTemplate },
}

/// An `emit` action's data with its string leaves replaced by template names.
#[derive(Debug)]
pub(crate) enum DataTemplate {
    Literal(Value),
    Text(String),
    Array(Vec<DataTemplate>),
    Object(Vec<(String, DataTemplate)>),
}

/// A notification request, ready for the notifier.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Notification {
    /// Deterministic: see [`crate::ids::action_id`].
    pub id: Uuid,
    /// Channel ids, in fallback order.
    pub channels: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    pub body: String,
}

/// A derived event, ready to be appended.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DerivedEvent {
    /// Deterministic: see [`crate::ids::action_id`].
    pub id: Uuid,
    #[serde(rename = "type")]
    pub event_type: String,
    pub data: Value,
    pub causation: Causation,
}

/// What one action rendered to.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RenderedAction {
    Notify(Notification),
    Emit(DerivedEvent),
}

/// The outcome of one action of a firing.
#[derive(Clone, Debug, PartialEq)]
pub struct ActionOutcome {
    /// The action's position in the rule.
    pub index: u32,
    /// Its deterministic id (also when rendering failed, so the failure can be recorded once).
    pub id: Uuid,
    pub result: Result<RenderedAction, RenderError>,
}

/// Compiles a parsed rule's actions; template names are JSON Pointers into the rule.
pub(crate) fn compile(actions: &[Action], templates: &mut Templates) -> Result<Vec<CompiledAction>, Vec<(String, String)>> {
    let mut problems = Vec::new();
    let mut add = |name: String, source: &str| {
        if let Err(message) = templates.add(name.clone(), source.to_owned()) {
            problems.push((name.clone(), message));
        }
        name
    };
    let compiled = actions
        .iter()
        .enumerate()
        .map(|(i, action)| match action {
            Action::Notify(n) => {
                let base = format!("/actions/{i}/notify");
                CompiledAction::Notify {
                    channels: n.channels.clone(),
                    subject: n.subject.as_deref().map(|s| add(child(&base, "subject"), s)),
                    body: add(child(&base, "body"), &n.body),
                }
            }
            Action::Emit(e) => CompiledAction::Emit {
                event_type: e.event_type.clone(),
                data: data_template(&e.data, &format!("/actions/{i}/emit/data"), &mut add),
            },
        })
        .collect();
    if problems.is_empty() { Ok(compiled) } else { Err(problems) }
}

fn data_template(value: &Value, pointer: &str, add: &mut impl FnMut(String, &str) -> String) -> DataTemplate {
    match value {
        Value::String(source) => DataTemplate::Text(add(pointer.to_owned(), source)),
        Value::Array(items) => {
            DataTemplate::Array(items.iter().enumerate().map(|(i, v)| data_template(v, &item(pointer, i), add)).collect())
        }
        Value::Object(map) => {
            DataTemplate::Object(map.iter().map(|(k, v)| (k.clone(), data_template(v, &child(pointer, k), add))).collect())
        }
        other => DataTemplate::Literal(other.clone()),
    }
}

/// Everything an action needs to render.
pub(crate) struct RenderInput<'a> {
    pub(crate) templates: &'a Templates,
    pub(crate) context: &'a minijinja::Value,
    pub(crate) id: Uuid,
    pub(crate) causation: &'a Causation,
}

impl CompiledAction {
    pub(crate) fn render(&self, input: &RenderInput<'_>) -> Result<RenderedAction, RenderError> {
        let mut budget = MAX_RENDERED_BYTES;
        match self {
            CompiledAction::Notify { channels, subject, body } => {
                let subject = match subject {
                    Some(name) => Some(input.templates.render(name, input.context, &mut budget)?),
                    None => None,
                };
                let body = input.templates.render(body, input.context, &mut budget)?;
                Ok(RenderedAction::Notify(Notification { id: input.id, channels: channels.clone(), subject, body }))
            }
            CompiledAction::Emit { event_type, data } => Ok(RenderedAction::Emit(DerivedEvent {
                id: input.id,
                event_type: event_type.clone(),
                data: render_data(data, input, &mut budget)?,
                causation: input.causation.clone(),
            })),
        }
    }
}

fn render_data(data: &DataTemplate, input: &RenderInput<'_>, budget: &mut usize) -> Result<Value, RenderError> {
    Ok(match data {
        DataTemplate::Literal(v) => v.clone(),
        DataTemplate::Text(name) => Value::String(input.templates.render(name, input.context, budget)?),
        DataTemplate::Array(items) => Value::Array(items.iter().map(|d| render_data(d, input, budget)).collect::<Result<_, _>>()?),
        DataTemplate::Object(fields) => {
            let mut map = Map::new();
            for (k, d) in fields {
                map.insert(k.clone(), render_data(d, input, budget)?);
            }
            Value::Object(map)
        }
    })
}
