//! The notifier (consumer group `signalops-notifier`): records each
//! notification request of `signalops.notifications.v1` once, by its
//! deterministic id, through the consumer runtime, and sends the recorded
//! deliveries off the consumer path, from Postgres, so a slow endpoint
//! never holds a partition. See docs/notifications.md.

pub mod claims;
pub mod clock;
pub mod config;
pub mod decide;
pub mod health;
pub mod metrics;
pub mod recorder;
pub mod recording;
pub mod requests;
pub mod sender;
pub mod settings;

use std::sync::Arc;

use anyhow::Context as _;
use signalops_notify_send::Providers;
use signalops_platform::consumer::{ConsumerHealth, ConsumerRuntime, DeadLetterSink, RuntimeError};
use signalops_platform::http::ReadinessCheck;
use signalops_platform::kafka::EventProducer;
use signalops_platform::postgres::Pool;
use signalops_platform::service::{self, WorkerSpec};
use signalops_platform::shutdown::{self, CancellationToken};
use tokio::task::JoinHandle;

pub use config::NotifierConfig;
pub use recording::RecordingHandler;

use crate::clock::{Clock, SystemClock};

pub const SPEC: WorkerSpec = WorkerSpec { name: "notifier", default_group: "signalops-notifier", default_port: 9103 };

/// A running notifier member: its consumer runtime and its sender, both
/// stopped by one token.
pub struct Running {
    pub health: ConsumerHealth,
    pub stop: CancellationToken,
    runtime: JoinHandle<Result<(), RuntimeError>>,
    sender: JoinHandle<()>,
    /// Dropped without `wait` (a test that failed), it still stops the
    /// member, so its poll thread ends.
    _stop_on_drop: tokio_util::sync::DropGuard,
}

impl Running {
    /// Waits until the consumer runtime ends (after `stop`, or with its
    /// error), then for the sender's attempts in flight to be recorded.
    pub async fn wait(self) -> anyhow::Result<()> {
        let outcome = self.runtime.await.context("notifier runtime task");
        self.stop.cancel();
        let _ = self.sender.await;
        outcome?.context("notifier group")
    }
}

/// Starts consuming the notifications topic and sending until `stop`.
pub fn spawn(config: &NotifierConfig, pool: Pool, stop: CancellationToken) -> anyhow::Result<Running> {
    spawn_with_clock(config, pool, stop, Arc::new(SystemClock))
}

/// [`spawn`] with the sender on `clock` (tests move it).
pub fn spawn_with_clock(config: &NotifierConfig, pool: Pool, stop: CancellationToken, clock: Arc<dyn Clock>) -> anyhow::Result<Running> {
    let worker = &config.worker;
    let dead_letters = DeadLetterSink::new(EventProducer::new(&worker.kafka, "notifier-dlq")?, worker.kafka.topics.dlq.clone());
    let handler = RecordingHandler::default();
    let wake = handler.wake.clone();
    let runtime = ConsumerRuntime::new(
        worker.kafka.clone(),
        worker.consumer.clone(),
        vec![worker.kafka.topics.notifications.clone()],
        pool.clone(),
        Arc::new(handler),
        dead_letters,
    )
    .with_redrive_topic(worker.kafka.topics.redrive.clone());
    let health = runtime.health();
    let providers = config.notifier.providers().map_err(anyhow::Error::msg).context("notifier")?;
    let sender = sender::Sender {
        pool,
        clock,
        providers: Providers::new(&providers)?,
        keyring: config.channels.keyring().context("channels.secret_keys")?,
        producer: EventProducer::new(&worker.kafka, "notifier-outcomes")?,
        outcomes_topic: worker.kafka.topics.deliveries.clone(),
        schedule: config.notifier.schedule().map_err(anyhow::Error::msg).context("notifier.retry_schedule")?,
        settings: config.notifier.clone(),
        wake,
        me: format!("{}-{}", hostname(), uuid::Uuid::now_v7()),
    };
    let sender = tokio::spawn(sender.run(stop.clone()));
    let runtime = tokio::spawn(runtime.run(stop.clone()));
    Ok(Running { health, _stop_on_drop: stop.clone().drop_guard(), stop, runtime, sender })
}

fn hostname() -> String {
    std::env::var("HOSTNAME").ok().filter(|h| !h.is_empty()).unwrap_or_else(|| "notifier".to_owned())
}

/// Starts the service and delivers notifications until SIGINT/SIGTERM, then drains.
pub async fn run() -> anyhow::Result<()> {
    let config = config::load()?;
    let worker = &config.worker;
    let started = service::start(SPEC.name, &worker.http, &worker.kafka, &worker.database, &worker.telemetry).await?;
    let running = spawn(&config, started.pool.clone(), shutdown::on_signal())?;
    let check: Arc<dyn ReadinessCheck> = Arc::new(running.health.clone());
    started.readiness.add(check);
    let outcome = running.wait().await;
    started.health.stop().await;
    outcome
}
