//! Parses a whole rule document, checking every field.

use std::collections::HashSet;

use serde_json::{Map, Value};

use super::condition::parse_root;
use super::reader::{array, bounded_u32, object, refuse_unknown, required, string};
use crate::duration::RuleDuration;
use crate::event_type::EventTypePattern;
use crate::limits::{
    MAX_ACTIONS, MAX_CHANNELS, MAX_DATA_DEPTH, MAX_DATA_TEMPLATES, MAX_DESCRIPTION_LENGTH, MAX_EVENT_TYPES, MAX_NAME_LENGTH,
    MAX_THROTTLE_AT_MOST, MAX_WINDOW_COUNT,
};
use crate::model::{Action, EmitAction, NotifyAction, RuleVersion, Status};
use crate::path::Path;
use crate::problem::{Problems, child, item};
use crate::template;
use crate::throttle::ThrottleSpec;
use crate::validate::ValidationContext;
use crate::window::WindowSpec;

const FIELDS: [&str; 8] = ["name", "description", "event_types", "when", "window", "throttle", "actions", "status"];

/// Parses `raw`; `None` when any problem was found (all are in `problems`).
pub(crate) fn rule(raw: &Value, context: &ValidationContext<'_>, problems: &mut Problems) -> Option<RuleVersion> {
    let map = object(raw, "", problems)?;
    let before = problems.len();
    refuse_unknown(map, "", &FIELDS, problems);
    let name = required(map, "", "name", problems).and_then(|v| bounded_text(v, "/name", MAX_NAME_LENGTH, true, problems));
    let description = optional(map, "description", |v| bounded_text(v, "/description", MAX_DESCRIPTION_LENGTH, false, problems));
    let event_types = required(map, "", "event_types", problems).and_then(|v| event_types(v, problems));
    let when = required(map, "", "when", problems).and_then(|v| parse_root(v, "/when", problems));
    let window = optional(map, "window", |v| window(v, problems));
    let throttle = optional(map, "throttle", |v| throttle(v, problems));
    let actions = required(map, "", "actions", problems).and_then(|v| actions(v, context, problems));
    let status = match map.get("status") {
        None => Some(Status::Active),
        Some(v) => status(v, problems),
    };
    if problems.len() != before {
        return None;
    }
    Some(RuleVersion {
        name: name?,
        description: description?,
        event_types: event_types?,
        when: when?,
        window: window?,
        throttle: throttle?,
        actions: actions?,
        status: status?,
    })
}

/// An optional field (absent or `null`): `Some(None)`; parsed: `Some(Some(_))`;
/// refused: `None`.
fn optional<T>(map: &Map<String, Value>, key: &str, parse: impl FnOnce(&Value) -> Option<T>) -> Option<Option<T>> {
    match map.get(key) {
        None | Some(Value::Null) => Some(None),
        Some(v) => parse(v).map(Some),
    }
}

fn bounded_text(value: &Value, pointer: &str, max: usize, non_empty: bool, problems: &mut Problems) -> Option<String> {
    let text = string(value, pointer, problems)?;
    if non_empty && text.trim().is_empty() {
        problems.push(pointer, "must not be empty");
        return None;
    }
    if text.chars().count() > max {
        problems.push(pointer, format!("is longer than {max} characters"));
        return None;
    }
    Some(text.to_owned())
}

fn event_types(value: &Value, problems: &mut Problems) -> Option<Vec<String>> {
    let pointer = "/event_types";
    let items = array(value, pointer, problems)?;
    if items.is_empty() {
        problems.push(pointer, "needs at least one event type or prefix");
        return None;
    }
    if items.len() > MAX_EVENT_TYPES {
        problems.push(pointer, format!("has {} entries; at most {MAX_EVENT_TYPES} are allowed", items.len()));
        return None;
    }
    let parsed: Vec<Option<String>> = items
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let at = item(pointer, i);
            let text = string(v, &at, problems)?;
            match EventTypePattern::parse(text) {
                Ok(_) => Some(text.to_owned()),
                Err(message) => {
                    problems.push(&at, message);
                    None
                }
            }
        })
        .collect();
    parsed.into_iter().collect()
}

