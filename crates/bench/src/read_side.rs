//! The read side of the benchmark: a topic filled with envelopes for
//! the projector to rebuild, and the Postgres ceiling — COPY of the same
//! rows into the same table shape (a scratch read-model schema).

use std::time::Instant;

use anyhow::Context as _;
use bytes::Bytes;
use futures::SinkExt as _;
use signalops_platform::config::KafkaSettings;
use signalops_platform::kafka::{EventProducer, OutgoingRecord};
use signalops_proto::Message as _;

use crate::payload::{data_json, envelope};
use crate::result::ScenarioResult;

fn tenants(count: usize) -> Vec<String> {
    (0..count.max(1)).map(|_| uuid::Uuid::new_v4().to_string()).collect()
}

/// Appends `count` envelopes (spread over `tenant_count` tenants) to `topic`.
pub async fn fill(brokers: &str, topic: &str, count: usize, tenant_count: usize) -> anyhow::Result<ScenarioResult> {
    let settings = KafkaSettings { brokers: brokers.to_owned(), ..KafkaSettings::default() };
    let producer = EventProducer::new(&settings, "signalops-bench-fill")?;
    let tenants = tenants(tenant_count);
    let data = data_json();
    let started = Instant::now();
    let mut sent = 0;
    while sent < count {
        let chunk = (count - sent).min(20_000);
        let records = (sent..sent + chunk)
            .map(|i| {
                let tenant = &tenants[i % tenants.len()];
                let event = envelope(tenant, &data);
                let headers = signalops_proto::headers::envelope_headers(&event).into_iter().map(|(k, v)| (k.into(), v)).collect();
                OutgoingRecord { topic: topic.to_owned(), key: Some(tenant.clone().into_bytes()), payload: event.encode_to_vec(), headers }
            })
            .collect();
        if let Some(error) = producer.send_all(records).await.into_iter().find_map(Result::err) {
            anyhow::bail!("filling {topic}: {error}");
        }
        sent += chunk;
    }
    let seconds = started.elapsed().as_secs_f64();
    Ok(ScenarioResult {
        scenario: "fill".into(),
        available: true,
        events_per_s: count as f64 / seconds,
        requests: count as u64,
        note: format!("{count} envelopes, {} tenants", tenants.len()),
        ..ScenarioResult::default()
    })
}

/// COPY of `rows` rows shaped like the projector's (same tenants spread,
/// types, 300-byte data) into a scratch `read_v<n>.events`, then dropped.
pub async fn copy_ceiling(owner_url: &str, rows: usize, tenant_count: usize) -> anyhow::Result<ScenarioResult> {
    let client = signalops_platform::postgres::connect_one(owner_url).await?;
    let version = 9_000 + i32::try_from(std::process::id() % 900).unwrap_or(0);
    let schema: String =
        client.query_one("SELECT create_read_model_schema($1)", &[&version]).await.context("creating the scratch schema")?.get(0);
    // The serving read model's shape, query indexes included: a rebuilt
    // version only adds them after its load, a live one has them all along.
    client.query_one("SELECT index_read_model_schema($1)", &[&version]).await.context("indexing the scratch schema")?;
    // COPY refuses tables under row-level security (the projector pays for
    // RLS with INSERT … unnest); the ceiling is the table shape without it.
    client.batch_execute(&format!("ALTER TABLE {schema}.events NO FORCE ROW LEVEL SECURITY, DISABLE ROW LEVEL SECURITY")).await?;
    let tenants = tenants(tenant_count);
    let data = data_json();
    let now = chrono::Utc::now().to_rfc3339();
    let started = Instant::now();
    let sink = client
        .copy_in(&format!(
            "COPY {schema}.events (tenant_id, id, type, source, subject, time, received_at, data_content_type, data, schema_version, \
             kafka_partition, kafka_offset) FROM STDIN"
        ))
        .await?;
    futures::pin_mut!(sink);
    let mut buffer = String::with_capacity(1 << 20);
    for i in 0..rows {
        let tenant = &tenants[i % tenants.len()];
        let id = uuid::Uuid::now_v7();
        // COPY text format: tab-separated, backslashes doubled.
        buffer.push_str(&format!(
            "{tenant}\t{id}\tinvoice.paid\t/bench\t\\N\t{now}\t{now}\tapplication/json\t{}\t1\t{}\t{i}\n",
            data.replace('\\', "\\\\"),
            i % 12
        ));
        if buffer.len() > (1 << 20) {
            sink.send(Bytes::from(std::mem::take(&mut buffer))).await?;
        }
    }
    sink.send(Bytes::from(buffer)).await?;
    let copied = sink.finish().await?;
    let seconds = started.elapsed().as_secs_f64();
    client.batch_execute(&format!("DROP SCHEMA {schema} CASCADE")).await?;
    Ok(ScenarioResult {
        scenario: "postgres-copy-ceiling".into(),
        available: true,
        events_per_s: copied as f64 / seconds,
        requests: copied,
        note: format!("COPY of {copied} rows into the events table shape in {seconds:.1} s"),
        ..ScenarioResult::default()
    })
}
