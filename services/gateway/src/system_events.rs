//! System events (`signalops.user.signed_up`, `signalops.invitation.*`, …).
//!
//! A handler *stages* the event in the transaction of the change it
//! describes (the `outbox` table), so a committed change always gets its
//! event and a rolled-back one never does. A relay task appends staged
//! events to the events topic and deletes them once Kafka acknowledged; a
//! crash in between re-sends, so delivery is at-least-once with a stable
//! event id consumers can deduplicate on.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use signalops_platform::TenantId;
use signalops_platform::kafka::{EventProducer, OutgoingRecord};
use signalops_platform::postgres::Pool;
use signalops_proto::{Event, Message};
use tokio::sync::Notify;
use tokio_postgres::GenericClient;

pub const SOURCE: &str = "/signalops/control-plane";
const RELAY_BATCH: i64 = 500;

/// Stages an event in the caller's transaction (whose tenant must be `tenant`).
pub async fn stage<C: GenericClient>(
    tx: &C,
    tenant: TenantId,
    event_type: &str,
    subject: &str,
    data: Value,
) -> Result<(), tokio_postgres::Error> {
    signalops_platform::system_events::stage(tx, tenant, SOURCE, event_type, subject, data).await
}

/// Relays staged events until the process stops: at once when notified,
/// and every second otherwise (events staged by other instances, retries).
pub fn spawn_relay(pool: Pool, producer: EventProducer, topic: String, wake: Arc<Notify>) {
    tokio::spawn(async move {
        loop {
            match relay_once(&pool, &producer, &topic).await {
                Ok(sent) if sent as i64 == RELAY_BATCH => continue,
                Ok(_) => {}
                Err(error) => tracing::warn!(error = %format!("{error:#}"), "system event relay failed; retrying"),
            }
            tokio::select! {
                () = wake.notified() => {}
                () = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
        }
    });
}

/// Sends one batch; rows are deleted only after Kafka acknowledged them.
async fn relay_once(pool: &Pool, producer: &EventProducer, topic: &str) -> anyhow::Result<usize> {
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    tx.execute("SELECT set_config('app.outbox_relay', 'on', true)", &[]).await?;
    let rows = tx.query("SELECT id, tenant_id, envelope FROM outbox ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED", &[&RELAY_BATCH]).await?;
    if rows.is_empty() {
        return Ok(0);
    }
    let records: Vec<OutgoingRecord> = rows
        .iter()
        .map(|row| {
            let tenant: uuid::Uuid = row.try_get(1)?;
            let bytes: Vec<u8> = row.try_get(2)?;
            let headers = Event::decode(bytes.as_slice())
                .map(|event| signalops_proto::headers::envelope_headers(&event).into_iter().map(|(k, v)| (k.into(), v)).collect())
                .unwrap_or_default();
            Ok(OutgoingRecord { topic: topic.to_owned(), key: Some(tenant.to_string().into_bytes()), payload: bytes, headers })
        })
        .collect::<Result<_, tokio_postgres::Error>>()?;
    let results = producer.send_all(records).await;
    let sent: Vec<i64> = rows
        .iter()
        .zip(&results)
        .filter(|(_, r)| r.is_ok())
        .map(|(row, _)| row.try_get(0))
        .collect::<Result<_, tokio_postgres::Error>>()?;
    if let Some(Err(error)) = results.iter().find(|r| r.is_err()) {
        tracing::warn!(%error, unsent = results.len() - sent.len(), "some system events were not acknowledged; will retry");
    }
    tx.execute("DELETE FROM outbox WHERE id = ANY($1)", &[&sent]).await?;
    tx.commit().await?;
    Ok(sent.len())
}
