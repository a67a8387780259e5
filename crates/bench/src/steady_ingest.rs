//! A steady ingest (the projector's live scenario): batches offered at a fixed
//! rate, open loop, from several tenants in turn, as a platform's front door
//! sees them. The projector's side (applied rate, lag) is read by bench.sh.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::http::{client, post};
use crate::payload::{batch_body, data_json, event_json};
use crate::result::ScenarioResult;

/// Requests in flight at most; beyond it the gateway is not keeping up and
/// batches are skipped (and counted) rather than queued without bound.
const MAX_IN_FLIGHT: usize = 256;

pub struct Steady {
    pub url: String,
    /// One key per tenant; batches go to them in turn.
    pub api_keys: Vec<String>,
    pub rate: f64,
    pub batch: usize,
    pub duration: Duration,
}

#[derive(Default)]
struct Counts {
    accepted: AtomicU64,
    errors: AtomicU64,
    skipped: AtomicU64,
}

pub async fn run(load: Steady) -> anyhow::Result<ScenarioResult> {
    anyhow::ensure!(!load.api_keys.is_empty(), "steady-ingest needs at least one API key");
    let http = client(MAX_IN_FLIGHT)?;
    let url = format!("{}/v1/events", load.url.trim_end_matches('/'));
    let in_flight = Arc::new(tokio::sync::Semaphore::new(MAX_IN_FLIGHT));
    let counts = Arc::new(Counts::default());
    let first_error = Arc::new(std::sync::Mutex::new(None::<String>));
    let data = data_json();
    let batches_per_second = load.rate / load.batch.max(1) as f64;
    let started = Instant::now();
    let mut sent: u64 = 0;
    while started.elapsed() < load.duration {
        // Catch up to the schedule: the rate holds even when a tick comes late.
        let due = (started.elapsed().as_secs_f64() * batches_per_second) as u64;
        while sent < due {
            let key = load.api_keys[(sent % load.api_keys.len() as u64) as usize].clone();
            sent += 1;
            let Ok(permit) = in_flight.clone().try_acquire_owned() else {
                counts.skipped.fetch_add(1, Ordering::Relaxed);
                continue;
            };
            let body = batch_body(&(0..load.batch).map(|_| event_json(None, &data)).collect::<Vec<_>>());
            let (http, url, counts, first_error, events) =
                (http.clone(), url.clone(), counts.clone(), first_error.clone(), load.batch as u64);
            tokio::spawn(async move {
                match post(http, url, Some(key), body, events).await {
                    Ok(events) => {
                        counts.accepted.fetch_add(events, Ordering::Relaxed);
                    }
                    Err(error) => {
                        counts.errors.fetch_add(1, Ordering::Relaxed);
                        first_error.lock().unwrap_or_else(std::sync::PoisonError::into_inner).get_or_insert(error);
                    }
                }
                drop(permit);
            });
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let elapsed = started.elapsed();
    let _ = in_flight.acquire_many(u32::try_from(MAX_IN_FLIGHT).unwrap_or(u32::MAX)).await;
    let accepted = counts.accepted.load(Ordering::Relaxed);
    let skipped = counts.skipped.load(Ordering::Relaxed);
    let first_error = first_error.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
    Ok(ScenarioResult {
        scenario: "steady-ingest".into(),
        available: true,
        concurrency: 0,
        events_per_s: accepted as f64 / elapsed.as_secs_f64(),
        requests: accepted,
        errors: counts.errors.load(Ordering::Relaxed) + skipped,
        first_error: first_error.or_else(|| (skipped > 0).then(|| format!("{skipped} batches skipped: the gateway fell behind"))),
        note: format!(
            "offered {:.0} ev/s in batches of {} from {} tenants in turn for {:.1} s",
            load.rate,
            load.batch,
            load.api_keys.len(),
            elapsed.as_secs_f64()
        ),
        ..ScenarioResult::default()
    })
}
