//! The relay of `rule_outbox`: a crash between Kafka's acknowledgement and
//! the mark appends the same record again, with the same id (at-least-once),
//! and the retention deletes only appended rows past their age.

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::json;
use signalops_platform::consumer::Transaction;
use signalops_platform::outbox::{Outbox, StagedRecord, relay_once};
use signalops_platform::postgres;
use signalops_rules::relay::{RulesOutbox, maintain};

use crate::fixture::{at, envelope, fixture, notify_with};

/// The rules outbox, but the process "dies" right after Kafka acknowledged:
/// the mark never commits.
struct DiesBeforeTheMark(Arc<RulesOutbox>);

#[async_trait]
impl Outbox for DiesBeforeTheMark {
    fn name(&self) -> &'static str {
        "dies-before-the-mark"
    }

    async fn claim(&self, tx: &Transaction<'_>, limit: i64) -> anyhow::Result<Vec<StagedRecord>> {
        self.0.claim(tx, limit).await
    }

    async fn settle(&self, _tx: &Transaction<'_>, _appended: &[i64]) -> anyhow::Result<()> {
        anyhow::bail!("killed between the append and the mark")
    }
}

#[tokio::test]
async fn a_crash_between_append_and_mark_appends_the_same_id_again_and_retention_keeps_what_is_young() {
    let f = fixture(1).await;
    let tenant = f.tenant().await;
    f.rule(tenant, &notify_with("door.opened", json!({}))).await;
    let mut config = f.config();
    config.rules.relay_idle_ms = 10_000;
    let pool = postgres::connect_pool(&f.db.settings()).expect("pool");
    let outbox = Arc::new(RulesOutbox { events_topic: f.events.clone(), notifications_topic: f.notifications.clone() });
    let producer = signalops_platform::kafka::EventProducer::new(&f.stack.kafka_settings(), "outbox-test").expect("producer");

    // A firing stages the row; whether the member's relay got to it or not,
    // it is made pending again once the member is gone.
    let member = signalops_rules::spawn(&config, pool.clone(), tokio_util::sync::CancellationToken::new()).await.expect("member");
    f.send(&[envelope(tenant, "door.opened", &json!({"door": 1}), at(0))]).await;
    let staged = signalops_testkit::eventually(std::time::Duration::from_secs(30), || async {
        let rows = f.outbox(tenant).await;
        (!rows.is_empty()).then_some(rows)
    })
    .await
    .expect("staged");
    member.stop.cancel();
    member.wait().await.expect("member stopped");
    let id = staged[0].0;
    let db = f.db.superuser().await.expect("superuser");
    db.execute("UPDATE rule_outbox SET appended_at = NULL", &[]).await.expect("pending again");
    let already = f.notifications().len();

    let crashed = relay_once(&pool, &producer, &DiesBeforeTheMark(Arc::clone(&outbox)), 100).await;
    assert!(crashed.is_err(), "the pass died before its mark committed");
    assert_eq!(f.pending().await, 1, "still pending");
    let pass = relay_once(&pool, &producer, outbox.as_ref(), 100).await.expect("the next pass");
    assert_eq!(pass.appended, pass.claimed);
    assert_eq!(f.pending().await, 0);
    let ids: Vec<String> = f.notifications().into_iter().map(|n| n.id).skip(already).collect();
    assert!(ids.len() >= 2 && ids.iter().all(|i| *i == id.to_string()), "appended again with the same id: {ids:?}");

    // Retention: an appended row older than the age goes; a young one and a
    // pending one (however old) stay.
    db.execute("UPDATE rule_outbox SET appended_at = now() - interval '3 hours' WHERE record_id = $1", &[&id]).await.expect("age");
    let waiting = uuid::Uuid::now_v7();
    db.execute(
        "INSERT INTO rule_outbox (tenant_id, record_id, kind, payload, staged_at) VALUES ($1, $2, 'notification', '', now() - interval '9 hours')",
        &[&tenant, &waiting],
    )
    .await
    .expect("a pending row");
    assert_eq!(maintain(&pool, 4).await.expect("retention"), (0, 1), "younger than 4 hours: kept");
    assert_eq!(maintain(&pool, 2).await.expect("retention"), (1, 1), "older than 2 hours: deleted; the pending one stays");
    let left: Vec<uuid::Uuid> = f.outbox(tenant).await.into_iter().map(|r| r.0).collect();
    assert_eq!(left, vec![waiting]);
}
