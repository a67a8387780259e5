//! Recording finished attempts, many per transaction: each delivery's new
//! position (fenced on the attempt count it was claimed at), its attempt
//! row, the health of the channels tried, a 410's disabling, and the
//! outcomes of finished deliveries on the deliveries topic.
//!
//! Outcomes are appended before the transaction commits; one that Kafka
//! did not take is kept (`outcome_appended` false) and appended again by
//! [`append_pending_outcomes`]. A crash between the append and the commit
//! tries the delivery again and appends its outcome again, with the same
//! id: consumers of the topic count a delivery once by its id.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use signalops_platform::kafka::{EventProducer, OutgoingRecord};
use signalops_platform::postgres::Pool;
use signalops_proto::{DeliveryOutcome, Message as _};
use uuid::Uuid;

use crate::claims::Claimed;
use crate::decide::{AttemptOutcome, Next};

/// One attempt, finished, waiting to be recorded.
#[derive(Debug, Clone)]
pub struct Finished {
    pub claimed: Claimed,
    pub channel_kind: Option<&'static str>,
    pub started_at: DateTime<Utc>,
    pub latency_ms: i32,
    pub status_code: Option<i32>,
    pub excerpt: Option<String>,
    pub error: Option<String>,
    pub outcome: AttemptOutcome,
    pub next: Next,
}

impl Finished {
    fn status(&self) -> &'static str {
        match self.next {
            Next::Delivered => "delivered",
            Next::Failed => "failed",
            Next::Again { .. } | Next::Fallback { .. } => "pending",
        }
    }

    fn outcome(&self, finished_at: DateTime<Utc>) -> DeliveryOutcome {
        let c = &self.claimed;
        DeliveryOutcome {
            id: c.id.to_string(),
            tenant_id: c.tenant.to_string(),
            rule_id: c.rule_id.to_string(),
            rule_version: u32::try_from(c.rule_version).unwrap_or_default(),
            source_event_id: c.source_event_id.clone(),
            source_event_type: c.source_event_type.clone(),
            status: self.status().to_owned(),
            channel_id: c.channel().to_owned(),
            channel_kind: self.channel_kind.unwrap_or_default().to_owned(),
            attempts: u32::try_from(c.attempts + 1).unwrap_or_default(),
            requested_at: Some(signalops_proto::time::to_timestamp(c.requested_at)),
            finished_at: Some(signalops_proto::time::to_timestamp(finished_at)),
            last_error: self.error.clone().unwrap_or_default(),
        }
    }
}

/// The record of an outcome, keyed by tenant, with the source's trace.
fn outcome_record(topic: &str, outcome: &DeliveryOutcome, traceparent: Option<&str>) -> OutgoingRecord {
    let mut headers: Vec<(std::borrow::Cow<'static, str>, Vec<u8>)> = vec![
        (signalops_proto::headers::CONTENT_TYPE.into(), signalops_proto::DELIVERY_OUTCOME_CONTENT_TYPE.as_bytes().to_vec()),
        (signalops_proto::headers::CE_TENANT.into(), outcome.tenant_id.clone().into_bytes()),
    ];
    if let Some(parent) = traceparent {
        headers.push((signalops_proto::headers::TRACEPARENT.into(), parent.as_bytes().to_vec()));
    }
    OutgoingRecord { topic: topic.to_owned(), key: Some(outcome.tenant_id.clone().into_bytes()), payload: outcome.encode_to_vec(), headers }
}

