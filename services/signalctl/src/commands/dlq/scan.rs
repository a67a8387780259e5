//! Reading the dead-letter and redrive topics without joining a group:
//! partitions are assigned by hand from a start offset to the log end seen
//! when the scan starts, so a scan always ends and commits nothing.
//! Blocking librdkafka calls; callers run them on blocking threads.

use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use chrono::{DateTime, Utc};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::{Offset, TopicPartitionList};
use signalops_platform::config::KafkaSettings;
use signalops_platform::consumer::Record;
use signalops_platform::consumer::dead_letter::{HEADER_REDRIVE_GROUP, HEADER_REDRIVE_SOURCE};
use signalops_platform::kafka::base_client_config;
use signalops_proto::{DeadLetter, Message as _};

use crate::commands::group_state::{TIMEOUT, partitions_of};

/// A scan gives up when no record arrives for this long before the end.
const STALL: Duration = Duration::from_secs(30);

pub fn reader(kafka: &KafkaSettings) -> anyhow::Result<BaseConsumer> {
    let mut config = base_client_config(kafka, "signalctl-dlq");
    // Never subscribes nor commits: the id only satisfies librdkafka.
    config
        .set("group.id", "signalctl-dlq-reader")
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "true")
        .set("auto.offset.reset", "earliest");
    config.create().context("cannot create a Kafka client")
}

/// `partition -> (log start, log end)` of every partition of `topic`.
pub fn watermarks(consumer: &BaseConsumer, topic: &str) -> anyhow::Result<BTreeMap<i32, (i64, i64)>> {
    let mut marks = BTreeMap::new();
    for p in partitions_of(consumer, topic)? {
        marks.insert(p, consumer.fetch_watermarks(topic, p, TIMEOUT).with_context(|| format!("cannot read watermarks of {topic}"))?);
    }
    Ok(marks)
}

/// `partition -> first offset at or after `at`` (the log end when every
/// record is older).
pub fn offsets_at(
    consumer: &BaseConsumer,
    topic: &str,
    marks: &BTreeMap<i32, (i64, i64)>,
    at: DateTime<Utc>,
) -> anyhow::Result<BTreeMap<i32, i64>> {
    let mut query = TopicPartitionList::new();
    for p in marks.keys() {
        query.add_partition_offset(topic, *p, Offset::Offset(at.timestamp_millis()))?;
    }
    let found = consumer.offsets_for_times(query, TIMEOUT).context("cannot look offsets up by time")?;
    Ok(marks
        .iter()
        .map(|(p, (_, high))| {
            let offset = match found.find_partition(topic, *p).map(|e| e.offset()) {
                Some(Offset::Offset(o)) => o,
                _ => *high,
            };
            (*p, offset)
        })
        .collect())
}

/// Every record of `topic` in `ranges` (`partition -> [from, to)`), in
/// partition then offset order.
pub fn read(consumer: &BaseConsumer, topic: &str, ranges: &BTreeMap<i32, (i64, i64)>) -> anyhow::Result<Vec<Record>> {
    let wanted: BTreeMap<i32, (i64, i64)> = ranges.iter().filter(|(_, (from, to))| from < to).map(|(p, r)| (*p, *r)).collect();
    let mut records = Vec::new();
    if wanted.is_empty() {
        return Ok(records);
    }
    let mut list = TopicPartitionList::new();
    for (p, (from, _)) in &wanted {
        list.add_partition_offset(topic, *p, Offset::Offset(*from))?;
    }
    consumer.assign(&list).with_context(|| format!("cannot read {topic}"))?;
    let mut open: HashSet<i32> = wanted.keys().copied().collect();
    let mut last_progress = Instant::now();
    while !open.is_empty() {
        match consumer.poll(Duration::from_millis(200)) {
            Some(Ok(message)) => {
                last_progress = Instant::now();
                let record = Record::from_message(&message);
                let Some((from, to)) = wanted.get(&record.partition) else { continue };
                if record.offset + 1 >= *to {
                    open.remove(&record.partition);
                }
                if (*from..*to).contains(&record.offset) {
                    records.push(record);
                }
            }
            // The end of what the partition holds now: nothing more to read
            // in it (records past the end seen at the start are left out).
            Some(Err(KafkaError::PartitionEOF(p))) => {
                open.remove(&p);
            }
            Some(Err(error)) => bail!("reading {topic} failed: {error}"),
            None if last_progress.elapsed() > STALL => {
                bail!("reading {topic} stalled for {} s (partitions left: {open:?}); is Kafka up?", STALL.as_secs())
            }
            None => {}
        }
    }
    consumer.unassign().ok();
    records.sort_by_key(|r| (r.partition, r.offset));
    Ok(records)
}

/// Every record of `topic` from its log start to its current end.
pub fn read_all(consumer: &BaseConsumer, topic: &str) -> anyhow::Result<Vec<Record>> {
    let marks = watermarks(consumer, topic)?;
    read(consumer, topic, &marks)
}

/// What is already on the redrive topic: the dead letters sent back once.
#[derive(Debug, Default)]
pub struct Redriven {
    /// Their `redrive_source` positions in the dead-letter topic.
    pub positions: HashSet<String>,
    /// The records they carry, as (group, source topic, partition, offset):
    /// a record dead-lettered twice (a crash between the dead-letter append
    /// and the offset commit) sits at two positions but is one record.
    pub sources: HashSet<SourceKey>,
}

/// Which record of which group a dead letter is about.
pub type SourceKey = (String, String, i32, i64);

/// Reads the redrive topic; an absent topic has nothing on it.
pub fn redriven(consumer: &BaseConsumer, redrive_topic: &str) -> anyhow::Result<Redriven> {
    let mut found = Redriven::default();
    if !topic_exists(consumer, redrive_topic)? {
        return Ok(found);
    }
    for record in read_all(consumer, redrive_topic)? {
        if let Some(position) = record.header(HEADER_REDRIVE_SOURCE) {
            found.positions.insert(position.to_owned());
        }
        if let (Some(group), Ok(letter)) = (record.header(HEADER_REDRIVE_GROUP), DeadLetter::decode(record.payload_bytes())) {
            found.sources.insert((group.to_owned(), letter.topic, letter.partition, letter.offset));
        }
    }
    Ok(found)
}

pub fn topic_exists(consumer: &BaseConsumer, topic: &str) -> anyhow::Result<bool> {
    let metadata = consumer.fetch_metadata(Some(topic), TIMEOUT).with_context(|| format!("cannot read metadata of {topic}"))?;
    Ok(metadata.topics().iter().any(|t| t.name() == topic && t.error().is_none() && !t.partitions().is_empty()))
}
