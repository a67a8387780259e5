//! Paths into an event: the envelope fields (`type`, `subject`, `source`,
//! `time`, `received_at`, `id`) and anything inside `data`, written as a JSON
//! Pointer (`/data/customer/id`) or dotted (`data.items.0.price`). A path is
//! parsed once, when the rule is compiled; resolving it does not allocate.

use std::fmt;

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::event::Event;
use crate::limits::MAX_PATH_LENGTH;

/// A parsed path.
#[derive(Clone, Debug, PartialEq)]
pub struct Path {
    text: Box<str>,
    root: Root,
    segments: Box<[Segment]>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Root {
    Id,
    Type,
    Source,
    Subject,
    Time,
    ReceivedAt,
    Data,
}

/// One step below `data`: an object key, which is also an array index when
/// it is a canonical non-negative integer.
#[derive(Clone, Debug, PartialEq)]
struct Segment {
    key: Box<str>,
    index: Option<usize>,
}

/// What a path found in an event.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Resolved<'e> {
    /// Nothing there.
    Missing,
    /// A value inside `data`.
    Json(&'e Value),
    /// A string envelope field (`id`, `type`, `source`, `subject`).
    Str(&'e str),
    /// A time envelope field (`time`, `received_at`).
    Time(DateTime<Utc>),
}

/// Why a path was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    #[error("path is empty")]
    Empty,
    #[error("path is longer than {MAX_PATH_LENGTH} bytes")]
    TooLong,
    #[error("unknown path root {0:?}: expected one of type, subject, source, time, received_at, id, data")]
    UnknownRoot(String),
    #[error("envelope field {0:?} has no fields below it")]
    BelowEnvelopeField(String),
    #[error("path has an empty segment")]
    EmptySegment,
    #[error("bad JSON Pointer escape (only ~0 and ~1 are allowed)")]
    BadEscape,
}

impl Path {
    /// Parses a JSON Pointer (leading `/`) or a dotted path.
    pub fn parse(text: &str) -> Result<Path, PathError> {
        if text.is_empty() {
            return Err(PathError::Empty);
        }
        if text.len() > MAX_PATH_LENGTH {
            return Err(PathError::TooLong);
        }
        let tokens: Vec<String> = match text.strip_prefix('/') {
            Some(pointer) => pointer.split('/').map(unescape).collect::<Result<_, _>>()?,
            None => {
                let tokens: Vec<String> = text.split('.').map(str::to_owned).collect();
                if tokens.iter().any(String::is_empty) {
                    return Err(PathError::EmptySegment);
                }
                tokens
            }
        };
        let (first, rest) = tokens.split_first().ok_or(PathError::Empty)?;
        let root = match first.as_str() {
            "id" => Root::Id,
            "type" => Root::Type,
            "source" => Root::Source,
            "subject" => Root::Subject,
            "time" => Root::Time,
            "received_at" => Root::ReceivedAt,
            "data" => Root::Data,
            other => return Err(PathError::UnknownRoot(other.to_owned())),
        };
        if root != Root::Data && !rest.is_empty() {
            return Err(PathError::BelowEnvelopeField(first.clone()));
        }
        let segments = rest.iter().map(|key| Segment { index: canonical_index(key), key: key.as_str().into() }).collect();
        Ok(Path { text: text.into(), root, segments })
    }

    /// The path as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// True for `time` and `received_at`, which always compare as instants.
    pub fn is_time(&self) -> bool {
        matches!(self.root, Root::Time | Root::ReceivedAt)
    }

    /// Looks the path up in `event`.
    pub fn resolve<'e>(&self, event: &Event<'e>) -> Resolved<'e> {
        match self.root {
            Root::Id => Resolved::Str(event.id),
            Root::Type => Resolved::Str(event.event_type),
            Root::Source => Resolved::Str(event.source),
            Root::Subject => event.subject.map_or(Resolved::Missing, Resolved::Str),
            Root::Time => event.time.map_or(Resolved::Missing, Resolved::Time),
            Root::ReceivedAt => Resolved::Time(event.received_at),
            Root::Data => {
                let mut current = event.data;
                for segment in &self.segments {
                    let next = match current {
                        Value::Object(map) => map.get(&*segment.key),
                        Value::Array(items) => segment.index.and_then(|i| items.get(i)),
                        _ => None,
                    };
                    match next {
                        Some(value) => current = value,
                        None => return Resolved::Missing,
                    }
                }
                Resolved::Json(current)
            }
        }
    }
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

