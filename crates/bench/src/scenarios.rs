//! The ingest scenarios of the benchmark. Each returns a `ScenarioResult`;
//! none of them judges it (the report does, against the ceilings).

use std::time::Duration;

use signalops_platform::config::KafkaSettings;
use signalops_platform::kafka::{EventProducer, OutgoingRecord};
use signalops_proto::Message as _;

use crate::http::{client, post, start_ceiling_server};
use crate::load::{Outcome, drive};
use crate::payload::{batch_body, data_json, envelope, envelope_len, event_json};
use crate::result::ScenarioResult;

pub struct Load {
    pub concurrency: usize,
    pub duration: Duration,
}

/// Raw librdkafka through the platform's own `EventProducer` (acks=all,
/// idempotence, lz4, linger): what Kafka on this machine can take for these
/// records, the ceiling of any ingest path.
pub async fn producer_ceiling(load: &Load, brokers: &str, topic: &str, chunk: usize) -> anyhow::Result<ScenarioResult> {
    let settings = KafkaSettings { brokers: brokers.to_owned(), ..KafkaSettings::default() };
    let producer = EventProducer::new(&settings, "signalops-bench")?;
    let tenant = uuid::Uuid::new_v4().to_string();
    let data = data_json();
    let record_bytes = envelope_len(&envelope(&tenant, &data));
    let outcome = drive(load.concurrency, load.duration, |_| {
        let (producer, tenant, data, topic) = (producer.clone(), tenant.clone(), data.clone(), topic.to_owned());
        move || {
            let records: Vec<_> = (0..chunk)
                .map(|_| {
                    let event = envelope(&tenant, &data);
                    let headers = signalops_proto::headers::envelope_headers(&event).into_iter().map(|(k, v)| (k.into(), v)).collect();
                    OutgoingRecord { topic: topic.clone(), key: Some(tenant.clone().into_bytes()), payload: event.encode_to_vec(), headers }
                })
                .collect();
            let producer = producer.clone();
            async move {
                let results = producer.send_all(records).await;
                match results.iter().find_map(|r| r.as_ref().err()) {
                    None => Ok(results.len() as u64),
                    Some(error) => Err(error.to_string()),
                }
            }
        }
    })
    .await;
    let note = format!("{chunk} records per send_all, envelope {record_bytes} B");
    Ok(ScenarioResult::measured("producer-ceiling", load.concurrency, &outcome, note))
}

/// A trivial actix handler returning 202 for the same body: what HTTP on
/// this machine can do, with the load generator sharing the two cores.
pub async fn http_ceiling(load: &Load, workers: usize) -> anyhow::Result<ScenarioResult> {
    let address = start_ceiling_server(workers)?;
    let url = format!("http://{address}/v1/events");
    let client = client(load.concurrency)?;
    let data = data_json();
    let outcome = drive(load.concurrency, load.duration, |_| {
        let (client, url, data) = (client.clone(), url.clone(), data.clone());
        move || post(client.clone(), url.clone(), None, event_json(None, &data), 1)
    })
    .await;
    Ok(ScenarioResult::measured("http-ceiling", load.concurrency, &outcome, format!("{workers} actix workers")))
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum GatewayMode {
    /// One event per request.
    Single,
    /// A JSON array of `batch` events per request.
    Batch,
    /// Like batch, every event with a client id, `duplicates` % of them
    /// repeating an event this worker sent in its previous batch.
    BatchDup,
}

impl GatewayMode {
    fn name(self) -> &'static str {
        match self {
            Self::Single => "gateway-single",
            Self::Batch => "gateway-batch",
            Self::BatchDup => "gateway-batch-dup",
        }
    }
}

/// One worker's request bodies. Duplicates are exact repeats (same id, same
/// content) of events from the worker's previous batch, i.e. client retries.
struct Bodies {
    mode: GatewayMode,
    batch: usize,
    duplicates: usize,
    data: String,
    previous: Vec<String>,
}

impl Bodies {
    fn next(&mut self) -> (String, u64) {
        match self.mode {
            GatewayMode::Single => (event_json(None, &self.data), 1),
            GatewayMode::Batch => {
                let events: Vec<_> = (0..self.batch).map(|_| event_json(None, &self.data)).collect();
                (batch_body(&events), self.batch as u64)
            }
            GatewayMode::BatchDup => {
                let repeats = if self.previous.is_empty() { 0 } else { self.duplicates.min(self.previous.len()) };
                let mut events: Vec<_> =
                    self.previous.iter().step_by((self.previous.len() / repeats.max(1)).max(1)).take(repeats).cloned().collect();
                while events.len() < self.batch {
                    events.push(event_json(Some(&uuid::Uuid::new_v4().to_string()), &self.data));
                }
                let body = batch_body(&events);
                self.previous = events;
                (body, self.batch as u64)
            }
        }
    }
}

pub struct Gateway {
    pub url: String,
    pub api_key: String,
    pub mode: GatewayMode,
    pub batch: usize,
    pub duplicate_percent: usize,
}

/// Statuses that mean "this gateway does not take arrays (yet)", as opposed
/// to a broken run.
fn means_unsupported(error: &str) -> bool {
    ["400", "404", "405", "413", "415", "422"].iter().any(|code| error.starts_with(code))
}

pub async fn gateway(load: &Load, gateway: &Gateway) -> anyhow::Result<ScenarioResult> {
    let name = gateway.mode.name();
    let client = client(load.concurrency)?;
    let url = format!("{}/v1/events", gateway.url.trim_end_matches('/'));
    let duplicates = gateway.batch * gateway.duplicate_percent / 100;
    let bodies = |_| Bodies { mode: gateway.mode, batch: gateway.batch, duplicates, data: data_json(), previous: Vec::new() };
    // One request first: it warms the key cache and tells whether arrays
    // are accepted at all.
    let (probe, events) = bodies(0).next();
    if let Err(error) = post(client.clone(), url.clone(), Some(gateway.api_key.clone()), probe, events).await {
        // Batches are another engineer's work in progress: a gateway that
        // refuses or breaks on them is a finding for the table, while a
        // failing single event means the harness (stack, key) is broken.
        match gateway.mode {
            GatewayMode::Single => anyhow::bail!("{name}: the first request failed: {error}"),
            _ if means_unsupported(&error) => {
                return Ok(ScenarioResult::unavailable(name, format!("not available yet: the gateway answered {error}")));
            }
            _ => return Ok(ScenarioResult::unavailable(name, format!("failed: the gateway answered {error}"))),
        }
    }
    let outcome: Outcome = drive(load.concurrency, load.duration, |i| {
        let (client, url, key) = (client.clone(), url.clone(), gateway.api_key.clone());
        let mut bodies = bodies(i);
        move || {
            let (body, events) = bodies.next();
            post(client.clone(), url.clone(), Some(key.clone()), body, events)
        }
    })
    .await;
    let note = match gateway.mode {
        GatewayMode::Single => String::new(),
        GatewayMode::Batch => format!("{} events per request", gateway.batch),
        GatewayMode::BatchDup => format!("{} events per request, {duplicates} of them repeats", gateway.batch),
    };
    Ok(ScenarioResult::measured(name, load.concurrency, &outcome, note))
}
