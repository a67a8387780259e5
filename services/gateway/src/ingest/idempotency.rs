//! Deduplication of client-supplied event ids, per tenant, across every
//! gateway instance, within `ingest.idempotency_window_days`.
//!
//! Protocol (exactly one append per key, even for concurrent requests):
//! 1. *Claim*: insert `(tenant, key, content hash)` rows in one statement;
//!    rows that already exist (and have not expired) are not claimed.
//!    The claim commits before anything is appended, so other instances see it.
//! 2. The caller appends only what it claimed, then *records* the partition
//!    and offset on the claims (or *releases* them if Kafka refused).
//! 3. A key claimed by someone else is a duplicate (same content: the
//!    original partition and offset are returned) or a conflict (different
//!    content). If the other request is still appending, we wait for it; a
//!    claim left without an offset for longer than the lease (its owner
//!    crashed) is taken over.

use std::collections::HashMap;
use std::time::Duration;

use sha2::{Digest, Sha256};
use signalops_platform::TenantId;
use signalops_platform::postgres::{Pool, begin_tenant_tx};

use crate::problem::ApiError;

/// How long a claim without an offset blocks others before it is taken over.
const LEASE_SECS: f64 = 30.0;
/// How long a request waits for a concurrent request with the same key.
const WAIT_FOR_OWNER: Duration = Duration::from_secs(5);

/// One event that carries a client key.
#[derive(Debug, Clone)]
pub struct Keyed {
    pub key: String,
    pub content_hash: Vec<u8>,
    pub event_id: String,
}

/// What happened to a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Ours to append.
    Claimed,
    /// Already appended with the same content.
    Duplicate { event_id: String, partition: i32, offset: i64 },
    /// Already used with different content.
    Conflict,
}

/// The hash that decides "same content": the client's input, not the
/// server-assigned fields (receipt time, generated ids).
pub fn content_hash(parts: &[&[u8]]) -> Vec<u8> {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part);
    }
    hasher.finalize().to_vec()
}

pub async fn claim(pool: &Pool, tenant: TenantId, items: &[Keyed], window_days: u32) -> Result<Vec<Outcome>, ApiError> {
    let deadline = tokio::time::Instant::now() + WAIT_FOR_OWNER;
    loop {
        let outcomes = claim_once(pool, tenant, items, window_days).await?;
        let pending = outcomes.iter().any(Option::is_none);
        if !pending {
            return Ok(outcomes.into_iter().flatten().collect());
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(ApiError::Unavailable("a request with the same event id is still being appended".to_owned()));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A key's row: content hash, event id, and where it was appended (if yet).
type StoredClaim = (Vec<u8>, String, Option<i32>, Option<i64>);

/// `None` for keys another request is appending right now.
async fn claim_once(pool: &Pool, tenant: TenantId, items: &[Keyed], window_days: u32) -> Result<Vec<Option<Outcome>>, ApiError> {
    let keys: Vec<&str> = items.iter().map(|i| i.key.as_str()).collect();
    let hashes: Vec<&[u8]> = items.iter().map(|i| i.content_hash.as_slice()).collect();
    let event_ids: Vec<&str> = items.iter().map(|i| i.event_id.as_str()).collect();
    let mut client = pool.get().await?;
    let tx = begin_tenant_tx(&mut client, tenant).await?;
    // Claims new keys, keys whose window expired, and abandoned claims.
    let claimed: Vec<String> = tx
        .query(
            "INSERT INTO idempotency_keys (tenant_id, key, content_hash, event_id, expires_at) \
             SELECT $1, k, h, e, now() + make_interval(days => $5) FROM unnest($2::text[], $3::bytea[], $4::text[]) AS t(k, h, e) \
             ON CONFLICT (key, tenant_id) DO UPDATE SET content_hash = EXCLUDED.content_hash, event_id = EXCLUDED.event_id, \
                 partition = NULL, \"offset\" = NULL, created_at = now(), expires_at = EXCLUDED.expires_at \
             WHERE idempotency_keys.expires_at < now() \
                OR (idempotency_keys.partition IS NULL AND idempotency_keys.created_at < now() - make_interval(secs => $6)) \
             RETURNING key",
            &[&tenant.as_uuid(), &keys, &hashes, &event_ids, &(window_days as i32), &LEASE_SECS],
        )
        .await?
        .iter()
        .map(|r| r.try_get(0))
        .collect::<Result<_, _>>()?;
    let existing: HashMap<String, StoredClaim> = tx
        .query("SELECT key, content_hash, event_id, partition, \"offset\" FROM idempotency_keys WHERE key = ANY($1)", &[&keys])
        .await?
        .iter()
        .map(|r| Ok((r.try_get(0)?, (r.try_get(1)?, r.try_get(2)?, r.try_get(3)?, r.try_get(4)?))))
        .collect::<Result<_, tokio_postgres::Error>>()?;
    tx.commit().await?;
    Ok(items
        .iter()
        .map(|item| {
            if claimed.contains(&item.key) {
                return Some(Outcome::Claimed);
            }
            let (hash, event_id, partition, offset) = existing.get(&item.key)?;
            if *hash != item.content_hash {
                return Some(Outcome::Conflict);
            }
            match (partition, offset) {
                (Some(partition), Some(offset)) => {
                    Some(Outcome::Duplicate { event_id: event_id.clone(), partition: *partition, offset: *offset })
                }
                _ => None,
            }
        })
        .collect())
}

/// Records where claimed events were appended.
pub async fn record(pool: &Pool, tenant: TenantId, appended: &[(String, i32, i64)]) -> Result<(), ApiError> {
    if appended.is_empty() {
        return Ok(());
    }
    let keys: Vec<&str> = appended.iter().map(|a| a.0.as_str()).collect();
    let partitions: Vec<i32> = appended.iter().map(|a| a.1).collect();
    let offsets: Vec<i64> = appended.iter().map(|a| a.2).collect();
    let mut client = pool.get().await?;
    let tx = begin_tenant_tx(&mut client, tenant).await?;
    tx.execute(
        "UPDATE idempotency_keys AS k SET partition = t.p, \"offset\" = t.o FROM unnest($1::text[], $2::int[], $3::bigint[]) AS t(key, p, o) WHERE k.key = t.key",
        &[&keys, &partitions, &offsets],
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Frees claims whose events Kafka did not take, so a retry can append them.
pub async fn release(pool: &Pool, tenant: TenantId, keys: &[String]) -> Result<(), ApiError> {
    if keys.is_empty() {
        return Ok(());
    }
    let mut client = pool.get().await?;
    let tx = begin_tenant_tx(&mut client, tenant).await?;
    tx.execute("DELETE FROM idempotency_keys WHERE key = ANY($1) AND partition IS NULL", &[&keys]).await?;
    tx.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_hashes_separate_fields_unambiguously() {
        assert_ne!(content_hash(&[b"ab", b"c"]), content_hash(&[b"a", b"bc"]));
        assert_eq!(content_hash(&[b"x", b"{}"]), content_hash(&[b"x", b"{}"]));
    }
}
