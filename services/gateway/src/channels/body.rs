//! Request bodies of the channels API, read from JSON by hand so every
//! problem is named by its JSON Pointer (as the store's definitions are).

use serde_json::{Map, Value};
use signalops_notify_store::definition::{Config, Kind, check_config, check_id, check_name};

use crate::problem::{ApiError, FieldError};

/// `POST /v1/channels`, with its `config` checked for its kind.
pub(crate) struct NewChannelBody {
    pub id: String,
    pub name: String,
    pub kind: Kind,
    pub config: Config,
}

/// `PATCH /v1/channels/{id}`.
pub(crate) struct ChannelChanges {
    pub name: Option<String>,
    pub config: Option<Value>,
}

fn object(body: &Value) -> Result<&Map<String, Value>, ApiError> {
    body.as_object().ok_or_else(|| ApiError::field("(body)", "must be a JSON object"))
}

fn refuse_unknown(map: &Map<String, Value>, known: &[&str], errors: &mut Vec<FieldError>) {
    for key in map.keys().filter(|k| !known.contains(&k.as_str())) {
        errors.push(FieldError::new(format!("/{key}"), format!("is not a field (known: {})", known.join(", "))));
    }
}

fn string(map: &Map<String, Value>, key: &str, errors: &mut Vec<FieldError>) -> Option<String> {
    match map.get(key) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => {
            errors.push(FieldError::new(format!("/{key}"), "must be a string"));
            None
        }
    }
}

fn checked_name(map: &Map<String, Value>, errors: &mut Vec<FieldError>) -> Option<String> {
    let name = string(map, "name", errors)?;
    match check_name(&name) {
        Ok(()) => Some(name),
        Err(message) => {
            errors.push(FieldError::new("/name", message));
            None
        }
    }
}

impl NewChannelBody {
    pub(crate) fn parse(body: &Value) -> Result<Self, ApiError> {
        let map = object(body)?;
        let mut errors = Vec::new();
        refuse_unknown(map, &["id", "name", "kind", "config"], &mut errors);
        let id = match string(map, "id", &mut errors) {
            Some(id) => match check_id(&id) {
                Ok(()) => Some(id),
                Err(message) => {
                    errors.push(FieldError::new("/id", message));
                    None
                }
            },
            None => {
                errors.push(FieldError::new("/id", "is required"));
                None
            }
        };
        let name = checked_name(map, &mut errors);
        let kind = match string(map, "kind", &mut errors) {
            Some(kind) => Kind::parse(&kind).or_else(|| {
                let known: Vec<&str> = Kind::ALL.iter().map(|k| k.as_str()).collect();
                errors.push(FieldError::new("/kind", format!("must be one of {}", known.join(", "))));
                None
            }),
            None => {
                errors.push(FieldError::new("/kind", "is required"));
                None
            }
        };
        // The configuration is checked even when other fields are wrong, so
        // one answer names every problem.
        let config = match (map.get("config"), kind) {
            (None, _) => {
                errors.push(FieldError::new("/config", "is required"));
                None
            }
            (Some(config), Some(kind)) => {
                let mut found = Vec::new();
                let checked = check_config(kind, config, "/config", None, &mut found);
                errors.extend(found.into_iter().map(|(pointer, message)| FieldError::new(pointer, message)));
                checked
            }
            (Some(_), None) => None,
        };
        match (id, kind, config) {
            (Some(id), Some(kind), Some(config)) if errors.is_empty() => {
                Ok(NewChannelBody { name: name.unwrap_or_else(|| id.clone()), id, kind, config })
            }
            _ => Err(ApiError::Validation(errors)),
        }
    }
}

impl ChannelChanges {
    pub(crate) fn parse(body: &Value) -> Result<Self, ApiError> {
        let map = object(body)?;
        let mut errors = Vec::new();
        refuse_unknown(map, &["name", "config"], &mut errors);
        let name = checked_name(map, &mut errors);
        let config = map.get("config").filter(|c| !c.is_null()).cloned();
        if errors.is_empty() { Ok(ChannelChanges { name, config }) } else { Err(ApiError::Validation(errors)) }
    }
}

/// The store's problems (JSON Pointers) as field errors.
pub(crate) fn problems(problems: Vec<(String, String)>) -> ApiError {
    ApiError::Validation(problems.into_iter().map(|(pointer, message)| FieldError::new(pointer, message)).collect())
}
