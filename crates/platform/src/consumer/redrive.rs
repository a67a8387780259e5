//! Redriven dead letters: records of the redrive topic carry a `DeadLetter`
//! for one group. That group turns each back into the original record and
//! applies it exactly once: the source coordinates are recorded in
//! `consumer_redrives` in the effect's transaction, so redriving the same
//! record again (or a second dead letter of it) does nothing. Other groups
//! only move their offset past it.

use signalops_proto::{DeadLetter, Message};
use tokio_postgres::Transaction;

use super::Record;
use super::dead_letter::HEADER_REDRIVE_GROUP;

/// The original record a redrive record carries, if it is for `group`.
pub(crate) enum Carried {
    ForUs(Record),
    ForAnotherGroup,
    Undecodable(String),
}

pub(crate) fn carried(group: &str, carrier: &Record) -> Carried {
    if carrier.header(HEADER_REDRIVE_GROUP) != Some(group) {
        return Carried::ForAnotherGroup;
    }
    match DeadLetter::decode(carrier.payload_bytes()) {
        Ok(letter) if letter.group_id == group => Carried::ForUs(Record {
            topic: letter.topic,
            partition: letter.partition,
            offset: letter.offset,
            key: Some(letter.original_key).filter(|k| !k.is_empty()),
            payload: Some(letter.original_value),
            headers: letter.original_headers.into_iter().map(|h| (h.key, h.value)).collect(),
            timestamp_ms: carrier.timestamp_ms,
        }),
        Ok(letter) => Carried::Undecodable(format!("redrive for group {group} carries a dead letter of group {}", letter.group_id)),
        Err(error) => Carried::Undecodable(format!("redrive record is not a DeadLetter: {error}")),
    }
}

/// Records that `original` is being applied again; false when it already was.
pub(crate) async fn claim(tx: &Transaction<'_>, group: &str, original: &Record, carrier: &Record) -> Result<bool, tokio_postgres::Error> {
    let inserted = tx
        .execute(
            "INSERT INTO consumer_redrives (group_id, topic, partition, kafka_offset, redrive_partition, redrive_offset) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
            &[&group, &original.topic, &original.partition, &original.offset, &carrier.partition, &carrier.offset],
        )
        .await?;
    Ok(inserted == 1)
}
