//! The `consumer_offsets` table: each group's next offset per partition,
//! written with the effect (see the module docs of `consumer`).

use tokio_postgres::{GenericClient, Transaction};

/// Locks the partition's offset row for this transaction and returns the
/// next offset to apply (0 for a partition never seen).
pub async fn lock_next_offset(tx: &Transaction<'_>, group: &str, topic: &str, partition: i32) -> Result<i64, tokio_postgres::Error> {
    tx.execute(
        "INSERT INTO consumer_offsets (group_id, topic, partition, next_offset) VALUES ($1, $2, $3, 0) \
         ON CONFLICT (group_id, topic, partition) DO NOTHING",
        &[&group, &topic, &partition],
    )
    .await?;
    let row = tx
        .query_one(
            "SELECT next_offset FROM consumer_offsets WHERE group_id = $1 AND topic = $2 AND partition = $3 FOR UPDATE",
            &[&group, &topic, &partition],
        )
        .await?;
    row.try_get(0)
}

pub async fn store_next_offset(
    tx: &Transaction<'_>,
    group: &str,
    topic: &str,
    partition: i32,
    next: i64,
) -> Result<(), tokio_postgres::Error> {
    tx.execute(
        "UPDATE consumer_offsets SET next_offset = $4, updated_at = now() WHERE group_id = $1 AND topic = $2 AND partition = $3",
        &[&group, &topic, &partition, &next],
    )
    .await?;
    Ok(())
}

/// Stored next offsets of a group for the given partitions of one topic.
pub async fn load<C: GenericClient>(
    client: &C,
    group: &str,
    topic: &str,
    partitions: &[i32],
) -> Result<Vec<(i32, i64)>, tokio_postgres::Error> {
    let rows = client
        .query(
            "SELECT partition, next_offset FROM consumer_offsets WHERE group_id = $1 AND topic = $2 AND partition = ANY($3)",
            &[&group, &topic, &partitions],
        )
        .await?;
    rows.iter().map(|r| Ok((r.try_get(0)?, r.try_get(1)?))).collect()
}
