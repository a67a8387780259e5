//! The Kafka side of a tail: one consumer per connection, partitions
//! assigned at resolved offsets, polled on a blocking thread that hands
//! frames to the response through a bounded channel.

use std::collections::BTreeMap;
use std::time::Duration;

use actix_web::web::Bytes;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use signalops_platform::TenantId;
use signalops_platform::config::KafkaSettings;
use signalops_proto::Message as _;
use tokio::sync::mpsc;

use super::frame::event_frame;
use super::position::{StartFrom, StartRequest};
use crate::problem::ApiError;

/// Frames waiting for a slow client; beyond this the consumer blocks.
pub const CHANNEL_CAPACITY: usize = 1000;
/// Metadata, watermark and time lookups; the client is waiting for headers.
const BROKER_TIMEOUT: Duration = Duration::from_secs(5);
/// How long one poll waits; also how soon a closed client is noticed while idle.
const POLL_INTERVAL: Duration = Duration::from_millis(250);

fn unavailable(error: KafkaError) -> ApiError {
    ApiError::Unavailable(format!("tail consumer: {error}"))
}

/// Creates the consumer and assigns every partition of `topic` at its start
/// offset. Blocking (broker round trips): run it off the async runtime.
pub fn open(kafka: &KafkaSettings, topic: &str, start: &StartRequest) -> Result<BaseConsumer, ApiError> {
    let consumer: BaseConsumer = consumer_config(kafka).create().map_err(unavailable)?;
    let partitions = partitions_of(&consumer, topic)?;
    if let Some(unknown) = start.offsets.keys().find(|p| !partitions.contains(p)) {
        return Err(ApiError::field("offsets", format!("partition {unknown} does not exist (the topic has {})", partitions.len())));
    }
    let starts = resolve_starts(&consumer, topic, &partitions, start)?;
    let mut assignment = TopicPartitionList::new();
    for (partition, offset) in starts {
        assignment.add_partition_offset(topic, partition, Offset::Offset(offset)).map_err(unavailable)?;
    }
    consumer.assign(&assignment).map_err(unavailable)?;
    Ok(consumer)
}

/// No group membership and no commits: a tail is a private reader. The
/// prefetch queue is kept small because there is one consumer per client.
fn consumer_config(kafka: &KafkaSettings) -> ClientConfig {
    let mut config = signalops_platform::kafka::base_client_config(kafka, "signalops-gateway-tail");
    config
        .set("group.id", format!("signalops-tail-{}", uuid::Uuid::new_v4().simple()))
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        // An offset that has expired meanwhile starts at the oldest kept record.
        .set("auto.offset.reset", "earliest")
        .set("enable.partition.eof", "false")
        .set("queued.max.messages.kbytes", "2048")
        .set("queued.min.messages", "1000");
    config
}

fn partitions_of(consumer: &BaseConsumer, topic: &str) -> Result<Vec<i32>, ApiError> {
    let metadata = consumer.fetch_metadata(Some(topic), BROKER_TIMEOUT).map_err(unavailable)?;
    let partitions: Vec<i32> = metadata.topics().iter().flat_map(|t| t.partitions().iter().map(|p| p.id())).collect();
    if partitions.is_empty() {
        return Err(ApiError::Unavailable(format!("the events topic {topic} has no partitions")));
    }
    Ok(partitions)
}

/// The first offset to read per partition. Resolved now, not left to
/// librdkafka as `Offset::End`, so `from=now` means "after the stream
/// opened" even if the first fetch happens later.
fn resolve_starts(consumer: &BaseConsumer, topic: &str, partitions: &[i32], start: &StartRequest) -> Result<BTreeMap<i32, i64>, ApiError> {
    let by_time = match start.from {
        StartFrom::Time(at) => offsets_at(consumer, topic, partitions, at.timestamp_millis())?,
        StartFrom::Now => BTreeMap::new(),
    };
    let mut starts = BTreeMap::new();
    for &partition in partitions {
        let (low, high) = consumer.fetch_watermarks(topic, partition, BROKER_TIMEOUT).map_err(unavailable)?;
        let wanted = start.offsets.get(&partition).or_else(|| by_time.get(&partition)).copied().unwrap_or(high);
        // Outside the kept range librdkafka would reset to the oldest record,
        // replaying far more than asked; clamp instead.
        starts.insert(partition, wanted.clamp(low, high));
    }
    Ok(starts)
}

/// `offsets_for_times`; partitions with no record at or after `millis` are
/// left out, so they start at the end.
fn offsets_at(consumer: &BaseConsumer, topic: &str, partitions: &[i32], millis: i64) -> Result<BTreeMap<i32, i64>, ApiError> {
    let mut query = TopicPartitionList::new();
    for &partition in partitions {
        query.add_partition_offset(topic, partition, Offset::Offset(millis)).map_err(unavailable)?;
    }
    let found = consumer.offsets_for_times(query, BROKER_TIMEOUT).map_err(unavailable)?;
    Ok(found
        .elements()
        .iter()
        .filter_map(|e| match e.offset() {
            Offset::Offset(offset) => Some((e.partition(), offset)),
            _ => None,
        })
        .collect())
}

/// Polls until the client goes away. Blocking: run it on its own thread.
/// Returning drops the consumer, which closes its broker connections.
pub fn pump(consumer: BaseConsumer, tenant: TenantId, frames: mpsc::Sender<Bytes>) {
    let key = tenant.to_string();
    while !frames.is_closed() {
        let message = match consumer.poll(POLL_INTERVAL) {
            None => continue,
            Some(Ok(message)) => message,
            Some(Err(error)) => {
                tracing::warn!(%error, "tail consumer error");
                continue;
            }
        };
        // The key is the tenant id: skipping other keys avoids decoding
        // every record of a shared partition.
        if message.key() != Some(key.as_bytes()) {
            continue;
        }
        let Ok(event) = signalops_proto::Event::decode(message.payload().unwrap_or_default()) else {
            tracing::warn!(partition = message.partition(), offset = message.offset(), "tail skipped an undecodable record");
            continue;
        };
        let Some(frame) = event_frame(&event, tenant, message.partition(), message.offset()) else { continue };
        // Blocks while the channel is full: backpressure reaches Kafka, not memory.
        if frames.blocking_send(Bytes::from(frame)).is_err() {
            break;
        }
    }
    tracing::debug!(tenant_id = %tenant, "tail consumer stopped");
}
