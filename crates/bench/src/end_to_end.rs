//! End to end: single events sent to the gateway at a steady
//! rate, every `sample_every`-th one timed from its HTTP accept (the 202
//! arriving) until its row is visible in the serving read model. The time
//! from sending the request to the accept is reported beside it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::histogram::Histogram;
use crate::http::client;
use crate::payload::{data_json, event_json};
use crate::result::ScenarioResult;

/// How often the watcher looks for the rows still awaited. Its period bounds
/// the measurement error from above.
const WATCH_EVERY: Duration = Duration::from_millis(5);
/// A sampled event not visible this long after the load stopped counts as an error.
const GRACE: Duration = Duration::from_secs(10);
/// Requests in flight at most: beyond this the gateway is not keeping up
/// with the offered rate, and requests are skipped (and counted) instead of
/// queueing without bound.
const MAX_IN_FLIGHT: usize = 2_048;

pub struct Steady {
    pub url: String,
    pub api_key: String,
    pub database_url: String,
    pub tenant: String,
    pub rate: f64,
    pub duration: Duration,
    pub sample_every: u64,
}

#[derive(Default)]
struct Shared {
    /// Sampled event ids accepted and not yet seen, with when the 202 came.
    awaited: HashMap<String, Instant>,
    /// Accept → visible.
    histogram: Histogram,
    /// Request sent → 202, every request.
    accept: Histogram,
    /// How long each watch query took: the measurement's own error.
    watch: Histogram,
    errors: u64,
    first_error: Option<String>,
    skipped: u64,
}

impl Shared {
    fn fail(&mut self, error: String) {
        self.errors += 1;
        self.first_error.get_or_insert(error);
    }
}

type Guarded = Arc<Mutex<Shared>>;

fn lock(shared: &Guarded) -> std::sync::MutexGuard<'_, Shared> {
    shared.lock().unwrap_or_else(PoisonError::into_inner)
}

