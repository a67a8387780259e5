//! Firings and staged records, written in the batch's transaction: one
//! statement each per tenant and batch. A firing already recorded (the same
//! event id seen again) and a record already staged (the same deterministic
//! id) are left as they are, so recomputing a firing changes nothing.

use signalops_platform::TenantId;
use signalops_platform::consumer::Transaction;
use uuid::Uuid;

use crate::evaluate::Firing;
use crate::staging::Staged;

const FIRINGS_SQL: &str = "INSERT INTO rule_firings (tenant_id, rule_id, version, event_id, event_type, received_at, outcome, reason, \
        produced, kafka_partition, kafka_offset) \
    SELECT $1, r, v, e, t, ra, o, re, p::jsonb, kp, ko \
    FROM unnest($2::uuid[], $3::int[], $4::text[], $5::text[], $6::timestamptz[], $7::text[], $8::text[], $9::text[], $10::int[], \
        $11::bigint[]) AS x(r, v, e, t, ra, o, re, p, kp, ko) \
    ON CONFLICT DO NOTHING";

const OUTBOX_SQL: &str = "INSERT INTO rule_outbox (tenant_id, record_id, kind, payload, traceparent, tracestate) \
    SELECT $1, i, k, p, tp, ts FROM unnest($2::uuid[], $3::text[], $4::bytea[], $5::text[], $6::text[]) AS x(i, k, p, tp, ts) \
    ON CONFLICT (tenant_id, record_id) DO NOTHING";

pub async fn firings(tx: &Transaction<'_>, tenant: TenantId, firings: &[Firing]) -> Result<(), tokio_postgres::Error> {
    if firings.is_empty() {
        return Ok(());
    }
    let rules: Vec<Uuid> = firings.iter().map(|f| f.rule_id).collect();
    let versions: Vec<i32> = firings.iter().map(|f| i32::try_from(f.version).unwrap_or(i32::MAX)).collect();
    let events: Vec<&str> = firings.iter().map(|f| f.event_id.as_str()).collect();
    let types: Vec<&str> = firings.iter().map(|f| f.event_type.as_str()).collect();
    let received: Vec<_> = firings.iter().map(|f| f.received_at).collect();
    let outcomes: Vec<&str> = firings.iter().map(|f| f.outcome.as_str()).collect();
    let reasons: Vec<Option<&str>> = firings.iter().map(|f| f.reason.as_deref()).collect();
    let produced: Vec<String> = firings.iter().map(|f| f.produced.to_string()).collect();
    let partitions: Vec<i32> = firings.iter().map(|f| f.partition).collect();
    let offsets: Vec<i64> = firings.iter().map(|f| f.offset).collect();
    let statement = tx.prepare_cached(FIRINGS_SQL).await?;
    tx.execute(
        &statement,
        &[&tenant.as_uuid(), &rules, &versions, &events, &types, &received, &outcomes, &reasons, &produced, &partitions, &offsets],
    )
    .await?;
    Ok(())
}

pub async fn outbox(tx: &Transaction<'_>, tenant: TenantId, staged: &[Staged]) -> Result<(), tokio_postgres::Error> {
    if staged.is_empty() {
        return Ok(());
    }
    let ids: Vec<Uuid> = staged.iter().map(|s| s.record_id).collect();
    let kinds: Vec<&str> = staged.iter().map(|s| s.kind).collect();
    let payloads: Vec<&[u8]> = staged.iter().map(|s| s.payload.as_slice()).collect();
    let parents: Vec<Option<&str>> = staged.iter().map(|s| s.traceparent.as_deref()).collect();
    let states: Vec<Option<&str>> = staged.iter().map(|s| s.tracestate.as_deref()).collect();
    let statement = tx.prepare_cached(OUTBOX_SQL).await?;
    tx.execute(&statement, &[&tenant.as_uuid(), &ids, &kinds, &payloads, &parents, &states]).await?;
    Ok(())
}
