//! The rule model: one version of a rule as it is stored. Deserialising it
//! refuses unknown fields and checks shapes; [`crate::validate`] checks
//! everything (every problem at once, with its JSON Pointer).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::condition::Condition;
use crate::throttle::ThrottleSpec;
use crate::window::WindowSpec;

/// One version of a rule.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleVersion {
    /// A name for people.
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Event types the rule runs on: exact (`payment.failed`) or prefixes
    /// ending with a dot (`payment.`).
    pub event_types: Vec<String>,
    /// The condition, in normal (tree) form.
    pub when: Condition,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<WindowSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub throttle: Option<ThrottleSpec>,
    /// What a firing does, in order.
    pub actions: Vec<Action>,
    #[serde(default)]
    pub status: Status,
}

/// Whether a rule runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    #[default]
    Active,
    Paused,
}

/// One action of a firing: `{"notify": {...}}` or `{"emit": {...}}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Action {
    Notify(NotifyAction),
    Emit(EmitAction),
}

/// Ask the notifier to send a message.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotifyAction {
    /// Channel ids, tried in order: a fallback chain.
    pub channels: Vec<String>,
    /// Subject template (channels without subjects ignore it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// Body template.
    pub body: String,
}

/// Emit a derived event.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmitAction {
    /// The derived event's exact type.
    #[serde(rename = "type")]
    pub event_type: String,
    /// The derived event's data: a JSON value whose string leaves are templates.
    #[serde(default)]
    pub data: Value,
}
