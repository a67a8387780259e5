//! Firings, written in the batch's transaction: one statement per tenant
//! and batch. A firing already recorded (the same event seen again) is left
//! as it is, and the statement says which firings are new: only theirs are
//! appended, so a record that reaches the events topic twice never makes
//! its firings' records twice.

use std::collections::HashSet;

use signalops_platform::TenantId;
use signalops_platform::consumer::Transaction;
use uuid::Uuid;

use crate::evaluate::Firing;

const FIRINGS_SQL: &str = "INSERT INTO rule_firings (tenant_id, rule_id, version, event_id, event_type, received_at, outcome, reason, \
        produced, kafka_partition, kafka_offset) \
    SELECT $1, r, v, e, t, ra, o, re, p::jsonb, kp, ko \
    FROM unnest($2::uuid[], $3::int[], $4::text[], $5::text[], $6::timestamptz[], $7::text[], $8::text[], $9::text[], $10::int[], \
        $11::bigint[]) AS x(r, v, e, t, ra, o, re, p, kp, ko) \
    ON CONFLICT DO NOTHING \
    RETURNING rule_id, version, event_id";

fn version_param(version: u32) -> i32 {
    i32::try_from(version).unwrap_or(i32::MAX)
}

/// Records `firings`; answers, per firing, whether it is new.
pub async fn firings(tx: &Transaction<'_>, tenant: TenantId, firings: &[Firing]) -> Result<Vec<bool>, tokio_postgres::Error> {
    if firings.is_empty() {
        return Ok(Vec::new());
    }
    let rules: Vec<Uuid> = firings.iter().map(|f| f.rule_id).collect();
    let versions: Vec<i32> = firings.iter().map(|f| version_param(f.version)).collect();
    let events: Vec<&str> = firings.iter().map(|f| f.event_id.as_str()).collect();
    let types: Vec<&str> = firings.iter().map(|f| f.event_type.as_str()).collect();
    let received: Vec<_> = firings.iter().map(|f| f.received_at).collect();
    let outcomes: Vec<&str> = firings.iter().map(|f| f.outcome.as_str()).collect();
    let reasons: Vec<Option<&str>> = firings.iter().map(|f| f.reason.as_deref()).collect();
    let produced: Vec<String> = firings.iter().map(|f| f.produced.to_string()).collect();
    let partitions: Vec<i32> = firings.iter().map(|f| f.partition).collect();
    let offsets: Vec<i64> = firings.iter().map(|f| f.offset).collect();
    let statement = tx.prepare_cached(FIRINGS_SQL).await?;
    let rows = tx
        .query(
            &statement,
            &[&tenant.as_uuid(), &rules, &versions, &events, &types, &received, &outcomes, &reasons, &produced, &partitions, &offsets],
        )
        .await?;
    let mut inserted = HashSet::with_capacity(rows.len());
    for row in rows {
        inserted.insert((row.try_get::<_, Uuid>(0)?, row.try_get::<_, i32>(1)?, row.try_get::<_, String>(2)?));
    }
    Ok(firings.iter().map(|f| inserted.contains(&(f.rule_id, version_param(f.version), f.event_id.clone()))).collect())
}