const RECORD_SQL: &str = "\
WITH u AS (
    SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::int[], $4::text[], $5::int[], $6::int[], $7::timestamptz[],
                         $8::timestamptz[], $9::text[], $10::text[], $11::bool[])
        AS u(tenant_id, id, attempts, status, channel_index, channel_attempts, next_attempt_at, finished_at, last_error,
             delivered_channel, outcome_appended)
), applied AS (
    UPDATE deliveries d
    SET status = u.status, attempts = u.attempts + 1, channel_index = u.channel_index, channel_attempts = u.channel_attempts,
        next_attempt_at = u.next_attempt_at, finished_at = u.finished_at, last_error = u.last_error,
        delivered_channel = u.delivered_channel, outcome_appended = u.outcome_appended, claimed_until = NULL, claimed_by = NULL
    FROM u
    WHERE d.tenant_id = u.tenant_id AND d.id = u.id AND d.attempts = u.attempts AND d.claimed_by = $12
    RETURNING d.tenant_id, d.id
)
INSERT INTO delivery_attempts (tenant_id, delivery_id, attempt, channel_id, channel_kind, started_at, latency_ms, status_code,
                               response_excerpt, error, outcome, next_attempt_at)
SELECT a.tenant_id, a.delivery_id, a.attempt, a.channel_id, a.channel_kind, a.started_at, a.latency_ms, a.status_code,
       a.response_excerpt, a.error, a.outcome, a.next_attempt_at
FROM unnest($1::uuid[], $2::uuid[], $13::int[], $14::text[], $15::text[], $16::timestamptz[], $17::int[], $18::int[],
            $19::text[], $20::text[], $21::text[], $22::timestamptz[])
     AS a(tenant_id, delivery_id, attempt, channel_id, channel_kind, started_at, latency_ms, status_code, response_excerpt,
          error, outcome, next_attempt_at)
JOIN applied ON applied.tenant_id = a.tenant_id AND applied.id = a.delivery_id
RETURNING delivery_id";

/// Channels whose health the batch shows: healthy when any attempt to it
/// was delivered, failing (since the first failure) when none was.
const HEALTH_SQL: &str = "\
UPDATE channels c
SET failing_since = CASE WHEN u.healthy THEN NULL ELSE coalesce(c.failing_since, u.first_failure) END,
    failing_warned_at = CASE WHEN u.healthy THEN NULL ELSE c.failing_warned_at END
FROM unnest($1::uuid[], $2::text[], $3::bool[], $4::timestamptz[]) AS u(tenant_id, id, healthy, first_failure)
WHERE c.tenant_id = u.tenant_id AND c.id = u.id
  AND ((u.healthy AND c.failing_since IS NOT NULL) OR (NOT u.healthy AND c.failing_since IS NULL))";

/// What a batch's recording amounted to.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Recorded {
    pub applied: usize,
    /// Attempts whose claim another instance had taken over: not recorded.
    pub fenced: usize,
    /// Channels disabled because their receiver answered 410.
    pub disabled: Vec<(Uuid, String)>,
}

