//! The rules group (consumer group `signalops-rules`): runs every tenant's
//! rules on `signalops.events.v1` through the consumer runtime, so each
//! event's effect (window and throttle state, firings) is applied exactly
//! once, and appends what new firings produce to Kafka before each batch
//! commits, with deterministic ids (at-least-once, same id). See
//! docs/rules.md and ADRs 0025 and 0028.

pub mod append;
pub mod catalog;
pub mod config;
pub mod evaluate;
pub mod handler;
pub mod incoming;
pub mod loader;
pub mod metrics;
pub mod staging;
pub mod states;
pub mod writes;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use signalops_platform::consumer::{ConsumerHealth, ConsumerRuntime, DeadLetterSink, RuntimeError};
use signalops_platform::http::{Readiness, ReadinessCheck};
use signalops_platform::kafka::EventProducer;
use signalops_platform::postgres::Pool;
use signalops_platform::service::{self, WorkerSpec};
use signalops_platform::shutdown::{self, CancellationToken};
use signalops_rule_engine::FireOptions;
use tokio::task::JoinHandle;

pub use catalog::Catalog;
pub use config::{BATCH_MAX_RECORDS, RulesConfig, RulesSettings};
pub use handler::RulesHandler;

pub const SPEC: WorkerSpec = WorkerSpec { name: "rules", default_group: "signalops-rules", default_port: 9102 };

/// A running rules group member: its consumer runtime and rule loader,
/// both stopped by one token.
pub struct Running {
    pub catalog: Catalog,
    pub health: ConsumerHealth,
    pub stop: CancellationToken,
    runtime: JoinHandle<Result<(), RuntimeError>>,
    helpers: Vec<JoinHandle<()>>,
    /// Dropped without `wait` (a test that failed), it still stops the
    /// member, so its poll thread ends.
    _stop_on_drop: tokio_util::sync::DropGuard,
}

impl Running {
    /// Waits until the consumer runtime ends (after `stop`, or with its
    /// error), then stops the rest.
    pub async fn wait(self) -> anyhow::Result<()> {
        let outcome = self.runtime.await.context("rules runtime task");
        self.stop.cancel();
        for helper in self.helpers {
            let _ = helper.await;
        }
        outcome?.context("rules group")
    }
}

/// Registers the group, loads every tenant's rules, and starts consuming,
/// and reloading until `stop`.
pub async fn spawn(config: &RulesConfig, pool: Pool, stop: CancellationToken) -> anyhow::Result<Running> {
    let worker = &config.worker;
    let rules = &config.rules;
    register_group(&pool, &worker.consumer.group_id).await?;
    let catalog = Catalog::default();
    loader::refresh(&pool, &catalog).await.context("cannot load the rules")?;
    let helpers = vec![loader::spawn(pool.clone(), catalog.clone(), Duration::from_millis(rules.reload_interval_ms), stop.clone())];

    let appender = append::Appender::new(
        EventProducer::new(&worker.kafka, "rules-append")?,
        worker.kafka.topics.events.clone(),
        worker.kafka.topics.notifications.clone(),
    );
    let options = FireOptions { max_depth: rules.max_depth };
    let grace = chrono::TimeDelta::seconds(i64::try_from(rules.state_expiry_grace_secs).unwrap_or(i64::MAX));
    let handler = RulesHandler::new(catalog.clone(), options, grace, appender);
    let dead_letters = DeadLetterSink::new(EventProducer::new(&worker.kafka, "rules-dlq")?, worker.kafka.topics.dlq.clone());
    let runtime = ConsumerRuntime::new(
        worker.kafka.clone(),
        worker.consumer.clone(),
        vec![worker.kafka.topics.events.clone()],
        pool,
        Arc::new(handler),
        dead_letters,
    )
    .with_redrive_topic(worker.kafka.topics.redrive.clone());
    let health = runtime.health();
    let runtime = tokio::spawn(runtime.run(stop.clone()));
    Ok(Running { catalog, health, _stop_on_drop: stop.clone().drop_guard(), stop, runtime, helpers })
}

/// Records that `group` runs rules, so `signalctl replay` treats it as a
/// rules group (state cleared with the offsets, earliest only).
pub async fn register_group(pool: &Pool, group: &str) -> anyhow::Result<()> {
    let client = pool.get().await?;
    client
        .execute("INSERT INTO rule_groups (group_id) VALUES ($1) ON CONFLICT DO NOTHING", &[&group])
        .await
        .context("cannot register the rules group (is the schema migrated?)")?;
    Ok(())
}

/// Starts the service and runs rules until SIGINT/SIGTERM, then drains.
pub async fn run() -> anyhow::Result<()> {
    let config = config::load()?;
    let worker = &config.worker;
    let started = service::start(SPEC.name, &worker.http, &worker.kafka, &worker.database, &worker.telemetry).await?;
    let stop = shutdown::on_signal();
    let running = spawn(&config, started.pool.clone(), stop).await?;
    add_readiness(&started.readiness, &running.health);
    let outcome = running.wait().await;
    started.health.stop().await;
    outcome
}

fn add_readiness(readiness: &Readiness, health: &ConsumerHealth) {
    let check: Arc<dyn ReadinessCheck> = Arc::new(health.clone());
    readiness.add(check);
}