fn unescape(token: &str) -> Result<String, PathError> {
    let mut out = String::with_capacity(token.len());
    let mut chars = token.chars();
    while let Some(c) = chars.next() {
        if c == '~' {
            match chars.next() {
                Some('0') => out.push('~'),
                Some('1') => out.push('/'),
                _ => return Err(PathError::BadEscape),
            }
        } else {
            out.push(c);
        }
    }
    Ok(out)
}

/// `0`, `1`, `42` are indexes; `01`, `-1`, `+1` are only keys (RFC 6901).
fn canonical_index(token: &str) -> Option<usize> {
    let canonical = !token.is_empty() && token.bytes().all(|b| b.is_ascii_digit()) && (token == "0" || !token.starts_with('0'));
    if canonical { token.parse().ok() } else { None }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn event(data: &Value) -> Event<'_> {
        Event {
            id: "e1",
            event_type: "payment.failed",
            source: "/billing",
            subject: None,
            time: None,
            received_at: DateTime::from_timestamp(1_767_225_600, 0).expect("valid"),
            data,
            causation: None,
        }
    }

    #[test]
    fn pointer_and_dotted_forms_reach_the_same_value() {
        let data = json!({"customer": {"id": "c1"}, "items": [{"price": 5}, {"price": 7}]});
        let e = event(&data);
        for (a, b) in [("/data/customer/id", "data.customer.id"), ("/data/items/1/price", "data.items.1.price")] {
            let (a, b) = (Path::parse(a).expect("a"), Path::parse(b).expect("b"));
            assert_eq!(a.resolve(&e), b.resolve(&e));
            assert_ne!(a.resolve(&e), Resolved::Missing);
        }
        assert_eq!(Path::parse("data.items.1.price").expect("p").resolve(&e), Resolved::Json(&json!(7)));
    }

    #[test]
    fn missing_keys_indexes_and_non_containers_are_missing() {
        let data = json!({"items": [1], "n": 3, "obj": {"0": "zero"}});
        let e = event(&data);
        for p in ["data.nope", "data.items.5", "data.items.x", "data.n.x", "/data/items/01", "subject", "time"] {
            assert_eq!(Path::parse(p).expect(p).resolve(&e), Resolved::Missing, "{p}");
        }
        // A numeric token is still an object key.
        assert_eq!(Path::parse("data.obj.0").expect("p").resolve(&e), Resolved::Json(&json!("zero")));
    }

    #[test]
    fn pointer_escapes_are_decoded() {
        let data = json!({"a/b": 1, "c~d": 2});
        let e = event(&data);
        assert_eq!(Path::parse("/data/a~1b").expect("p").resolve(&e), Resolved::Json(&json!(1)));
        assert_eq!(Path::parse("/data/c~0d").expect("p").resolve(&e), Resolved::Json(&json!(2)));
        assert_eq!(Path::parse("/data/c~2d"), Err(PathError::BadEscape));
    }

    #[test]
    fn envelope_fields_resolve() {
        let data = json!(null);
        let e = event(&data);
        assert_eq!(Path::parse("type").expect("p").resolve(&e), Resolved::Str("payment.failed"));
        assert_eq!(Path::parse("/source").expect("p").resolve(&e), Resolved::Str("/billing"));
        assert_eq!(Path::parse("id").expect("p").resolve(&e), Resolved::Str("e1"));
        assert_eq!(Path::parse("received_at").expect("p").resolve(&e), Resolved::Time(e.received_at));
        assert_eq!(Path::parse("data").expect("p").resolve(&e), Resolved::Json(&json!(null)));
        assert!(Path::parse("received_at").expect("p").is_time());
    }

    #[test]
    fn bad_paths_are_refused() {
        assert_eq!(Path::parse(""), Err(PathError::Empty));
        assert!(matches!(Path::parse("tenant"), Err(PathError::UnknownRoot(_))));
        assert!(matches!(Path::parse("/type/x"), Err(PathError::BelowEnvelopeField(_))));
        assert_eq!(Path::parse("data..x"), Err(PathError::EmptySegment));
        assert_eq!(Path::parse(&format!("data.{}", "x".repeat(300))), Err(PathError::TooLong));
    }
}