/// Records `batch` for `me`.
pub async fn record(
    pool: &Pool,
    producer: &EventProducer,
    topic: &str,
    me: &str,
    batch: &[Finished],
    now: DateTime<Utc>,
) -> anyhow::Result<Recorded> {
    // The outcomes first: an outcome Kafka did not take is marked for the
    // later append instead of failing the batch.
    let finals: Vec<&Finished> = batch.iter().filter(|f| f.next.is_final()).collect();
    let results =
        producer.send_all(finals.iter().map(|f| outcome_record(topic, &f.outcome(now), f.claimed.traceparent.as_deref())).collect()).await;
    let unappended: std::collections::HashSet<Uuid> =
        finals.iter().zip(&results).filter(|(_, r)| r.is_err()).map(|(f, _)| f.claimed.id).collect();
    if let Some(Err(error)) = results.iter().find(|r| r.is_err()) {
        tracing::warn!(%error, unappended = unappended.len(), "delivery outcomes not acknowledged; they will be appended later");
    }

    let col = |f: &dyn Fn(&Finished) -> Option<String>| batch.iter().map(f).collect::<Vec<_>>();
    let tenants: Vec<Uuid> = batch.iter().map(|f| f.claimed.tenant).collect();
    let ids: Vec<Uuid> = batch.iter().map(|f| f.claimed.id).collect();
    let attempts: Vec<i32> = batch.iter().map(|f| f.claimed.attempts).collect();
    let statuses = col(&|f| Some(f.status().to_owned()));
    let (mut indexes, mut channel_attempts, mut next_at, mut finished_at) = (vec![], vec![], vec![], vec![]);
    for f in batch {
        let c = &f.claimed;
        let index = i32::try_from(c.channel_index).unwrap_or(i32::MAX);
        let made = i32::try_from(c.channel_attempts).unwrap_or(i32::MAX).saturating_add(1);
        let (i, a, at, done) = match f.next {
            Next::Delivered | Next::Failed => (index, made, now, Some(now)),
            Next::Again { at } => (index, made, at, None),
            Next::Fallback { channel_index, at } => (i32::try_from(channel_index).unwrap_or(i32::MAX), 0, at, None),
        };
        indexes.push(i);
        channel_attempts.push(a);
        next_at.push(at);
        finished_at.push(done);
    }
    let errors = col(&|f| f.error.clone());
    let delivered_channel = col(&|f| (f.next == Next::Delivered).then(|| f.claimed.channel().to_owned()));
    let appended: Vec<bool> = batch.iter().map(|f| f.next.is_final() && !unappended.contains(&f.claimed.id)).collect();
    let numbers: Vec<i32> = batch.iter().map(|f| f.claimed.attempts + 1).collect();
    let channels = col(&|f| Some(f.claimed.channel().to_owned()));
    let kinds = col(&|f| f.channel_kind.map(str::to_owned));
    let started: Vec<DateTime<Utc>> = batch.iter().map(|f| f.started_at).collect();
    let latency: Vec<i32> = batch.iter().map(|f| f.latency_ms).collect();
    let codes: Vec<Option<i32>> = batch.iter().map(|f| f.status_code).collect();
    let excerpts = col(&|f| f.excerpt.clone());
    let outcomes = col(&|f| Some(f.outcome.as_str().to_owned()));
    let attempt_next: Vec<Option<DateTime<Utc>>> = batch.iter().zip(&next_at).map(|(f, at)| (!f.next.is_final()).then_some(*at)).collect();

    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    tx.batch_execute("SELECT set_config('app.notifier', 'on', true)").await?;
    let statement = tx.prepare_cached(RECORD_SQL).await?;
    let rows = tx
        .query(
            &statement,
            &[
                &tenants,
                &ids,
                &attempts,
                &statuses,
                &indexes,
                &channel_attempts,
                &next_at,
                &finished_at,
                &errors,
                &delivered_channel,
                &appended,
                &me,
                &numbers,
                &channels,
                &kinds,
                &started,
                &latency,
                &codes,
                &excerpts,
                &errors,
                &outcomes,
                &attempt_next,
            ],
        )
        .await?;
    let applied: std::collections::HashSet<Uuid> = rows.iter().map(|r| r.try_get(0)).collect::<Result<_, _>>()?;

    // Health from the applied attempts that reached a receiver.
    let mut health: BTreeMap<(Uuid, String), (bool, DateTime<Utc>)> = BTreeMap::new();
    let mut gone = Vec::new();
    for f in batch.iter().filter(|f| applied.contains(&f.claimed.id)) {
        let key = (f.claimed.tenant, f.claimed.channel().to_owned());
        match f.outcome {
            AttemptOutcome::Skipped => continue,
            AttemptOutcome::Gone => gone.push(key.clone()),
            _ => {}
        }
        let delivered = f.outcome == AttemptOutcome::Delivered;
        let entry = health.entry(key).or_insert((delivered, f.started_at));
        entry.0 |= delivered;
        entry.1 = entry.1.min(f.started_at);
    }
    if !health.is_empty() {
        let (keys, values): (Vec<_>, Vec<_>) = health.into_iter().unzip();
        let (tenant_ids, channel_ids): (Vec<Uuid>, Vec<String>) = keys.into_iter().unzip();
        let (healthy, since): (Vec<bool>, Vec<DateTime<Utc>>) = values.into_iter().unzip();
        let statement = tx.prepare_cached(HEALTH_SQL).await?;
        tx.execute(&statement, &[&tenant_ids, &channel_ids, &healthy, &since]).await?;
    }
    gone.sort();
    gone.dedup();
    let mut disabled = Vec::new();
    for (tenant, channel) in gone {
        if crate::health::disable(&*tx, tenant, &channel, "the receiver answered 410 Gone", now).await? {
            disabled.push((tenant, channel));
        }
    }
    tx.commit().await?;
    Ok(Recorded { applied: applied.len(), fenced: batch.len() - applied.len(), disabled })
}

