//! The notifier group's effect: each notification request recorded once in
//! `deliveries`, in the batch's transaction, by its deterministic id. A
//! replay or a redelivery of the same request finds its row and records
//! nothing, so it can never be sent twice.

use std::sync::Arc;

use async_trait::async_trait;
use signalops_platform::consumer::{BatchHandler, HandlerError, Record, Transaction};
use tokio::sync::Notify;

use crate::metrics;
use crate::requests::Request;

const INSERT_SQL: &str = "INSERT INTO deliveries (tenant_id, id, rule_id, rule_version, action_index, source_event_id, source_event_type, \
     channels, subject, body, traceparent, tracestate, requested_at, received_at, kafka_partition, kafka_offset) \
     SELECT r.tenant_id, r.id, r.rule_id, r.rule_version, r.action_index, r.source_event_id, r.source_event_type, \
            string_to_array(r.channels, chr(31)), r.subject, r.body, r.traceparent, r.tracestate, r.requested_at, r.received_at, \
            r.kafka_partition, r.kafka_offset \
     FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::int[], $5::int[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], \
                 $11::text[], $12::text[], $13::timestamptz[], $14::timestamptz[], $15::int[], $16::bigint[]) \
          AS r(tenant_id, id, rule_id, rule_version, action_index, source_event_id, source_event_type, channels, subject, body, \
               traceparent, tracestate, requested_at, received_at, kafka_partition, kafka_offset) \
     ON CONFLICT (tenant_id, id) DO NOTHING";

/// Records notification requests, and wakes this instance's sender when
/// new ones were recorded (other instances find them on their next look).
#[derive(Debug, Default)]
pub struct RecordingHandler {
    pub wake: Arc<Notify>,
}

#[async_trait]
impl BatchHandler for RecordingHandler {
    async fn handle(&self, tx: &Transaction<'_>, records: &[Record]) -> Result<(), HandlerError> {
        let mut requests = Vec::with_capacity(records.len());
        for (index, record) in records.iter().enumerate() {
            requests.push(Request::decode(record).map_err(|reason| HandlerError::undecodable(index, reason))?);
        }
        // Every tenant's rows in one statement: the notifier acts for all of them.
        tx.batch_execute("SELECT set_config('app.notifier', 'on', true)").await?;
        let column = |f: fn(&Request) -> String| requests.iter().map(f).collect::<Vec<_>>();
        let tenants: Vec<uuid::Uuid> = requests.iter().map(|r| r.tenant).collect();
        let ids: Vec<uuid::Uuid> = requests.iter().map(|r| r.id).collect();
        let rules: Vec<uuid::Uuid> = requests.iter().map(|r| r.rule_id).collect();
        let versions: Vec<i32> = requests.iter().map(|r| r.rule_version).collect();
        let actions: Vec<i32> = requests.iter().map(|r| r.action_index).collect();
        let event_ids = column(|r| r.source_event_id.clone());
        let event_types = column(|r| r.source_event_type.clone());
        // Channel ids never hold the unit separator (a-z, 0-9, '.', '_', '-'
        // in the tenant's channels; anything else finds no channel).
        let chains = column(|r| r.channels.join("\u{1f}"));
        let subjects: Vec<Option<&str>> = requests.iter().map(|r| r.subject.as_deref()).collect();
        let bodies = column(|r| r.body.clone());
        let parents: Vec<Option<&str>> = requests.iter().map(|r| r.traceparent.as_deref()).collect();
        let states: Vec<Option<&str>> = requests.iter().map(|r| r.tracestate.as_deref()).collect();
        let requested: Vec<_> = requests.iter().map(|r| r.requested_at).collect();
        let received: Vec<_> = requests.iter().map(|r| r.received_at).collect();
        let partitions: Vec<i32> = requests.iter().map(|r| r.partition).collect();
        let offsets: Vec<i64> = requests.iter().map(|r| r.offset).collect();
        let statement = tx.prepare_cached(INSERT_SQL).await?;
        let recorded = tx
            .execute(
                &statement,
                &[
                    &tenants,
                    &ids,
                    &rules,
                    &versions,
                    &actions,
                    &event_ids,
                    &event_types,
                    &chains,
                    &subjects,
                    &bodies,
                    &parents,
                    &states,
                    &requested,
                    &received,
                    &partitions,
                    &offsets,
                ],
            )
            .await?;
        let m = metrics::notifier();
        m.requests.with_label_values(&["recorded"]).inc_by(recorded);
        m.requests.with_label_values(&["repeated"]).inc_by(requests.len() as u64 - recorded);
        if recorded > 0 {
            // Before the commit: the sender's first look may miss the rows,
            // and it looks again within `idle_poll_ms`.
            self.wake.notify_one();
        }
        Ok(())
    }
}
