//! The stored events a backtest reads: the tenant's events in the serving
//! read model (`query::use_serving_read_model`), of the rule's event types,
//! received in `[from, to)`, in `received_at` order with the Kafka position
//! and the id breaking ties, so two backtests of the same range read the
//! same sequence.
//!
//! The rows come through one Postgres portal (a cursor), `page_size` at a
//! time: the range is never held in memory at once, and the query's
//! `LIMIT` (the scan bound plus one, to tell whether more remain) lets
//! Postgres keep only that many rows while it sorts.

use chrono::{DateTime, Utc};
use serde_json::Value;
use signalops_rule_engine::{CompiledRule, EventTypePattern};
use tokio_postgres::{Portal, Transaction};

/// One stored event, owned, for the engine's `Event` view to borrow.
pub(crate) struct StoredEvent {
    pub(crate) id: String,
    pub(crate) event_type: String,
    pub(crate) source: String,
    pub(crate) subject: Option<String>,
    pub(crate) time: DateTime<Utc>,
    pub(crate) received_at: DateTime<Utc>,
    /// The JSON data; `null` for data of another media type.
    pub(crate) data: Value,
}

const SQL: &str = "SELECT id, type, source, subject, time, received_at, data_content_type, data FROM events \
     WHERE received_at >= $1 AND received_at < $2 \
       AND (type = ANY($3::text[]) OR EXISTS (SELECT 1 FROM unnest($4::text[]) AS p(prefix) WHERE starts_with(type, p.prefix))) \
     ORDER BY received_at, kafka_partition, kafka_offset, id LIMIT $5";

/// The events of one backtest, page by page.
pub(crate) struct EventPages<'t, 'c> {
    tx: &'t Transaction<'c>,
    portal: Portal,
    page_size: i32,
    done: bool,
}

impl<'t, 'c> EventPages<'t, 'c> {
    /// Opens the portal over at most `limit` events. The transaction must
    /// already point at the serving read model.
    pub(crate) async fn open(
        tx: &'t Transaction<'c>,
        rule: &CompiledRule,
        (from, to): (DateTime<Utc>, DateTime<Utc>),
        limit: i64,
        page_size: i32,
    ) -> Result<Self, tokio_postgres::Error> {
        let (mut exact, mut prefixes) = (Vec::new(), Vec::new());
        for pattern in rule.event_types() {
            match pattern {
                EventTypePattern::Exact(t) => exact.push(t.clone()),
                EventTypePattern::Prefix(p) => prefixes.push(p.clone()),
            }
        }
        let portal = tx.bind(SQL, &[&from, &to, &exact, &prefixes, &limit]).await?;
        Ok(EventPages { tx, portal, page_size, done: false })
    }

    /// The next page; empty once every event was read.
    pub(crate) async fn next_page(&mut self) -> Result<Vec<StoredEvent>, tokio_postgres::Error> {
        if self.done {
            return Ok(Vec::new());
        }
        let rows = self.tx.query_portal(&self.portal, self.page_size).await?;
        if rows.len() < usize::try_from(self.page_size).unwrap_or(usize::MAX) {
            self.done = true;
        }
        rows.iter().map(event_from).collect()
    }

    /// Whether every event was read (the last page was short).
    pub(crate) fn is_done(&self) -> bool {
        self.done
    }
}

fn event_from(row: &tokio_postgres::Row) -> Result<StoredEvent, tokio_postgres::Error> {
    let content_type: String = row.try_get(6)?;
    let data: Option<Value> = row.try_get(7)?;
    let data = if signalops_proto::content_type::is_json(&content_type) { data.unwrap_or(Value::Null) } else { Value::Null };
    Ok(StoredEvent {
        id: row.try_get(0)?,
        event_type: row.try_get(1)?,
        source: row.try_get(2)?,
        subject: row.try_get(3)?,
        time: row.try_get(4)?,
        received_at: row.try_get(5)?,
        data,
    })
}
