//! A tenant's rules indexed by event type, so an event is evaluated only by
//! the rules whose `event_types` match it: exact types by hash lookup, and
//! prefixes by looking up each dot-terminated prefix of the event's type
//! (`payment.card.failed` looks up `payment.` and `payment.card.`). The cost
//! of a lookup depends on the event type's length, not on the rule count.

use std::collections::HashMap;

use crate::event::Event;
use crate::event_type::EventTypePattern;
use crate::path::Resolved;
use crate::rule::CompiledRule;

/// Active rules by event type. Paused rules are left out.
#[derive(Debug, Default)]
pub struct RuleIndex {
    rules: Vec<CompiledRule>,
    exact: HashMap<String, Vec<usize>>,
    prefix: HashMap<String, Vec<usize>>,
}

impl RuleIndex {
    /// Indexes `rules` (their order is kept in lookups).
    pub fn new(rules: impl IntoIterator<Item = CompiledRule>) -> Self {
        let mut index = RuleIndex::default();
        for rule in rules.into_iter().filter(CompiledRule::is_active) {
            let position = index.rules.len();
            for pattern in rule.event_types() {
                let (map, key) = match pattern {
                    EventTypePattern::Exact(t) => (&mut index.exact, t),
                    EventTypePattern::Prefix(p) => (&mut index.prefix, p),
                };
                let entry = map.entry(key.clone()).or_default();
                if entry.last() != Some(&position) {
                    entry.push(position);
                }
            }
            index.rules.push(rule);
        }
        index
    }

    /// How many rules are indexed.
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    /// Whether no rule is indexed.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The rules to evaluate for an event of `event_type`, each once, in
    /// the order they were given.
    pub fn candidates(&self, event_type: &str) -> Vec<&CompiledRule> {
        let mut positions: Vec<usize> = self.exact.get(event_type).cloned().unwrap_or_default();
        for (i, _) in event_type.match_indices('.') {
            if let Some(found) = self.prefix.get(&event_type[..=i]) {
                positions.extend_from_slice(found);
            }
        }
        positions.sort_unstable();
        positions.dedup();
        positions.into_iter().map(|i| &self.rules[i]).collect()
    }

    /// Leaves out of `candidates` the rules that cannot match `event`
    /// because the value their condition requires (an `eq` leaf at its top,
    /// see [`CompiledRule::required`]) is not the event's. Each required
    /// path is resolved once per event, so a tenant's rules that tell
    /// values of one field apart cost one lookup, not one evaluation each.
    /// The rules kept are those a full evaluation could match, in order.
    pub fn narrow<'r>(candidates: Vec<&'r CompiledRule>, event: &Event<'_>) -> Vec<&'r CompiledRule> {
        let mut resolved: Vec<(&str, Resolved<'_>)> = Vec::new();
        candidates
            .into_iter()
            .filter(|rule| {
                let Some((path, value)) = rule.required() else { return true };
                let found = match resolved.iter().find(|(p, _)| *p == path.as_str()) {
                    Some((_, r)) => *r,
                    None => {
                        let r = path.resolve(event);
                        resolved.push((path.as_str(), r));
                        r
                    }
                };
                value.admits(found)
            })
            .collect()
    }
}