fn duration(map: &Map<String, Value>, pointer: &str, key: &str, problems: &mut Problems) -> Option<RuleDuration> {
    let at = child(pointer, key);
    let text = required(map, pointer, key, problems).and_then(|v| string(v, &at, problems))?;
    RuleDuration::parse(text).map_err(|e| problems.push(&at, e.to_string())).ok()
}

fn optional_path(map: &Map<String, Value>, pointer: &str, key: &str, problems: &mut Problems) -> Option<Option<String>> {
    let at = child(pointer, key);
    optional(map, key, |v| {
        let text = string(v, &at, problems)?;
        Path::parse(text).map_err(|e| problems.push(&at, e.to_string())).ok().map(|_| text.to_owned())
    })
}

fn window(value: &Value, problems: &mut Problems) -> Option<WindowSpec> {
    let pointer = "/window";
    let map = object(value, pointer, problems)?;
    refuse_unknown(map, pointer, &["count", "within", "per"], problems);
    let count = required(map, pointer, "count", problems).and_then(|v| bounded_u32(v, "/window/count", 1, MAX_WINDOW_COUNT, problems));
    let within = duration(map, pointer, "within", problems);
    let per = optional_path(map, pointer, "per", problems);
    Some(WindowSpec { count: count?, within: within?, per: per? })
}

fn throttle(value: &Value, problems: &mut Problems) -> Option<ThrottleSpec> {
    let pointer = "/throttle";
    let map = object(value, pointer, problems)?;
    refuse_unknown(map, pointer, &["at_most", "per", "key"], problems);
    let at_most =
        required(map, pointer, "at_most", problems).and_then(|v| bounded_u32(v, "/throttle/at_most", 1, MAX_THROTTLE_AT_MOST, problems));
    let per = duration(map, pointer, "per", problems);
    let key = optional_path(map, pointer, "key", problems);
    Some(ThrottleSpec { at_most: at_most?, per: per?, key: key? })
}

fn status(value: &Value, problems: &mut Problems) -> Option<Status> {
    match value.as_str() {
        Some("active") => Some(Status::Active),
        Some("paused") => Some(Status::Paused),
        _ => {
            problems.push("/status", "must be \"active\" or \"paused\"");
            None
        }
    }
}

fn actions(value: &Value, context: &ValidationContext<'_>, problems: &mut Problems) -> Option<Vec<Action>> {
    let pointer = "/actions";
    let items = array(value, pointer, problems)?;
    if items.is_empty() {
        problems.push(pointer, "needs at least one action");
        return None;
    }
    if items.len() > MAX_ACTIONS {
        problems.push(pointer, format!("has {} actions; at most {MAX_ACTIONS} are allowed", items.len()));
        return None;
    }
    let parsed: Vec<Option<Action>> = items.iter().enumerate().map(|(i, v)| action(v, &item(pointer, i), context, problems)).collect();
    parsed.into_iter().collect()
}

fn action(value: &Value, pointer: &str, context: &ValidationContext<'_>, problems: &mut Problems) -> Option<Action> {
    let map = object(value, pointer, problems)?;
    let mut keys = map.iter();
    match (keys.next(), keys.next()) {
        (Some((k, v)), None) if k == "notify" => notify(v, &child(pointer, k), context, problems).map(Action::Notify),
        (Some((k, v)), None) if k == "emit" => emit(v, &child(pointer, k), problems).map(Action::Emit),
        _ => {
            problems.push(pointer, "an action is {\"notify\": {...}} or {\"emit\": {...}}");
            None
        }
    }
}

fn template_text(value: &Value, pointer: &str, problems: &mut Problems) -> Option<String> {
    let source = string(value, pointer, problems)?;
    template::check(source).map_err(|message| problems.push(pointer, message)).ok().map(|()| source.to_owned())
}

