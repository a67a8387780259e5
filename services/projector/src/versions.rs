//! Runs one consumer runtime per live read-model version (`read_models`):
//! version 1 in `public` with the configured group, version N in `read_vN`
//! with group `<group>-vN`. A version registered by `signalctl projections
//! rebuild` starts projecting from the earliest offset within
//! `POLL_EVERY`, side by side with the serving one; a version being dropped
//! is drained and stopped. Each runtime keeps the exactly-once contract on
//! its own group's offsets.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use signalops_platform::consumer::{ConsumerRuntime, DeadLetterSink};
use signalops_platform::http::{Readiness, ReadinessCheck};
use signalops_platform::postgres::Pool;
use signalops_platform::read_models::group_of;
use signalops_platform::service::WorkerConfig;
use signalops_platform::shutdown::CancellationToken;
use tokio::task::JoinHandle;

use crate::EventsProjection;

/// How soon a registered (or dropped) version starts (or stops) projecting:
/// one small query per tick.
const POLL_EVERY: Duration = Duration::from_millis(500);

/// A live version: where it writes and which group reads for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    pub version: i32,
    pub schema: String,
    pub group: String,
}

async fn live_versions(pool: &Pool, base_group: &str) -> anyhow::Result<Vec<Version>> {
    let client = pool.get().await?;
    let rows = client
        .query("SELECT version, schema_name FROM read_models WHERE state IN ('building', 'ready', 'serving') ORDER BY version", &[])
        .await
        .context("cannot read read_models")?;
    let versions = rows
        .iter()
        .map(|r| {
            let version: i32 = r.try_get(0)?;
            Ok(Version { version, schema: r.try_get(1)?, group: group_of(base_group, version) })
        })
        .collect::<Result<_, tokio_postgres::Error>>()
        .context("unexpected read_models row")?;
    Ok(versions)
}

struct Running {
    task: JoinHandle<Result<(), signalops_platform::consumer::RuntimeError>>,
    stop: CancellationToken,
    health: Arc<dyn ReadinessCheck>,
}

/// Supervises the runtimes until `shutdown`, then drains them all. A
/// runtime that fails ends the service (with its error), so the
/// orchestrator restarts it rather than a version silently falling behind.
pub async fn supervise(
    config: WorkerConfig,
    pool: Pool,
    dead_letters: DeadLetterSink,
    readiness: Readiness,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let mut running: BTreeMap<i32, Running> = BTreeMap::new();
    let mut tick = tokio::time::interval(POLL_EVERY);
    let outcome = loop {
        tokio::select! {
            () = shutdown.cancelled() => break Ok(()),
            _ = tick.tick() => {}
        }
        if let Some((version, _)) = running.iter().find(|(_, r)| r.task.is_finished()) {
            let version = *version;
            let finished = running.remove(&version).map(|r| r.task);
            if let Some(task) = finished {
                let result = task.await.context("projector runtime task")?;
                break result.with_context(|| format!("read model version {version}"));
            }
        }
        let wanted = match live_versions(&pool, &config.consumer.group_id).await {
            Ok(versions) => versions,
            Err(error) => {
                tracing::warn!(error = %format!("{error:#}"), "cannot read the read-model versions; keeping the current ones");
                continue;
            }
        };
        for version in &wanted {
            running.entry(version.version).or_insert_with(|| {
                tracing::info!(version = version.version, schema = %version.schema, group = %version.group, "projecting read model version");
                let running = start(&config, &pool, &dead_letters, version);
                readiness.add(Arc::clone(&running.health));
                running
            });
        }
        let gone: Vec<i32> = running.keys().filter(|v| !wanted.iter().any(|w| w.version == **v)).copied().collect();
        for version in gone {
            if let Some(r) = running.remove(&version) {
                tracing::info!(version, "stopping read model version");
                r.stop.cancel();
                let _ = r.task.await;
                readiness.remove(&r.health);
            }
        }
    };
    for (_, r) in running {
        r.stop.cancel();
        let _ = r.task.await;
    }
    outcome
}

fn start(config: &WorkerConfig, pool: &Pool, dead_letters: &DeadLetterSink, version: &Version) -> Running {
    let settings = signalops_platform::config::ConsumerSettings { group_id: version.group.clone(), ..config.consumer.clone() };
    let runtime = ConsumerRuntime::new(
        config.kafka.clone(),
        settings,
        vec![config.kafka.topics.events.clone()],
        pool.clone(),
        Arc::new(EventsProjection::new(&version.schema)),
        dead_letters.clone(),
    )
    .with_redrive_topic(config.kafka.topics.redrive.clone());
    let health: Arc<dyn ReadinessCheck> = Arc::new(runtime.health());
    let stop = CancellationToken::new();
    let task = tokio::spawn(runtime.run(stop.clone()));
    Running { task, stop, health }
}
