//! A tenant's rules indexed by event type, so an event is evaluated only by
//! the rules whose `event_types` match it: exact types by hash lookup, and
//! prefixes by looking up each dot-terminated prefix of the event's type
//! (`payment.card.failed` looks up `payment.` and `payment.card.`). Under
//! each type, rules whose condition requires a value (an `eq` leaf at its
//! top, see [`CompiledRule::required`]) are indexed by that value too, so
//! a tenant's rules that tell values of one field apart cost one lookup per
//! event, not one evaluation each. The cost of a lookup depends on the
//! event type's length and the number of distinct required paths, not on
//! the rule count.

use std::collections::HashMap;

use crate::eval::{RequiredKey, RequiredValue};
use crate::event::Event;
use crate::event_type::EventTypePattern;
use crate::path::{Path, Resolved};
use crate::rule::CompiledRule;

/// Active rules by event type. Paused rules are left out.
#[derive(Debug, Default)]
pub struct RuleIndex {
    rules: Vec<CompiledRule>,
    exact: HashMap<String, Bucket>,
    prefix: HashMap<String, Bucket>,
}

/// The rules indexed under one exact type or prefix (positions in `rules`).
#[derive(Debug, Default)]
struct Bucket {
    all: Vec<usize>,
    /// Rules without a required value: evaluated for every event here.
    open: Vec<usize>,
    /// Rules with one, by the path it is required at, then by the value.
    required: Vec<ByValue>,
}

#[derive(Debug)]
struct ByValue {
    path: Path,
    text: HashMap<Box<str>, Vec<usize>>,
    number: HashMap<u64, Vec<usize>>,
}

impl Bucket {
    fn add(&mut self, position: usize, required: Option<(&Path, &RequiredValue)>) {
        // A rule that names one type twice is indexed once.
        if self.all.last() == Some(&position) {
            return;
        }
        self.all.push(position);
        let Some((path, value)) = required else {
            self.open.push(position);
            return;
        };
        let at = match self.required.iter().position(|b| b.path == *path) {
            Some(at) => at,
            None => {
                self.required.push(ByValue { path: path.clone(), text: HashMap::new(), number: HashMap::new() });
                self.required.len() - 1
            }
        };
        let by_value = &mut self.required[at];
        match value.key() {
            RequiredKey::Text(t) => by_value.text.entry(t.into()).or_default().push(position),
            RequiredKey::Number(n) => by_value.number.entry(n).or_default().push(position),
        }
    }

    /// Adds the positions of the rules here that `event` could match.
    fn admitted<'i, 'e>(&'i self, event: &Event<'e>, resolved: &mut Vec<(&'i Path, Resolved<'e>)>, into: &mut Vec<usize>) {
        into.extend_from_slice(&self.open);
        for by_value in &self.required {
            let found = match resolved.iter().find(|(p, _)| **p == by_value.path) {
                Some((_, r)) => *r,
                None => {
                    let r = by_value.path.resolve(event);
                    resolved.push((&by_value.path, r));
                    r
                }
            };
            let positions = match RequiredValue::key_of(found) {
                Some(RequiredKey::Text(t)) => by_value.text.get(t),
                Some(RequiredKey::Number(n)) => by_value.number.get(&n),
                None => None,
            };
            into.extend_from_slice(positions.map_or(&[][..], Vec::as_slice));
        }
    }
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
                map.entry(key.clone()).or_default().add(position, rule.required());
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

    /// The buckets an event of `event_type` falls in.
    fn buckets<'i>(&'i self, event_type: &'i str) -> impl Iterator<Item = &'i Bucket> + 'i {
        let prefixes = event_type.match_indices('.').filter_map(move |(i, _)| self.prefix.get(&event_type[..=i]));
        self.exact.get(event_type).into_iter().chain(prefixes)
    }

    /// Whether any rule is indexed for events of `event_type` (checked
    /// before an event's data is parsed).
    pub fn indexes(&self, event_type: &str) -> bool {
        self.buckets(event_type).next().is_some()
    }

    /// The rules indexed for events of `event_type`, each once, in the
    /// order they were given.
    pub fn candidates(&self, event_type: &str) -> Vec<&CompiledRule> {
        let mut positions: Vec<usize> = self.buckets(event_type).flat_map(|b| b.all.iter().copied()).collect();
        self.in_order(&mut positions)
    }

    /// The rules to evaluate for `event`: those indexed for its type, less
    /// those whose required value the event does not have, each once, in
    /// order. Every rule a full evaluation could match is kept; each
    /// required path is resolved once per event.
    pub fn for_event(&self, event: &Event<'_>) -> Vec<&CompiledRule> {
        let mut positions = Vec::new();
        let mut resolved = Vec::new();
        for bucket in self.buckets(event.event_type) {
            bucket.admitted(event, &mut resolved, &mut positions);
        }
        self.in_order(&mut positions)
    }

    fn in_order(&self, positions: &mut Vec<usize>) -> Vec<&CompiledRule> {
        positions.sort_unstable();
        positions.dedup();
        positions.iter().map(|&i| &self.rules[i]).collect()
    }
}
