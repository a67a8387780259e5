//! Appends what firings staged in `rule_outbox`: derived events to the
//! events topic, notification requests to the notifications topic, keyed by
//! tenant, through the platform's outbox relay (`signalops_platform::outbox`).
//!
//! A row is marked appended only after Kafka acknowledged it. A crash
//! between the acknowledgement and the mark appends the same record again,
//! with the same id: delivery is at-least-once, and consumers deduplicate by
//! id (the notifier records each notification id once). Appended rows stay
//! until the retention deletes them, so a replay that stages the same id
//! again appends nothing (ADR 0025).

use std::borrow::Cow;
use std::time::Duration;

use async_trait::async_trait;
use signalops_platform::consumer::Transaction;
use signalops_platform::kafka::OutgoingRecord;
use signalops_platform::outbox::{Outbox, StagedRecord};
use signalops_platform::postgres::Pool;
use signalops_platform::shutdown::CancellationToken;
use signalops_proto::headers::{self, CE_ID, CE_SPECVERSION, CE_TENANT, CONTENT_TYPE, TRACEPARENT, TRACESTATE};
use signalops_proto::{Event, Message as _, NOTIFICATION_CONTENT_TYPE};
use uuid::Uuid;

use crate::metrics;
use crate::staging::{KIND_EVENT, KIND_NOTIFICATION};

const CLAIM_SQL: &str = "SELECT id, tenant_id, record_id, kind, payload, traceparent, tracestate FROM rule_outbox \
    WHERE appended_at IS NULL ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED";
const SETTLE_SQL: &str = "UPDATE rule_outbox SET appended_at = now() WHERE id = ANY($1) RETURNING kind";
const RETENTION_SQL: &str = "DELETE FROM rule_outbox WHERE appended_at < now() - make_interval(hours => $1)";
const PENDING_SQL: &str = "SELECT count(*) FROM rule_outbox WHERE appended_at IS NULL";

/// `rule_outbox` as an [`Outbox`].
pub struct RulesOutbox {
    pub events_topic: String,
    pub notifications_topic: String,
}

async fn as_relay(tx: &Transaction<'_>) -> Result<(), tokio_postgres::Error> {
    // The simple protocol: one round trip where a prepared statement takes two.
    tx.batch_execute("SELECT set_config('app.outbox_relay', 'on', true)").await
}

#[async_trait]
impl Outbox for RulesOutbox {
    fn name(&self) -> &'static str {
        "rule_outbox"
    }

    async fn claim(&self, tx: &Transaction<'_>, limit: i64) -> anyhow::Result<Vec<StagedRecord>> {
        let statement = tx.prepare_cached(CLAIM_SQL).await?;
        let params: [&(dyn tokio_postgres::types::ToSql + Sync); 1] = [&limit];
        let (_, rows) = futures::try_join!(as_relay(tx), tx.query(&statement, &params))?;
        let mut staged = Vec::with_capacity(rows.len());
        for row in rows {
            let row_id: i64 = row.try_get(0)?;
            let tenant: Uuid = row.try_get(1)?;
            let record_id: Uuid = row.try_get(2)?;
            let kind: String = row.try_get(3)?;
            let payload: Vec<u8> = row.try_get(4)?;
            let mut trace: Vec<(Cow<'static, str>, Vec<u8>)> = Vec::new();
            for (key, column) in [(TRACEPARENT, 5_usize), (TRACESTATE, 6)] {
                if let Some(value) = row.try_get::<_, Option<String>>(column)? {
                    trace.push((key.into(), value.into_bytes()));
                }
            }
            let (topic, mut headers) = if kind == KIND_EVENT {
                (&self.events_topic, event_headers(&payload))
            } else {
                (&self.notifications_topic, notification_headers(tenant, record_id))
            };
            headers.extend(trace);
            let record = OutgoingRecord { topic: topic.clone(), key: Some(tenant.to_string().into_bytes()), payload, headers };
            staged.push(StagedRecord { row_id, record });
        }
        Ok(staged)
    }

    async fn settle(&self, tx: &Transaction<'_>, appended: &[i64]) -> anyhow::Result<()> {
        let statement = tx.prepare_cached(SETTLE_SQL).await?;
        let rows = tx.query(&statement, &[&appended]).await?;
        let m = metrics::rules();
        for row in rows {
            let kind: String = row.try_get(0)?;
            let kind = if kind == KIND_EVENT { KIND_EVENT } else { KIND_NOTIFICATION };
            m.outbox_relayed.with_label_values(&[kind]).inc();
        }
        Ok(())
    }
}

/// The routing headers of an envelope (as the gateway appends them).
fn event_headers(payload: &[u8]) -> Vec<(Cow<'static, str>, Vec<u8>)> {
    Event::decode(payload)
        .map(|event| headers::envelope_headers(&event).into_iter().map(|(k, v)| (k.into(), v)).collect())
        .unwrap_or_default()
}

fn notification_headers(tenant: Uuid, id: Uuid) -> Vec<(Cow<'static, str>, Vec<u8>)> {
    vec![
        (CONTENT_TYPE.into(), NOTIFICATION_CONTENT_TYPE.as_bytes().to_vec()),
        (CE_SPECVERSION.into(), b"1.0".to_vec()),
        (CE_ID.into(), id.to_string().into_bytes()),
        (CE_TENANT.into(), tenant.to_string().into_bytes()),
    ]
}

/// Deletes appended rows older than the retention and refreshes the
/// pending gauge, every `interval` until `stop`.
pub fn spawn_maintenance(pool: Pool, retention_hours: u64, interval: Duration, stop: CancellationToken) -> tokio::task::JoinHandle<()> {
    let hours = i32::try_from(retention_hours).unwrap_or(i32::MAX);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                _ = tick.tick() => {}
            }
            match maintain(&pool, hours).await {
                Ok((deleted, pending)) => {
                    metrics::rules().outbox_pending.set(pending);
                    if deleted > 0 {
                        tracing::info!(deleted, "deleted appended outbox rows past the retention");
                    }
                }
                Err(error) => tracing::warn!(error = %format!("{error:#}"), "outbox retention failed; retrying"),
            }
        }
    })
}

/// One retention pass: (rows deleted, rows pending).
pub async fn maintain(pool: &Pool, retention_hours: i32) -> anyhow::Result<(u64, i64)> {
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    as_relay(&tx).await?;
    let deleted = tx.execute(RETENTION_SQL, &[&retention_hours]).await?;
    let pending: i64 = tx.query_one(PENDING_SQL, &[]).await?.try_get(0)?;
    tx.commit().await?;
    Ok((deleted, pending))
}
