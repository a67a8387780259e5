//! The rules scenario: tenants with rules of the shape the budget is stated
//! for, a topic of their events, and the ceiling — the consumer runtime with
//! a handler that does nothing, over the same topic and records. The rules
//! service itself is run by bench.sh (so its RSS is its own) and timed by
//! `catch-up`, the watcher that times the ceiling.
//!
//! Shape: `tenants` × (`stateless` rules, about 10 % of events matching one
//! of them, + `windows` window rules, about 10 % of events counting in one).
//! Every rule is indexed for the events' type, so each event is evaluated
//! by all of a tenant's rules.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use async_trait::async_trait;
use serde_json::{Value, json};
use signalops_platform::config::{ConsumerSettings, DatabaseSettings, KafkaSettings, Secret};
use signalops_platform::consumer::{BatchHandler, ConsumerRuntime, DeadLetterSink, HandlerError, Record, Transaction};
use signalops_platform::kafka::{EventProducer, OutgoingRecord};
use signalops_platform::postgres;
use signalops_proto::{ENVELOPE_SCHEMA_VERSION, Event, Message as _};
use tokio_util::sync::CancellationToken;

use crate::result::ScenarioResult;

/// The event type every rule is indexed for.
const EVENT_TYPE: &str = "invoice.paid";
/// `bucket` values: stateless rule i matches bucket i, so 80 rules of 800
/// buckets match 10 % of events, each at most one rule.
const BUCKETS: u64 = 800;
/// `w` values: window rule j counts events with w = j (20 of 200: 10 %).
const WINDOW_BUCKETS: u64 = 200;
const CUSTOMERS: u64 = 100;

fn stateless_rule(i: usize) -> Value {
    json!({
        "name": format!("stateless {i}"),
        "event_types": [EVENT_TYPE],
        "when": {"all": [{"path": "/data/bucket", "op": "eq", "value": i}, {"path": "/data/amount", "op": "gte", "value": 0}]},
        "actions": [{"notify": {"channels": ["ops"], "subject": "{{ event.type }}", "body": "customer {{ event.data.customer }} paid {{ event.data.amount }}"}}]
    })
}

fn window_rule(j: usize) -> Value {
    json!({
        "name": format!("window {j}"),
        "event_types": [EVENT_TYPE],
        "when": {"path": "/data/w", "op": "eq", "value": j},
        "window": {"count": 5, "within": "10m", "per": "/data/customer"},
        "actions": [{"notify": {"channels": ["ops"], "body": "five from {{ event.data.customer }}"}}]
    })
}

/// Spreads values without a random generator: the same run every time.
fn spread(i: u64, salt: u64, modulo: u64) -> u64 {
    i.wrapping_mul(0x9E37_79B9_7F4A_7C15).wrapping_add(salt).rotate_left(17) % modulo
}

fn envelope(tenant: &str, i: u64, received_at: chrono::DateTime<chrono::Utc>) -> Event {
    let data = json!({
        "bucket": spread(i, 1, BUCKETS),
        "w": spread(i, 2, WINDOW_BUCKETS),
        "customer": format!("cus_{}", spread(i, 3, CUSTOMERS)),
        "amount": 4200,
        "currency": "EUR",
        "note": "x".repeat(200),
    });
    let at = Some(signalops_proto::time::to_timestamp(received_at));
    Event {
        id: uuid::Uuid::now_v7().to_string(),
        tenant_id: tenant.to_owned(),
        r#type: EVENT_TYPE.to_owned(),
        source: "/bench".to_owned(),
        subject: String::new(),
        time: at,
        received_at: at,
        data_content_type: "application/json".to_owned(),
        data: data.to_string().into_bytes(),
        schema_version: ENVELOPE_SCHEMA_VERSION,
        causation: None,
    }
}