fn notify(value: &Value, pointer: &str, context: &ValidationContext<'_>, problems: &mut Problems) -> Option<NotifyAction> {
    let map = object(value, pointer, problems)?;
    refuse_unknown(map, pointer, &["channels", "subject", "body"], problems);
    let channels = required(map, pointer, "channels", problems).and_then(|v| channels(v, &child(pointer, "channels"), context, problems));
    let subject = optional(map, "subject", |v| template_text(v, &child(pointer, "subject"), problems));
    let body = required(map, pointer, "body", problems).and_then(|v| template_text(v, &child(pointer, "body"), problems));
    Some(NotifyAction { channels: channels?, subject: subject?, body: body? })
}

fn channels(value: &Value, pointer: &str, context: &ValidationContext<'_>, problems: &mut Problems) -> Option<Vec<String>> {
    let items = array(value, pointer, problems)?;
    if items.is_empty() {
        problems.push(pointer, "needs at least one channel");
        return None;
    }
    if items.len() > MAX_CHANNELS {
        problems.push(pointer, format!("has {} channels; at most {MAX_CHANNELS} are allowed", items.len()));
        return None;
    }
    let mut seen = HashSet::new();
    let before = problems.len();
    for (i, v) in items.iter().enumerate() {
        let at = item(pointer, i);
        let Some(id) = string(v, &at, problems) else { continue };
        if id.is_empty() {
            problems.push(&at, "must not be empty");
        } else if !seen.insert(id) {
            problems.push(&at, format!("channel {id:?} is listed twice"));
        } else if context.known_channels.is_some_and(|known| !known.contains(id)) {
            problems.push(&at, format!("unknown channel {id:?}"));
        }
    }
    if problems.len() != before {
        return None;
    }
    Some(items.iter().filter_map(Value::as_str).map(str::to_owned).collect())
}

fn emit(value: &Value, pointer: &str, problems: &mut Problems) -> Option<EmitAction> {
    let map = object(value, pointer, problems)?;
    refuse_unknown(map, pointer, &["type", "data"], problems);
    let type_at = child(pointer, "type");
    let event_type = required(map, pointer, "type", problems).and_then(|v| string(v, &type_at, problems)).and_then(|t| {
        match EventTypePattern::parse(t) {
            Ok(EventTypePattern::Exact(t)) => Some(t),
            Ok(EventTypePattern::Prefix(_)) => {
                problems.push(&type_at, "an emitted event needs an exact type, not a prefix");
                None
            }
            Err(message) => {
                problems.push(&type_at, message);
                None
            }
        }
    });
    let data = match map.get("data") {
        None => Some(Value::Null),
        Some(data) => {
            let at = child(pointer, "data");
            let before = problems.len();
            let mut templates = 0;
            data_templates(data, &at, 1, &mut templates, problems);
            if templates > MAX_DATA_TEMPLATES {
                problems.push(&at, format!("has {templates} string templates; at most {MAX_DATA_TEMPLATES} are allowed"));
            }
            (problems.len() == before).then(|| data.clone())
        }
    };
    Some(EmitAction { event_type: event_type?, data: data? })
}

fn data_templates(value: &Value, pointer: &str, depth: usize, count: &mut usize, problems: &mut Problems) {
    if depth > MAX_DATA_DEPTH {
        problems.push(pointer, format!("data is nested deeper than {MAX_DATA_DEPTH} levels"));
        return;
    }
    match value {
        Value::String(_) => {
            *count += 1;
            template_text(value, pointer, problems);
        }
        Value::Array(items) => items.iter().enumerate().for_each(|(i, v)| data_templates(v, &item(pointer, i), depth + 1, count, problems)),
        Value::Object(map) => map.iter().for_each(|(k, v)| data_templates(v, &child(pointer, k), depth + 1, count, problems)),
        _ => {}
    }
}
