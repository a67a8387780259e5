//! The projector (consumer group `signalops-projector`): projects
//! `signalops.events.v1` into the Postgres read models `events` and
//! `event_type_counts` through the consumer runtime, so each record takes
//! effect exactly once (see `signalops_platform::consumer`).

pub mod partitions;
pub mod projection;
pub mod rows;
pub mod versions;

use anyhow::Context as _;
use signalops_platform::consumer::DeadLetterSink;
use signalops_platform::kafka::EventProducer;
use signalops_platform::service::{self, WorkerSpec};
use signalops_platform::shutdown;

pub use projection::EventsProjection;

pub const SPEC: WorkerSpec = WorkerSpec { name: "projector", default_group: "signalops-projector", default_port: 9101 };

/// Starts the service and projects until SIGINT/SIGTERM, then drains.
pub async fn run() -> anyhow::Result<()> {
    let config = SPEC.load_config()?;
    let started = service::start(SPEC.name, &config.http, &config.kafka, &config.database, &config.telemetry).await?;
    let producer = EventProducer::new(&config.kafka, "projector-dlq")?;
    let dead_letters = DeadLetterSink::new(producer, config.kafka.topics.dlq.clone());
    let stop = shutdown::on_signal();
    partitions::spawn_maintenance(started.pool.clone(), stop.clone());
    let outcome = versions::supervise(config, started.pool.clone(), dead_letters, stop).await.context("projector");
    started.health.stop().await;
    outcome
}