async fn add_rules(client: &mut tokio_postgres::Client, tenant: uuid::Uuid, rules: &[Value]) -> anyhow::Result<()> {
    let tx = client.transaction().await?;
    tx.execute("SELECT set_config('app.tenant_id', $1, true)", &[&tenant.to_string()]).await?;
    for document in rules {
        let id = uuid::Uuid::now_v7();
        let name = document["name"].as_str().unwrap_or("bench");
        tx.execute(
            "INSERT INTO rules (id, tenant_id, name, current_version, status) VALUES ($1, $2, $3, 1, 'active')",
            &[&id, &tenant, &name],
        )
        .await?;
        tx.execute("INSERT INTO rule_versions (tenant_id, rule_id, version, document) VALUES ($1, $2, 1, $3)", &[&tenant, &id, document])
            .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Creates `tenants` tenants with `stateless` rules each and appends `count`
/// of their events to `topic`; returns the tenant ids.
pub async fn setup(
    database_url: &str,
    brokers: &str,
    topic: &str,
    tenants: usize,
    stateless: usize,
    count: u64,
) -> anyhow::Result<Vec<String>> {
    let mut client = postgres::connect_one(database_url).await?;
    let mut ids = Vec::new();
    let rules: Vec<Value> = (0..stateless).map(stateless_rule).collect();
    for n in 0..tenants.max(1) {
        let tenant = uuid::Uuid::new_v4();
        let tx = client.transaction().await?;
        tx.execute("SELECT set_config('app.tenant_id', $1, true)", &[&tenant.to_string()]).await?;
        tx.execute("INSERT INTO tenants (id, name) VALUES ($1, $2)", &[&tenant, &format!("bench-rules-{n}")])
            .await
            .context("creating a tenant")?;
        tx.commit().await?;
        add_rules(&mut client, tenant, &rules).await.context("creating rules")?;
        ids.push(tenant.to_string());
    }
    let producer = EventProducer::new(&KafkaSettings { brokers: brokers.to_owned(), ..KafkaSettings::default() }, "signalops-bench-rules")?;
    let start = chrono::Utc::now() - chrono::TimeDelta::hours(1);
    let mut sent = 0;
    while sent < count {
        let chunk = (count - sent).min(20_000);
        let records = (sent..sent + chunk)
            .map(|i| {
                let tenant = &ids[usize::try_from(i).unwrap_or(0) % ids.len()];
                // A second apart per tenant: windows of ten minutes see a few
                // hundred of a tenant's events, as under a steady load.
                let event = envelope(tenant, i, start + chrono::TimeDelta::milliseconds(i64::try_from(i).unwrap_or(0) * 10));
                let headers = signalops_proto::headers::envelope_headers(&event).into_iter().map(|(k, v)| (k.into(), v)).collect();
                OutgoingRecord { topic: topic.to_owned(), key: Some(tenant.clone().into_bytes()), payload: event.encode_to_vec(), headers }
            })
            .collect();
        if let Some(error) = producer.send_all(records).await.into_iter().find_map(Result::err) {
            anyhow::bail!("filling {topic}: {error}");
        }
        sent += chunk;
    }
    Ok(ids)
}

/// Adds `windows` window rules to each tenant.
pub async fn add_windows(database_url: &str, tenants: &[String], windows: usize) -> anyhow::Result<()> {
    let mut client = postgres::connect_one(database_url).await?;
    let rules: Vec<Value> = (0..windows).map(window_rule).collect();
    for tenant in tenants {
        add_rules(&mut client, tenant.parse().context("a tenant id")?, &rules).await?;
    }
    Ok(())
}

struct Noop;

#[async_trait]
impl BatchHandler for Noop {
    async fn handle(&self, _tx: &Transaction<'_>, _records: &[Record]) -> Result<(), HandlerError> {
        Ok(())
    }
}

/// The consumer runtime with a no-op handler over `topic` (a fresh group,
/// the rules group's batch size), from its first stored batch until
/// `count` records are stored.
pub async fn noop_ceiling(database_url: &str, brokers: &str, topic: &str, count: u64) -> anyhow::Result<ScenarioResult> {
    let kafka = KafkaSettings { brokers: brokers.to_owned(), ..KafkaSettings::default() };
    let database = DatabaseSettings { url: Secret::new(database_url.to_owned()), ..DatabaseSettings::default() };
    let pool = postgres::connect_pool(&database)?;
    let group = format!("bench-noop-{}", uuid::Uuid::new_v4().simple());
    let dead_letters = DeadLetterSink::new(EventProducer::new(&kafka, "signalops-bench-noop")?, "signalops.dlq.v1".to_owned());
    let runtime = ConsumerRuntime::new(
        kafka,
        // The rules group's batch size: the ceiling pays the same number of
        // per-batch transactions as the group it judges.
        ConsumerSettings { batch_max_records: signalops_rules::BATCH_MAX_RECORDS, ..ConsumerSettings::for_group(group.clone()) },
        vec![topic.to_owned()],
        pool.clone(),
        Arc::new(Noop),
        dead_letters,
    );
    let stop = CancellationToken::new();
    let task = tokio::spawn(runtime.run(stop.clone()));
    let caught_up = watch_catch_up(&pool, &group, topic, count).await;
    stop.cancel();
    let _ = task.await;
    let caught_up = caught_up?;
    Ok(caught_up.result(
        "rules-noop-ceiling",
        format!(
            "the consumer runtime with a no-op handler, from its first batch to {} records in {:.1} s",
            caught_up.done, caught_up.seconds
        ),
    ))
}

/// How a group caught up: records stored after its first batch, and how long that took.
pub struct CatchUp {
    pub first_done: u64,
    pub done: u64,
    pub seconds: f64,
}

impl CatchUp {
    pub fn result(&self, scenario: &str, note: String) -> ScenarioResult {
        ScenarioResult {
            scenario: scenario.into(),
            available: true,
            events_per_s: (self.done - self.first_done) as f64 / self.seconds,
            requests: self.done - self.first_done,
            note,
            ..ScenarioResult::default()
        }
    }
}

/// Watches `group`'s stored offsets on `topic` every 50 ms over one
/// connection, from the first stored batch (the group join before it is
/// left out) until `count` records are stored. The ceiling and the rules
/// service are timed by this same watcher, so neither pays for the other's
/// measuring.
pub async fn watch_catch_up(pool: &postgres::Pool, group: &str, topic: &str, count: u64) -> anyhow::Result<CatchUp> {
    let client = pool.get().await?;
    let statement =
        client.prepare("SELECT coalesce(sum(next_offset), 0)::bigint FROM consumer_offsets WHERE group_id = $1 AND topic = $2").await?;
    let deadline = Instant::now() + Duration::from_secs(600);
    let (mut first, mut first_done, mut done) = (None, 0, 0);
    while done < count {
        anyhow::ensure!(Instant::now() < deadline, "{group} stored {done} of {count} records in 600 s");
        done = u64::try_from(client.query_one(&statement, &[&group, &topic]).await?.try_get::<_, i64>(0)?).unwrap_or(0);
        if first.is_none() && done > 0 {
            first = Some(Instant::now());
            first_done = done;
        }
        if done < count {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let seconds = first.map_or(0.0, |f: Instant| f.elapsed().as_secs_f64()).max(1e-3);
    Ok(CatchUp { first_done, done, seconds })
}
