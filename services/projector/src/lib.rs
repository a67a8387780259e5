//! The projector (consumer group `signalops-projector`): projects
//! `signalops.events.v1` into the Postgres read models `events` and
//! `event_type_counts` through the consumer runtime, so each record takes
//! effect exactly once (see `signalops_platform::consumer`).

pub mod partitions;
pub mod projection;
pub mod rows;
pub mod versions;

use anyhow::Context as _;
use signalops_platform::config::{self, ConfigError};
use signalops_platform::consumer::DeadLetterSink;
use signalops_platform::kafka::EventProducer;
use signalops_platform::service::{self, WorkerConfig, WorkerSpec};
use signalops_platform::shutdown;

pub use projection::EventsProjection;

pub const SPEC: WorkerSpec = WorkerSpec { name: "projector", default_group: "signalops-projector", default_port: 9101 };

/// Records per partition batch and the longest a batch waits, unless
/// configured: `make bench` measured 4,000 / 100 ms at 1.3× the rate of the
/// shared defaults (500 / 50 ms) with no more memory; 10,000 / 200 ms was no
/// better (docs/benchmarks.md). Since batches are applied while polling goes
/// on (ADR 0014), 25 ms catches up as fast as 100 ms and takes up to 75 ms
/// off a live event's way to its row.
pub const BATCH_MAX_RECORDS: u64 = 4_000;
pub const BATCH_MAX_WAIT_MS: u64 = 25;

/// librdkafka's prefetch, unless configured: once full queues no longer
/// parked fetches for a second (ADR 0017) the projector caught up twice as
/// fast, and 1 MiB with these batches peaked at 259 MiB in a side-by-side
/// rebuild; 512 KiB peaked at 220 MiB for about a tenth of the rate.
pub const PREFETCH_KBYTES: u64 = 512;

/// The shared worker configuration with the projector's own defaults.
pub fn load_config() -> Result<WorkerConfig, ConfigError> {
    config::load_with_defaults(
        SPEC.name,
        &[
            ("consumer.group_id", SPEC.default_group.into()),
            ("http.port", u64::from(SPEC.default_port).into()),
            ("consumer.batch_max_records", BATCH_MAX_RECORDS.into()),
            ("consumer.batch_max_wait_ms", BATCH_MAX_WAIT_MS.into()),
            ("consumer.prefetch_kbytes", PREFETCH_KBYTES.into()),
        ],
    )
}

/// Starts the service and projects until SIGINT/SIGTERM, then drains.
pub async fn run() -> anyhow::Result<()> {
    let config = load_config()?;
    let started = service::start(SPEC.name, &config.http, &config.kafka, &config.database, &config.telemetry).await?;
    let producer = EventProducer::new(&config.kafka, "projector-dlq")?;
    let dead_letters = DeadLetterSink::new(producer, config.kafka.topics.dlq.clone());
    let stop = shutdown::on_signal();
    partitions::spawn_maintenance(started.pool.clone(), stop.clone());
    let outcome =
        versions::supervise(config, started.pool.clone(), dead_letters, started.readiness.clone(), stop).await.context("projector");
    started.health.stop().await;
    outcome
}

#[cfg(test)]
#[allow(clippy::result_large_err)] // figment::Jail fixes the closure error type
mod tests {
    use figment::Jail;

    use super::*;

    #[test]
    fn the_projector_batches_and_prefetch_default_to_its_measured_values_and_stay_configurable() {
        Jail::expect_with(|jail| {
            jail.clear_env();
            jail.set_env("SIGNALOPS_DATABASE__URL", "postgres://app:pw@127.0.0.1:5432/db");
            let config = load_config().expect("defaults");
            assert_eq!(
                (config.consumer.batch_max_records, config.consumer.batch_max_wait_ms, config.consumer.prefetch_kbytes),
                (4_000, 25, 512)
            );
            jail.set_env("SIGNALOPS_CONSUMER__PREFETCH_KBYTES", "2048");
            assert_eq!(load_config().expect("configured").consumer.prefetch_kbytes, 2048);
            Ok(())
        });
    }
}
