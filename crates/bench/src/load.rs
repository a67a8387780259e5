//! The closed-loop load generator: `concurrency` tasks, each with one request
//! in flight, until the deadline. Closed loop (not a fixed arrival rate)
//! because the question is "how fast can it go", and it keeps the number of
//! in-flight requests — and so the client's own cost — fixed.

use std::future::Future;
use std::time::{Duration, Instant};

use crate::histogram::Histogram;

/// What one request achieved: events accepted, or why it failed.
pub type Attempt = Result<u64, String>;

#[derive(Default)]
pub struct Outcome {
    pub requests: u64,
    pub events: u64,
    pub errors: u64,
    /// The first failure, so a broken run says why.
    pub first_error: Option<String>,
    pub histogram: Histogram,
    pub elapsed: Duration,
}

impl Outcome {
    fn merge(&mut self, other: Outcome) {
        self.requests += other.requests;
        self.events += other.events;
        self.errors += other.errors;
        self.first_error = self.first_error.take().or(other.first_error);
        self.histogram.merge(&other.histogram);
    }

    pub fn events_per_second(&self) -> f64 {
        self.events as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    pub fn requests_per_second(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// Runs `make_worker(i)` for each of `concurrency` tasks. A worker is called
/// once per request: it prepares the request synchronously (it may keep
/// state, e.g. ids to repeat) and returns the future that sends it; only the
/// future is timed.
pub async fn drive<W, F>(concurrency: usize, duration: Duration, mut make_worker: impl FnMut(usize) -> W) -> Outcome
where
    W: FnMut() -> F + Send + 'static,
    F: Future<Output = Attempt> + Send,
{
    let started = Instant::now();
    let deadline = started + duration;
    let tasks: Vec<_> = (0..concurrency)
        .map(|i| {
            let mut next = make_worker(i);
            tokio::spawn(async move {
                let mut outcome = Outcome::default();
                while Instant::now() < deadline {
                    let request = next();
                    let sent = Instant::now();
                    let attempt = request.await;
                    outcome.histogram.record(sent.elapsed());
                    outcome.requests += 1;
                    match attempt {
                        Ok(events) => outcome.events += events,
                        Err(error) => {
                            outcome.errors += 1;
                            outcome.first_error.get_or_insert(error);
                        }
                    }
                }
                outcome
            })
        })
        .collect();
    let mut total = Outcome::default();
    for task in futures::future::join_all(tasks).await {
        match task {
            Ok(outcome) => total.merge(outcome),
            Err(join_error) => {
                total.errors += 1;
                total.first_error.get_or_insert(format!("load task panicked: {join_error}"));
            }
        }
    }
    // Requests still in flight at the deadline finish after it; count the
    // time they took so the rate is not inflated.
    total.elapsed = started.elapsed();
    total
}
