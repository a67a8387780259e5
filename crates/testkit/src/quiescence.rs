//! When a consumer group is done: for every partition of its topic, the
//! offset committed to Kafka and the next offset stored in Postgres both
//! equal the end offset. Only then is a count of its effects final; a count
//! taken the moment it first reaches N would miss a duplicate applied a
//! moment later.

use std::time::Duration;

use rdkafka::TopicPartitionList;
use rdkafka::consumer::{BaseConsumer, Consumer};

use crate::{TestDatabase, eventually};

/// One consumer group's progress over one topic.
pub struct GroupProgress<'a> {
    pub brokers: &'a str,
    pub db: &'a TestDatabase,
    pub group: &'a str,
    pub topic: &'a str,
    pub partitions: i32,
}

impl GroupProgress<'_> {
    /// End offset (high watermark) of every partition of the topic.
    pub fn end_offsets(&self) -> Vec<i64> {
        let client: BaseConsumer = rdkafka::ClientConfig::new().set("bootstrap.servers", self.brokers).create().expect("client");
        (0..self.partitions).map(|p| client.fetch_watermarks(self.topic, p, Duration::from_secs(10)).expect("watermarks").1).collect()
    }

    /// Per partition: (Kafka committed offset, Postgres next_offset).
    pub async fn offsets(&self) -> Vec<(i32, i64, i64)> {
        let consumer: BaseConsumer =
            rdkafka::ClientConfig::new().set("bootstrap.servers", self.brokers).set("group.id", self.group).create().expect("client");
        let mut tpl = TopicPartitionList::new();
        for partition in 0..self.partitions {
            tpl.add_partition(self.topic, partition);
        }
        let committed = consumer.committed_offsets(tpl, Duration::from_secs(10)).expect("committed offsets");
        let owner = self.db.owner().await.expect("owner");
        let mut result = Vec::new();
        for element in committed.elements() {
            let kafka = element.offset().to_raw().filter(|o| *o >= 0).unwrap_or(0);
            let stored: Option<i64> = owner
                .query_opt(
                    "SELECT next_offset FROM consumer_offsets WHERE group_id = $1 AND topic = $2 AND partition = $3",
                    &[&self.group, &self.topic, &element.partition()],
                )
                .await
                .expect("stored")
                .map(|r| r.try_get(0).expect("next offset"));
            result.push((element.partition(), kafka, stored.unwrap_or(0)));
        }
        result
    }

    /// Waits until every partition's committed and stored offsets equal the
    /// end offset the topic has now.
    pub async fn wait_quiescent(&self, timeout: Duration) -> bool {
        let ends = self.end_offsets();
        eventually(timeout, || async {
            self.offsets()
                .await
                .iter()
                .all(|(partition, kafka, stored)| {
                    let end = ends[usize::try_from(*partition).expect("partition")];
                    *kafka == end && *stored == end
                })
                .then_some(())
        })
        .await
        .is_some()
    }
}
