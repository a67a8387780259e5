//! The notifier group (consumer group `signalops-notifier`): records each
//! notification request of `signalops.notifications.v1` once, by its
//! deterministic id, through the consumer runtime. Sending works from the
//! recorded rows, off the consumer path, so a slow endpoint never holds a
//! partition.

pub mod metrics;
pub mod recording;
pub mod requests;

use std::sync::Arc;

use anyhow::Context as _;
use signalops_platform::consumer::{ConsumerHealth, ConsumerRuntime, DeadLetterSink, RuntimeError};
use signalops_platform::http::ReadinessCheck;
use signalops_platform::kafka::EventProducer;
use signalops_platform::postgres::Pool;
use signalops_platform::service::{self, WorkerConfig, WorkerSpec};
use signalops_platform::shutdown::{self, CancellationToken};
use tokio::task::JoinHandle;

pub use recording::RecordingHandler;

pub const SPEC: WorkerSpec = WorkerSpec { name: "notifier", default_group: "signalops-notifier", default_port: 9103 };

/// A running notifier member, stopped by its token.
pub struct Running {
    pub health: ConsumerHealth,
    pub stop: CancellationToken,
    runtime: JoinHandle<Result<(), RuntimeError>>,
    /// Dropped without `wait` (a test that failed), it still stops the
    /// member, so its poll thread ends.
    _stop_on_drop: tokio_util::sync::DropGuard,
}

impl Running {
    /// Waits until the consumer runtime ends (after `stop`, or with its error).
    pub async fn wait(self) -> anyhow::Result<()> {
        self.runtime.await.context("notifier runtime task")?.context("notifier group")
    }
}

/// Starts consuming the notifications topic until `stop`.
pub fn spawn(config: &WorkerConfig, pool: Pool, stop: CancellationToken) -> anyhow::Result<Running> {
    let dead_letters = DeadLetterSink::new(EventProducer::new(&config.kafka, "notifier-dlq")?, config.kafka.topics.dlq.clone());
    let runtime = ConsumerRuntime::new(
        config.kafka.clone(),
        config.consumer.clone(),
        vec![config.kafka.topics.notifications.clone()],
        pool,
        Arc::new(RecordingHandler),
        dead_letters,
    )
    .with_redrive_topic(config.kafka.topics.redrive.clone());
    let health = runtime.health();
    let runtime = tokio::spawn(runtime.run(stop.clone()));
    Ok(Running { health, _stop_on_drop: stop.clone().drop_guard(), stop, runtime })
}

/// Starts the service and records notification requests until SIGINT/SIGTERM, then drains.
pub async fn run() -> anyhow::Result<()> {
    let config = SPEC.load_config()?;
    let started = service::start(SPEC.name, &config.http, &config.kafka, &config.database, &config.telemetry).await?;
    let running = spawn(&config, started.pool.clone(), shutdown::on_signal())?;
    let check: Arc<dyn ReadinessCheck> = Arc::new(running.health.clone());
    started.readiness.add(check);
    let outcome = running.wait().await;
    started.health.stop().await;
    outcome
}
