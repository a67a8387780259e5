//! Claiming due deliveries: one statement, under a transaction-scoped
//! advisory lock so that instances claim one after another (a claim takes
//! milliseconds) and the count of attempts in flight per channel is exact
//! over all of them. Due rows are taken oldest first, leaving out channels
//! already at their concurrency and taking no more of one channel than it
//! has room for, so a slow channel's backlog never fills a claim.
//!
//! A claim holds until `claimed_until`; the attempt's record clears it. An
//! instance that dies mid-attempt leaves the claim to lapse, and the
//! delivery is tried again, with the same notification id.

use chrono::{DateTime, Utc};
use signalops_platform::postgres::Pool;
use uuid::Uuid;

/// `hashtext('signalops.notifier.claim')` is not stable across versions;
/// a fixed key is.
const CLAIM_LOCK: i64 = 0x5349_474e_414c_0001;

/// How many due rows one claim looks at, per delivery it may take: enough
/// that a few busy channels at the head of the queue do not hide the rest.
const SCAN_FACTOR: i64 = 8;

const CLAIM_SQL: &str = "\
WITH inflight AS (
    SELECT tenant_id, channels[channel_index + 1] AS channel_id, count(*) AS n
    FROM deliveries WHERE claimed_until IS NOT NULL AND claimed_until > $1::timestamptz
    GROUP BY 1, 2
), scan AS (
    SELECT d.tenant_id, d.id, d.channels[d.channel_index + 1] AS channel_id, d.next_attempt_at, coalesce(f.n, 0) AS n
    FROM deliveries d
    LEFT JOIN inflight f ON f.tenant_id = d.tenant_id AND f.channel_id = d.channels[d.channel_index + 1]
    WHERE d.status = 'pending' AND d.next_attempt_at <= $1 AND (d.claimed_until IS NULL OR d.claimed_until <= $1)
      AND coalesce(f.n, 0) < $2::bigint
    ORDER BY d.next_attempt_at
    LIMIT $3::bigint * $6::bigint
), picked AS (
    SELECT tenant_id, id FROM (
        SELECT tenant_id, id, next_attempt_at,
               n + row_number() OVER (PARTITION BY tenant_id, channel_id ORDER BY next_attempt_at, id) AS place
        FROM scan) ranked
    WHERE place <= $2
    ORDER BY next_attempt_at
    LIMIT $3
)
UPDATE deliveries d SET claimed_until = $1 + $4::float8 * interval '1 millisecond', claimed_by = $5::text
FROM picked WHERE d.tenant_id = picked.tenant_id AND d.id = picked.id
RETURNING d.tenant_id, d.id, d.rule_id, d.rule_version, d.source_event_id, d.source_event_type, d.channels, d.channel_index,
          d.channel_attempts, d.attempts, d.subject, d.body, d.traceparent, d.tracestate, d.requested_at, d.received_at";

/// A delivery this instance holds until its attempt is recorded.
#[derive(Debug, Clone, PartialEq)]
pub struct Claimed {
    pub tenant: Uuid,
    pub id: Uuid,
    pub rule_id: Uuid,
    pub rule_version: i32,
    pub source_event_id: String,
    pub source_event_type: String,
    pub channels: Vec<String>,
    pub channel_index: usize,
    pub channel_attempts: u32,
    /// Attempts made so far over the whole chain; the record of this
    /// attempt is applied only while the row still says this (fencing an
    /// instance whose claim lapsed while it was stopped).
    pub attempts: i32,
    pub subject: Option<String>,
    pub body: String,
    pub traceparent: Option<String>,
    pub tracestate: Option<String>,
    pub requested_at: DateTime<Utc>,
    pub received_at: DateTime<Utc>,
}

impl Claimed {
    /// The channel now being tried.
    pub fn channel(&self) -> &str {
        self.channels.get(self.channel_index).map_or("", String::as_str)
    }
}

/// What bounds one claim.
#[derive(Debug, Clone, Copy)]
pub struct ClaimLimits {
    pub max: i64,
    pub channel_concurrency: i64,
    pub lease_ms: i64,
}

fn claimed_from(row: &tokio_postgres::Row) -> Result<Claimed, tokio_postgres::Error> {
    let channel_index: i32 = row.try_get("channel_index")?;
    let channel_attempts: i32 = row.try_get("channel_attempts")?;
    Ok(Claimed {
        tenant: row.try_get("tenant_id")?,
        id: row.try_get("id")?,
        rule_id: row.try_get("rule_id")?,
        rule_version: row.try_get("rule_version")?,
        source_event_id: row.try_get("source_event_id")?,
        source_event_type: row.try_get("source_event_type")?,
        channels: row.try_get("channels")?,
        channel_index: usize::try_from(channel_index).unwrap_or(usize::MAX),
        channel_attempts: u32::try_from(channel_attempts).unwrap_or(0),
        attempts: row.try_get("attempts")?,
        subject: row.try_get("subject")?,
        body: row.try_get("body")?,
        traceparent: row.try_get("traceparent")?,
        tracestate: row.try_get("tracestate")?,
        requested_at: row.try_get("requested_at")?,
        received_at: row.try_get("received_at")?,
    })
}

/// Claims up to `limits.max` due deliveries for `me`.
pub async fn claim(pool: &Pool, now: DateTime<Utc>, me: &str, limits: ClaimLimits) -> anyhow::Result<Vec<Claimed>> {
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    tx.batch_execute("SELECT set_config('app.notifier', 'on', true)").await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&CLAIM_LOCK]).await?;
    let statement = tx.prepare_cached(CLAIM_SQL).await?;
    let rows =
        tx.query(&statement, &[&now, &limits.channel_concurrency, &limits.max, &(limits.lease_ms as f64), &me, &SCAN_FACTOR]).await?;
    tx.commit().await?;
    Ok(rows.iter().map(claimed_from).collect::<Result<_, _>>()?)
}