/// Finished deliveries whose outcome Kafka did not take when they finished.
const PENDING_SQL: &str = "\
SELECT d.tenant_id, d.id, d.rule_id, d.rule_version, d.source_event_id, d.source_event_type, d.status, d.channels[d.channel_index + 1],
       c.kind, d.attempts, d.requested_at, d.finished_at, d.last_error, d.traceparent
FROM deliveries d LEFT JOIN channels c ON c.tenant_id = d.tenant_id AND c.id = d.channels[d.channel_index + 1]
WHERE d.finished_at IS NOT NULL AND NOT d.outcome_appended
ORDER BY d.finished_at LIMIT 500
FOR UPDATE OF d SKIP LOCKED";

/// Appends the outcomes a broker outage kept off the topic; answers how many.
pub async fn append_pending_outcomes(pool: &Pool, producer: &EventProducer, topic: &str) -> anyhow::Result<usize> {
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    tx.batch_execute("SELECT set_config('app.notifier', 'on', true)").await?;
    let rows = tx.query(PENDING_SQL, &[]).await?;
    if rows.is_empty() {
        return Ok(0);
    }
    let mut keys = Vec::with_capacity(rows.len());
    let mut records = Vec::with_capacity(rows.len());
    for row in &rows {
        let time = |at: DateTime<Utc>| Some(signalops_proto::time::to_timestamp(at));
        let (tenant, id, rule): (Uuid, Uuid, Uuid) = (row.try_get(0)?, row.try_get(1)?, row.try_get(2)?);
        let attempts: i32 = row.try_get(9)?;
        let version: i32 = row.try_get(3)?;
        let outcome = DeliveryOutcome {
            id: id.to_string(),
            tenant_id: tenant.to_string(),
            rule_id: rule.to_string(),
            rule_version: u32::try_from(version).unwrap_or_default(),
            source_event_id: row.try_get(4)?,
            source_event_type: row.try_get(5)?,
            status: row.try_get(6)?,
            channel_id: row.try_get::<_, Option<String>>(7)?.unwrap_or_default(),
            channel_kind: row.try_get::<_, Option<String>>(8)?.unwrap_or_default(),
            attempts: u32::try_from(attempts).unwrap_or_default(),
            requested_at: time(row.try_get(10)?),
            finished_at: row.try_get::<_, Option<DateTime<Utc>>>(11)?.and_then(time),
            last_error: row.try_get::<_, Option<String>>(12)?.unwrap_or_default(),
        };
        let parent: Option<String> = row.try_get(13)?;
        records.push(outcome_record(topic, &outcome, parent.as_deref()));
        keys.push((tenant, id));
    }
    let results = producer.send_all(records).await;
    let (tenants, ids): (Vec<Uuid>, Vec<Uuid>) = keys.into_iter().zip(&results).filter(|(_, r)| r.is_ok()).map(|(k, _)| k).unzip();
    tx.execute(
        "UPDATE deliveries SET outcome_appended = true WHERE (tenant_id, id) IN (SELECT * FROM unnest($1::uuid[], $2::uuid[]))",
        &[&tenants, &ids],
    )
    .await?;
    tx.commit().await?;
    Ok(ids.len())
}
