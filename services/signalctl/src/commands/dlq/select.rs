//! Finding dead letters: the records of the dead-letter topic that match a
//! filter (or sit at given positions), and which of them were redriven.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::bail;
use signalops_platform::config::KafkaSettings;

use super::filter::Filter;
use super::letter::Letter;
use super::scan;

pub struct Selection {
    pub letters: Vec<Letter>,
    pub redriven: scan::Redriven,
}

impl Selection {
    /// Whether the dead letter, or another dead letter of the same record
    /// and group, is on the redrive topic.
    pub fn is_redriven(&self, letter: &Letter) -> bool {
        self.redriven.positions.contains(&letter.position()) || letter.source_key().is_some_and(|k| self.redriven.sources.contains(&k))
    }

    /// `(group, error class) -> count` over the selected letters.
    pub fn counts(&self) -> BTreeMap<(String, String), usize> {
        let mut counts = BTreeMap::new();
        for letter in &self.letters {
            *counts.entry((letter.group.clone(), letter.error_class.clone())).or_insert(0) += 1;
        }
        counts
    }
}

/// Blocking: run it on a blocking thread.
pub fn select(kafka: &KafkaSettings, filter: &Filter, positions: &[(i32, i64)]) -> anyhow::Result<Selection> {
    let topic = &kafka.topics.dlq;
    let consumer = scan::reader(kafka)?;
    let marks = scan::watermarks(&consumer, topic)?;
    let ranges: BTreeMap<i32, (i64, i64)> = if positions.is_empty() {
        let starts = match filter.since {
            Some(since) => scan::offsets_at(&consumer, topic, &marks, since)?,
            None => marks.iter().map(|(p, (low, _))| (*p, *low)).collect(),
        };
        marks.iter().map(|(p, (_, high))| (*p, (starts[p], *high))).collect()
    } else {
        let mut ranges: BTreeMap<i32, (i64, i64)> = BTreeMap::new();
        for (p, o) in positions {
            let Some((low, high)) = marks.get(p) else { bail!("{topic} has no partition {p} (it has {})", marks.len()) };
            if !(*low..*high).contains(o) {
                bail!("{topic} has no record {p}:{o}: partition {p} holds offsets {low}..{high} (end exclusive)");
            }
            let range = ranges.entry(*p).or_insert((*o, *o + 1));
            *range = (range.0.min(*o), range.1.max(*o + 1));
        }
        ranges
    };
    let wanted: BTreeSet<(i32, i64)> = positions.iter().copied().collect();
    let letters = scan::read(&consumer, topic, &ranges)?
        .into_iter()
        .filter(|r| wanted.is_empty() || wanted.contains(&(r.partition, r.offset)))
        .map(Letter::from_record)
        .filter(|l| filter.matches(l))
        .collect();
    let redriven = scan::redriven(&consumer, &kafka.topics.redrive)?;
    Ok(Selection { letters, redriven })
}
