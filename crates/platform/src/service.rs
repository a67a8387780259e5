//! Start-up shared by the service binaries: config, telemetry, database
//! safety check, broker check, health endpoints, then run until a signal.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use serde::Deserialize;

use crate::config::{self, ConsumerSettings, DatabaseSettings, FieldProblem, HttpSettings, KafkaSettings, TelemetrySettings, Validate};
use crate::http::{HealthServer, KafkaReadiness, PostgresReadiness, Readiness, start_health_server};
use crate::postgres::{self, Pool};
use crate::telemetry::{self, TelemetryGuard};

/// Configuration of a consumer-group service (projector, rules, notifier, billing).
#[derive(Debug, Clone, Default, Deserialize)]
// Unknown *sections* are ignored: one environment is often shared by every
// service (compose, `make dev`), each taking the sections it needs. Unknown
// fields inside a section are still errors, which catches typos.
#[serde(default)]
pub struct WorkerConfig {
    pub http: HttpSettings,
    pub kafka: KafkaSettings,
    pub database: DatabaseSettings,
    pub telemetry: TelemetrySettings,
    pub consumer: ConsumerSettings,
}

impl Validate for WorkerConfig {
    fn validate(&self) -> Vec<FieldProblem> {
        let mut problems = config::nested("http", self.http.validate());
        problems.extend(config::nested("kafka", self.kafka.validate()));
        problems.extend(config::nested("database", self.database.validate()));
        problems.extend(config::nested("telemetry", self.telemetry.validate()));
        problems.extend(config::nested("consumer", self.consumer.validate()));
        problems
    }
}

/// Identity of a worker service and its defaults.
pub struct WorkerSpec {
    pub name: &'static str,
    pub default_group: &'static str,
    pub default_port: u16,
}

impl WorkerSpec {
    pub fn load_config(&self) -> Result<WorkerConfig, config::ConfigError> {
        config::load_with_defaults(
            self.name,
            &[("consumer.group_id", self.default_group.into()), ("http.port", u64::from(self.default_port).into())],
        )
    }
}

/// Everything a started service holds on to.
pub struct Started {
    pub pool: Pool,
    pub health: HealthServer,
    /// `/readyz`'s checks; consumer services add their members' health.
    pub readiness: Readiness,
    pub telemetry: TelemetryGuard,
}

/// Telemetry, database pool and safety check, broker check, health server.
pub async fn start(
    name: &'static str,
    http: &HttpSettings,
    kafka: &KafkaSettings,
    database: &DatabaseSettings,
    telemetry_settings: &TelemetrySettings,
) -> anyhow::Result<Started> {
    let telemetry = telemetry::init(name, telemetry_settings)?;
    let pool = connect_checked_pool(database).await?;
    crate::kafka::check_broker(kafka, Duration::from_secs(10))
        .await
        .with_context(|| format!("cannot reach Kafka at {}; is the stack up? (make stack-up)", kafka.brokers))?;
    let readiness = Readiness::new(vec![Arc::new(PostgresReadiness(pool.clone())), Arc::new(KafkaReadiness(kafka.clone()))]);
    let health = start_health_server(http, readiness.clone())
        .with_context(|| format!("cannot listen on {}:{} (http.port)", http.host, http.port))?;
    tracing::info!(addr = %health.local_addr, "service started");
    Ok(Started { pool, health, readiness, telemetry })
}

/// A pool whose role has passed the row-level-security safety check.
pub async fn connect_checked_pool(database: &DatabaseSettings) -> anyhow::Result<Pool> {
    let pool = postgres::connect_pool(database)?;
    let client = pool.get().await.context("cannot reach Postgres (database.url); is the stack up? (make stack-up)")?;
    postgres::check_application_role(&client).await.context("refusing to start")?;
    drop(client);
    Ok(pool)
}

/// Runs a worker that has no logic of its own yet: health endpoints until a signal.
pub async fn run_idle_worker(spec: &WorkerSpec) -> anyhow::Result<()> {
    let config = spec.load_config()?;
    let started = start(spec.name, &config.http, &config.kafka, &config.database, &config.telemetry).await?;
    crate::shutdown::on_signal().cancelled().await;
    started.health.stop().await;
    Ok(())
}

/// Maps a service's outcome to an exit code with one clear message, never a
/// panic trace.
pub fn exit_code(service: &str, outcome: anyhow::Result<()>) -> ExitCode {
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("{service}: {error:#}");
            ExitCode::FAILURE
        }
    }
}
