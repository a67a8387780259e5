//! What an operator needs to know about a consumer group, gathered from
//! Kafka (members, their assignments, committed offsets, watermarks) and
//! Postgres (the offsets stored with the effect, which are the truth).
//! Blocking librdkafka calls run on blocking threads.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use anyhow::Context as _;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Offset, TopicPartitionList};
use serde::Serialize;
use signalops_platform::config::KafkaSettings;
use signalops_platform::kafka::base_client_config;

pub const TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Serialize)]
pub struct Member {
    pub member_id: String,
    pub client_id: String,
    pub host: String,
    /// (topic, partition) pairs assigned to this member.
    pub assignment: Vec<(String, i32)>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PartitionState {
    pub topic: String,
    pub partition: i32,
    /// Which member owns it now, if any.
    pub member: Option<String>,
    pub log_start: i64,
    pub log_end: i64,
    pub kafka_committed: Option<i64>,
    pub postgres_next: Option<i64>,
    /// Records not yet applied: log end minus the Postgres offset (or the
    /// Kafka one when Postgres has none).
    pub lag: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct GroupState {
    pub group: String,
    pub state: String,
    pub members: Vec<Member>,
    pub partitions: Vec<PartitionState>,
}

/// A consumer that carries the group's id but never subscribes, so it reads
/// and commits the group's offsets without joining it.
pub fn outside_consumer(kafka: &KafkaSettings, group: &str) -> anyhow::Result<BaseConsumer> {
    let mut config = base_client_config(kafka, "signalctl");
    config.set("group.id", group).set("enable.auto.commit", "false").set("enable.partition.eof", "false");
    config.create().context("cannot create a Kafka client")
}

/// Every group the broker knows, with its state and member count.
pub fn list_groups(kafka: &KafkaSettings) -> anyhow::Result<Vec<(String, String, usize)>> {
    let consumer = outside_consumer(kafka, "signalctl-inspect")?;
    let list = consumer
        .fetch_group_list(None, TIMEOUT)
        .with_context(|| format!("cannot list consumer groups on Kafka at {}; is the stack up?", kafka.brokers))?;
    let mut groups: Vec<_> = list.groups().iter().map(|g| (g.name().to_owned(), g.state().to_owned(), g.members().len())).collect();
    groups.sort();
    Ok(groups)
}

/// Members and state as the group coordinator reports them.
pub fn members(consumer: &BaseConsumer, group: &str) -> anyhow::Result<(String, Vec<Member>)> {
    let list = consumer.fetch_group_list(Some(group), TIMEOUT).with_context(|| format!("cannot describe group {group}"))?;
    let Some(info) = list.groups().iter().find(|g| g.name() == group) else { return Ok(("Dead".into(), Vec::new())) };
    let members = info
        .members()
        .iter()
        .map(|m| Member {
            member_id: m.id().to_owned(),
            client_id: m.client_id().to_owned(),
            host: m.client_host().to_owned(),
            assignment: m.assignment().map(parse_assignment).unwrap_or_default(),
        })
        .collect();
    Ok((info.state().to_owned(), members))
}

/// Decodes Kafka's consumer-protocol assignment: version (i16), then
/// topics as [name (i16 length + bytes), partitions (i32 count + i32s)].
/// Anything malformed yields what was read so far.
pub fn parse_assignment(bytes: &[u8]) -> Vec<(String, i32)> {
    let mut out = Vec::new();
    let mut at = 2; // version
    let take = |at: &mut usize, n: usize| -> Option<&[u8]> {
        let slice = bytes.get(*at..*at + n)?;
        *at += n;
        Some(slice)
    };
    let Some(count) = take(&mut at, 4).map(|b| i32::from_be_bytes([b[0], b[1], b[2], b[3]])) else { return out };
    for _ in 0..count.max(0) {
        let Some(len) = take(&mut at, 2).map(|b| i16::from_be_bytes([b[0], b[1]])) else { return out };
        let Some(name) = take(&mut at, usize::try_from(len).unwrap_or(0)).map(|b| String::from_utf8_lossy(b).into_owned()) else {
            return out;
        };
        let Some(partitions) = take(&mut at, 4).map(|b| i32::from_be_bytes([b[0], b[1], b[2], b[3]])) else { return out };
        for _ in 0..partitions.max(0) {
            let Some(p) = take(&mut at, 4).map(|b| i32::from_be_bytes([b[0], b[1], b[2], b[3]])) else { return out };
            out.push((name.clone(), p));
        }
    }
    out
}

/// Partition ids of `topic`.
pub fn partitions_of(consumer: &BaseConsumer, topic: &str) -> anyhow::Result<Vec<i32>> {
    let metadata = consumer.fetch_metadata(Some(topic), TIMEOUT).with_context(|| format!("cannot read metadata of {topic}"))?;
    let topic_md = metadata.topics().iter().find(|t| t.name() == topic).with_context(|| format!("topic {topic} does not exist"))?;
    if topic_md.error().is_some() || topic_md.partitions().is_empty() {
        anyhow::bail!("topic {topic} does not exist");
    }
    Ok(topic_md.partitions().iter().map(|p| p.id()).collect())
}

/// Everything about `group` on `topics`.
pub fn describe(
    consumer: &BaseConsumer,
    group: &str,
    topics: &BTreeSet<String>,
    postgres: &BTreeMap<(String, i32), i64>,
) -> anyhow::Result<GroupState> {
    let (state, members) = members(consumer, group)?;
    let owner: BTreeMap<(String, i32), String> =
        members.iter().flat_map(|m| m.assignment.iter().map(move |tp| (tp.clone(), m.client_id.clone()))).collect();
    let mut partitions = Vec::new();
    for topic in topics {
        let ids = partitions_of(consumer, topic)?;
        let mut list = TopicPartitionList::new();
        for p in &ids {
            list.add_partition(topic, *p);
        }
        let committed = consumer.committed_offsets(list, TIMEOUT).context("cannot read committed offsets")?;
        for p in ids {
            let (log_start, log_end) = consumer.fetch_watermarks(topic, p, TIMEOUT).context("cannot read watermarks")?;
            let kafka_committed = match committed.find_partition(topic, p).map(|e| e.offset()) {
                Some(Offset::Offset(o)) => Some(o),
                _ => None,
            };
            let postgres_next = postgres.get(&(topic.clone(), p)).copied();
            let position = postgres_next.or(kafka_committed).unwrap_or(log_start);
            partitions.push(PartitionState {
                topic: topic.clone(),
                partition: p,
                member: owner.get(&(topic.clone(), p)).cloned(),
                log_start,
                log_end,
                kafka_committed,
                postgres_next,
                lag: (log_end - position).max(0),
            });
        }
    }
    Ok(GroupState { group: group.to_owned(), state, members, partitions })
}

/// The group's Postgres offsets: `(topic, partition) -> next_offset`.
pub async fn postgres_offsets(client: &tokio_postgres::Client, group: &str) -> anyhow::Result<BTreeMap<(String, i32), i64>> {
    let rows = client
        .query("SELECT topic, partition, next_offset FROM consumer_offsets WHERE group_id = $1", &[&group])
        .await
        .context("cannot read consumer_offsets (has `signalctl migrate` run on this database?)")?;
    rows.iter()
        .map(|r| Ok(((r.try_get(0)?, r.try_get(1)?), r.try_get(2)?)))
        .collect::<Result<_, tokio_postgres::Error>>()
        .context("unexpected consumer_offsets row")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assignments_decode_and_garbage_yields_nothing() {
        let mut bytes = vec![0, 1, 0, 0, 0, 1, 0, 3];
        bytes.extend_from_slice(b"abc");
        bytes.extend_from_slice(&[0, 0, 0, 2, 0, 0, 0, 4, 0, 0, 0, 7, 0xff, 0xff, 0xff, 0xff]);
        assert_eq!(parse_assignment(&bytes), vec![("abc".to_owned(), 4), ("abc".to_owned(), 7)]);
        assert!(parse_assignment(&[1, 2, 3]).is_empty());
    }
}
