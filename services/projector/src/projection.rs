//! The events read model as a `BatchHandler`: each batch's rows and hourly
//! counts are written in the runtime's transaction, together with the
//! partition's next offset, so each record takes effect exactly once.
//!
//! Rows are written per tenant (row-level security applies to the projector
//! too) with one `INSERT … SELECT FROM unnest(…)` per tenant and batch. A
//! record already projected (an event the outbox relayed twice, say) is
//! skipped by the primary key, and only rows actually inserted are counted.

use async_trait::async_trait;
use signalops_platform::TenantId;
use signalops_platform::consumer::{BatchHandler, HandlerError, Record, Transaction};
use signalops_platform::postgres::set_tenant;

use crate::rows::EventRow;

pub struct EventsProjection {
    insert_sql: String,
}

impl EventsProjection {
    /// Projects into the tables of `schema` (`public` serves readers; a
    /// rebuild writes a schema of its own).
    pub fn new(schema: &str) -> Self {
        let schema = schema.replace('"', "\"\"");
        let insert_sql = format!(
            "WITH inserted AS ( \
                INSERT INTO \"{schema}\".events (tenant_id, id, type, source, subject, time, received_at, data_content_type, data, \
                    schema_version, kafka_partition, kafka_offset) \
                SELECT $1, id, type, source, subject, time, received_at, ct, d::jsonb, v, p, o \
                FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::timestamptz[], $7::timestamptz[], $8::text[], \
                    $9::text[], $10::int[], $11::int[], $12::bigint[]) AS t(id, type, source, subject, time, received_at, ct, d, v, p, o) \
                ON CONFLICT DO NOTHING \
                RETURNING type, date_trunc('hour', time, 'UTC') AS hour) \
             INSERT INTO \"{schema}\".event_type_counts (tenant_id, type, hour, count) \
             SELECT $1, type, hour, count(*) FROM inserted GROUP BY type, hour \
             ON CONFLICT (tenant_id, hour, type) DO UPDATE SET count = event_type_counts.count + EXCLUDED.count"
        );
        Self { insert_sql }
    }

    async fn write_tenant(&self, tx: &Transaction<'_>, tenant: TenantId, rows: &[&EventRow]) -> Result<(), tokio_postgres::Error> {
        set_tenant(tx, tenant).await?;
        let column = |f: fn(&EventRow) -> String| rows.iter().map(|r| f(r)).collect::<Vec<_>>();
        let ids = column(|r| r.id.clone());
        let types = column(|r| r.event_type.clone());
        let sources = column(|r| r.source.clone());
        let subjects: Vec<Option<&str>> = rows.iter().map(|r| r.subject.as_deref()).collect();
        let times: Vec<_> = rows.iter().map(|r| r.time).collect();
        let received: Vec<_> = rows.iter().map(|r| r.received_at).collect();
        let content_types = column(|r| r.data_content_type.clone());
        let data: Vec<&str> = rows.iter().map(|r| r.data.as_str()).collect();
        let versions: Vec<i32> = rows.iter().map(|r| r.schema_version).collect();
        let partitions: Vec<i32> = rows.iter().map(|r| r.partition).collect();
        let offsets: Vec<i64> = rows.iter().map(|r| r.offset).collect();
        let statement = tx.prepare_cached(&self.insert_sql).await?;
        tx.execute(
            &statement,
            &[
                &tenant.as_uuid(),
                &ids,
                &types,
                &sources,
                &subjects,
                &times,
                &received,
                &content_types,
                &data,
                &versions,
                &partitions,
                &offsets,
            ],
        )
        .await?;
        Ok(())
    }
}

#[async_trait]
impl BatchHandler for EventsProjection {
    #[tracing::instrument(name = "projector.batch", skip_all, fields(records = records.len()), err)]
    async fn handle(&self, tx: &Transaction<'_>, records: &[Record]) -> Result<(), HandlerError> {
        let mut rows = Vec::with_capacity(records.len());
        for (index, record) in records.iter().enumerate() {
            rows.push(EventRow::from_record(record).map_err(|e| HandlerError::undecodable(index, e.to_string()))?);
        }
        // Records are keyed by tenant, so a batch nearly always holds one.
        let mut tenants: Vec<TenantId> = rows.iter().map(|r| r.tenant).collect();
        tenants.sort_unstable_by_key(|t| t.as_uuid());
        tenants.dedup();
        for tenant in tenants {
            let of_tenant: Vec<&EventRow> = rows.iter().filter(|r| r.tenant == tenant).collect();
            // A refused row (data, constraint) is permanent for the batch: the
            // runtime bisects it down to the record and dead-letters only that.
            self.write_tenant(tx, tenant, &of_tenant).await?;
        }
        Ok(())
    }
}