pub async fn steady(load: Steady) -> anyhow::Result<ScenarioResult> {
    let database = signalops_platform::postgres::connect_one(&load.database_url).await?;
    // Session-wide: every query of this connection reads as the bench tenant.
    database.execute("SELECT set_config('app.tenant_id', $1, false)", &[&load.tenant]).await?;
    let shared: Guarded = Arc::default();
    let http = client(MAX_IN_FLIGHT)?;
    let in_flight = Arc::new(tokio::sync::Semaphore::new(MAX_IN_FLIGHT));
    let data = data_json();
    let url = format!("{}/v1/events", load.url.trim_end_matches('/'));

    let watcher = tokio::spawn(watch(database, shared.clone()));
    let interval = Duration::from_secs_f64(1.0 / load.rate.max(1.0));
    let started = Instant::now();
    let mut sent: u64 = 0;
    while started.elapsed() < load.duration {
        // Catch up to the schedule: the rate holds even when a tick comes late.
        let due = (started.elapsed().as_secs_f64() * load.rate) as u64;
        while sent < due {
            sent += 1;
            let Ok(permit) = in_flight.clone().try_acquire_owned() else {
                lock(&shared).skipped += 1;
                continue;
            };
            let sampled = sent.is_multiple_of(load.sample_every.max(1));
            let request = http.post(&url).header("content-type", "application/json").header("x-api-key", &load.api_key);
            let (body, shared) = (event_json(None, &data), shared.clone());
            tokio::spawn(async move {
                let sent_at = Instant::now();
                let outcome = receipt_id(request.body(body)).await;
                let accepted_at = Instant::now();
                drop(permit);
                let mut shared = lock(&shared);
                match outcome {
                    Ok(id) => {
                        shared.accept.record(accepted_at - sent_at);
                        if sampled {
                            shared.awaited.insert(id, accepted_at);
                        }
                    }
                    Err(error) => shared.fail(error),
                }
            });
        }
        tokio::time::sleep(interval.min(Duration::from_millis(1))).await;
    }
    let elapsed = started.elapsed();
    // Let the last requests answer and their rows appear.
    let _ = in_flight.acquire_many(u32::try_from(MAX_IN_FLIGHT).unwrap_or(u32::MAX)).await;
    let waiting_since = Instant::now();
    while !lock(&shared).awaited.is_empty() && waiting_since.elapsed() < GRACE {
        tokio::time::sleep(WATCH_EVERY).await;
    }
    watcher.abort();
    let shared = lock(&shared);
    let mut errors = shared.errors;
    let mut first_error = shared.first_error.clone();
    if !shared.awaited.is_empty() {
        errors += shared.awaited.len() as u64;
        first_error
            .get_or_insert_with(|| format!("{} sampled events not visible {} s after the load", shared.awaited.len(), GRACE.as_secs()));
    }
    let accepted = sent - shared.skipped;
    Ok(ScenarioResult {
        scenario: "end-to-end".into(),
        available: true,
        concurrency: 0,
        events_per_s: accepted as f64 / elapsed.as_secs_f64(),
        requests_per_s: accepted as f64 / elapsed.as_secs_f64(),
        p50_ms: shared.histogram.quantile_ms(0.50),
        p99_ms: shared.histogram.quantile_ms(0.99),
        requests: accepted,
        errors,
        first_error,
        note: format!(
            "offered {:.0} ev/s of single events (half the gateway's max measured just before), every {}th timed from its 202 to \
             its row visible (watched every {} ms, each look taking p50 {} ms, p99 {} ms); request → 202 p50 {} ms, p99 {} ms; {} requests \
             skipped for want of a free lane",
            load.rate,
            load.sample_every,
            WATCH_EVERY.as_millis(),
            shared.watch.quantile_ms(0.50).map_or("—".into(), |v| format!("{v:.1}")),
            shared.watch.quantile_ms(0.99).map_or("—".into(), |v| format!("{v:.1}")),
            shared.accept.quantile_ms(0.50).map_or("—".into(), |v| format!("{v:.1}")),
            shared.accept.quantile_ms(0.99).map_or("—".into(), |v| format!("{v:.1}")),
            shared.skipped
        ),
        ..ScenarioResult::default()
    })
}

/// POSTs one event; the id from its 202 receipt.
async fn receipt_id(request: reqwest::RequestBuilder) -> Result<String, String> {
    let response = request.send().await.map_err(|e| format!("request failed: {e}"))?;
    let status = response.status();
    let body = response.bytes().await.map_err(|e| format!("reading the answer failed: {e}"))?;
    if !status.is_success() {
        return Err(format!("{status}: {}", String::from_utf8_lossy(&body[..body.len().min(300)])));
    }
    let receipt: serde_json::Value = serde_json::from_slice(&body).map_err(|e| format!("receipt is not JSON: {e}"))?;
    receipt["id"].as_str().map(str::to_owned).ok_or_else(|| "receipt without an id".to_owned())
}

/// Marks each awaited row as visible the first time a query finds it.
async fn watch(database: tokio_postgres::Client, shared: Guarded) {
    loop {
        let ids: Vec<String> = lock(&shared).awaited.keys().take(5_000).cloned().collect();
        if !ids.is_empty() {
            let asked_at = Instant::now();
            match database.query("SELECT id FROM events WHERE tenant_id = current_tenant_id() AND id = ANY($1)", &[&ids]).await {
                Ok(rows) => {
                    let seen_at = Instant::now();
                    let mut shared = lock(&shared);
                    shared.watch.record(seen_at - asked_at);
                    for row in rows {
                        let id: String = row.get(0);
                        if let Some(accepted_at) = shared.awaited.remove(&id) {
                            shared.histogram.record(seen_at.saturating_duration_since(accepted_at));
                        }
                    }
                }
                Err(error) => lock(&shared).fail(format!("watching the read model: {error}")),
            }
        }
        tokio::time::sleep(WATCH_EVERY).await;
    }
}
