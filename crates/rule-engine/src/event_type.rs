//! Event-type patterns: an exact type (`payment.failed`) or a prefix ending
//! with a dot (`payment.`), which matches every type that starts with it.
//! Types use the form ingest accepts: lowercase letters and digits in parts
//! separated by `.`, `_` or `-`.

use std::fmt;

use crate::limits::MAX_EVENT_TYPE_LENGTH;

/// A parsed `event_types` entry.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum EventTypePattern {
    Exact(String),
    /// Includes its trailing dot.
    Prefix(String),
}

impl EventTypePattern {
    /// Parses one entry.
    pub fn parse(text: &str) -> Result<Self, String> {
        if text.len() > MAX_EVENT_TYPE_LENGTH {
            return Err(format!("event type is longer than {MAX_EVENT_TYPE_LENGTH} bytes"));
        }
        match text.strip_suffix('.') {
            Some(body) if valid_type(body) => Ok(EventTypePattern::Prefix(text.to_owned())),
            None if valid_type(text) => Ok(EventTypePattern::Exact(text.to_owned())),
            _ => Err(format!(
                "bad event type {text:?}: expected lowercase letters and digits in parts separated by '.', '_' or '-' (a trailing '.' makes it a prefix)"
            )),
        }
    }

    /// Whether `event_type` is matched.
    pub fn matches(&self, event_type: &str) -> bool {
        match self {
            EventTypePattern::Exact(t) => t == event_type,
            EventTypePattern::Prefix(p) => event_type.starts_with(p.as_str()),
        }
    }
}

impl fmt::Display for EventTypePattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EventTypePattern::Exact(t) | EventTypePattern::Prefix(t) => f.write_str(t),
        }
    }
}

/// The event-type form ingest accepts.
pub fn valid_type(event_type: &str) -> bool {
    !event_type.is_empty()
        && event_type.len() <= MAX_EVENT_TYPE_LENGTH
        && event_type
            .split(['.', '_', '-'])
            .all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_trailing_dot_makes_a_prefix() {
        let p = EventTypePattern::parse("payment.").expect("prefix");
        assert!(matches!(p, EventTypePattern::Prefix(_)));
        assert!(p.matches("payment.failed"));
        assert!(p.matches("payment.card.declined"));
        assert!(!p.matches("payments.failed"));
        assert!(!p.matches("payment"));
    }

    #[test]
    fn an_exact_type_matches_only_itself() {
        let p = EventTypePattern::parse("payment.failed").expect("exact");
        assert!(p.matches("payment.failed"));
        assert!(!p.matches("payment.failed.twice"));
    }

    #[test]
    fn malformed_types_are_refused() {
        for bad in ["", ".", "Payment.failed", "payment..failed", "payment.failed..", ".payment", "pay ment", "*"] {
            assert!(EventTypePattern::parse(bad).is_err(), "{bad:?}");
        }
    }
}
