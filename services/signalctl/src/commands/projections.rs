//! `signalctl projections list | rebuild | promote | drop`: side-by-side
//! versions of the events read model (`read_models`, migration V12).
//!
//! A rebuild registers version N (schema `read_vN`, group `<group>-vN`); the
//! projector fleet starts projecting it from the earliest offset within
//! seconds while the serving version keeps serving, and this command shows
//! the progress per partition until it has caught up with the log end it
//! saw at the start. The version is loaded with its primary key only; once
//! caught up, its query indexes are built in one go (ADR 0016) and only then
//! is it `ready`. Running the rebuild again for a version still `building`
//! (after `--no-wait`, or an interrupted run) resumes watching it.
//! Promotion flips `serving` in one transaction, so every
//! gateway query reads either the old or the new version, never a mix.
//! Only the read model's own tables are written: nothing is produced to
//! Kafka, so a rebuild triggers no rule, notification or billing.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use clap::{Args, Subcommand};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use rdkafka::consumer::Consumer as _;
use serde_json::json;
use signalops_platform::postgres;
use signalops_platform::read_models::group_of;

use super::Output;
use super::group_state::{self, TIMEOUT};
use crate::CtlConfig;

#[derive(Debug, Args)]
pub struct Target {
    /// URL of the role that owns the schema (not the application role).
    #[arg(long, env = "SIGNALOPS_DATABASE_OWNER_URL", hide_env_values = true)]
    pub owner_url: String,
    /// The projector's base consumer group.
    #[arg(long, default_value = "signalops-projector")]
    pub group: String,
}

#[derive(Debug, Subcommand)]
pub enum ProjectionsCommand {
    /// Every version: state, schema, group.
    List(Target),
    /// Build version N side by side from the earliest offset, with progress.
    Rebuild {
        #[arg(long)]
        version: i32,
        /// Register the version and return without waiting for it.
        #[arg(long)]
        no_wait: bool,
        #[command(flatten)]
        target: Target,
    },
    /// Make version N the one every reader uses (atomically).
    Promote {
        version: i32,
        #[command(flatten)]
        target: Target,
    },
    /// Stop projecting version N and delete its tables and offsets.
    Drop {
        version: i32,
        #[command(flatten)]
        target: Target,
    },
}

pub async fn run(command: ProjectionsCommand, output: Output) -> anyhow::Result<()> {
    match command {
        ProjectionsCommand::List(target) => list(&target, output).await,
        ProjectionsCommand::Rebuild { version, no_wait, target } => rebuild(version, no_wait, &target, output).await,
        ProjectionsCommand::Promote { version, target } => promote(version, &target, output).await,
        ProjectionsCommand::Drop { version, target } => drop_version(version, &target, output).await,
    }
}

async fn list(target: &Target, output: Output) -> anyhow::Result<()> {
    let client = postgres::connect_one(&target.owner_url).await?;
    let rows = client
        .query("SELECT version, schema_name, state, created_at::text, promoted_at::text FROM read_models ORDER BY version", &[])
        .await
        .context("cannot read read_models (has `signalctl migrate` run?)")?;
    let mut lines = vec![format!("{:<8} {:<12} {:<10} {:<32} {}", "VERSION", "SCHEMA", "STATE", "GROUP", "CREATED")];
    let mut values = Vec::new();
    for r in &rows {
        let (version, schema, state, created): (i32, String, String, String) = (r.try_get(0)?, r.try_get(1)?, r.try_get(2)?, r.try_get(3)?);
        let group = group_of(&target.group, version);
        lines.push(format!("{version:<8} {schema:<12} {state:<10} {group:<32} {created}"));
        values.push(json!({"version": version, "schema": schema, "state": state, "group": group, "created_at": created, "promoted_at": r.try_get::<_, Option<String>>(4)?}));
    }
    output.print(lines.join("\n"), json!(values));
    Ok(())
}

async fn rebuild(version: i32, no_wait: bool, target: &Target, output: Output) -> anyhow::Result<()> {
    if version < 2 {
        bail!("--version must be 2 or more (version 1 is the original read model)");
    }
    let config = CtlConfig::load()?;
    let kafka = config.require_kafka()?.clone();
    let mut client = postgres::connect_one(&target.owner_url).await?;
    let (schema, resumed) = register_or_resume(&mut client, version).await?;
    let group = group_of(&target.group, version);
    if resumed {
        output.progress(format!("version {version} is still building (schema {schema}, group {group}): watching it again"));
    }
    if no_wait {
        output.print(
            format!("version {version} registered (schema {schema}, group {group}); the projectors build it from the earliest offset"),
            json!({"version": version, "schema": schema, "group": group, "state": "building"}),
        );
        return Ok(());
    }

    // The log end at the start is the finish line.
    let topic = kafka.topics.events.clone();
    let ends: BTreeMap<i32, (i64, i64)> = tokio::task::spawn_blocking({
        let (kafka, group, topic) = (kafka.clone(), group.clone(), topic.clone());
        move || -> anyhow::Result<_> {
            let consumer = group_state::outside_consumer(&kafka, &group)?;
            let mut ends = BTreeMap::new();
            for p in group_state::partitions_of(&consumer, &topic)? {
                ends.insert(p, consumer.fetch_watermarks(&topic, p, TIMEOUT).context("cannot read watermarks")?);
            }
            Ok(ends)
        }
    })
    .await??;
    let total: i64 = ends.values().map(|(low, high)| high - low).sum();
    let bars = MultiProgress::with_draw_target(if output.json { ProgressDrawTarget::hidden() } else { ProgressDrawTarget::stderr() });
    let style = ProgressStyle::with_template("p{prefix:>3} [{bar:40}] {pos}/{len} {per_sec:>12} lag {msg:>9} eta {eta}")
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .progress_chars("=> ");
    let bar_of: BTreeMap<i32, ProgressBar> = ends
        .iter()
        .map(|(p, (low, high))| {
            let bar = bars.add(ProgressBar::new(u64::try_from(high - low).unwrap_or(0)));
            bar.set_style(style.clone());
            bar.set_prefix(p.to_string());
            (*p, bar)
        })
        .collect();
    let started = Instant::now();
    let mut last_progress = (Instant::now(), -1_i64);
    let mut hinted = false;
    loop {
        let stored = group_state::postgres_offsets(&client, &group).await?;
        let mut done = 0_i64;
        let mut finished = true;
        for (p, (low, high)) in &ends {
            let at = stored.get(&(topic.clone(), *p)).copied().unwrap_or(*low).clamp(*low, *high);
            done += at - low;
            finished &= at >= *high;
            let bar = &bar_of[p];
            bar.set_position(u64::try_from(at - low).unwrap_or(0));
            bar.set_message((high - at).to_string());
        }
        if finished {
            break;
        }
        if done != last_progress.1 {
            last_progress = (Instant::now(), done);
        } else if !hinted && last_progress.0.elapsed() > Duration::from_secs(30) {
            hinted = true;
            let _ = bars.println(format!("no progress for 30 s: is a projector running (group {group})?"));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    for bar in bar_of.values() {
        bar.finish();
    }
    let caught_up = started.elapsed().as_secs_f64();
    let indexing = ProgressBar::new_spinner().with_message(format!("building the query indexes of {schema}"));
    if !output.json {
        indexing.enable_steady_tick(Duration::from_millis(200));
    }
    client.query_one("SELECT index_read_model_schema($1)", &[&version]).await.context("cannot build the version's indexes")?;
    indexing.finish_and_clear();
    client.execute("UPDATE read_models SET state = 'ready' WHERE version = $1 AND state = 'building'", &[&version]).await?;
    let seconds = started.elapsed().as_secs_f64();
    let index_seconds = seconds - caught_up;
    let rate = if seconds > 0.0 { total as f64 / seconds } else { 0.0 };
    output.print(
        format!(
            "version {version} is ready: {total} records in {seconds:.1} s ({rate:.0}/s, indexes {index_seconds:.1} s of it); \
             promote it with `signalctl projections promote {version}`"
        ),
        json!({"version": version, "schema": schema, "group": group, "state": "ready", "records": total, "seconds": seconds,
               "index_seconds": index_seconds, "resumed": resumed}),
    );
    Ok(())
}

/// Registers version `version` (schema and `building` row in one
/// transaction), or returns the schema of a version that is still
/// `building`, so that a rebuild can be watched (and finished) again.
async fn register_or_resume(client: &mut tokio_postgres::Client, version: i32) -> anyhow::Result<(String, bool)> {
    let tx = client.transaction().await?;
    let existing: Option<(String, String)> = tx
        .query_opt("SELECT schema_name, state FROM read_models WHERE version = $1 FOR UPDATE", &[&version])
        .await
        .context("cannot read read_models")?
        .map(|r| Ok::<_, tokio_postgres::Error>((r.try_get(0)?, r.try_get(1)?)))
        .transpose()?;
    match existing {
        Some((schema, state)) if state == "building" => Ok((schema, true)),
        Some((_, state)) => bail!("version {version} already exists (state {state}); drop it first or pick another number"),
        None => {
            let schema: String =
                tx.query_one("SELECT create_read_model_schema($1)", &[&version]).await.context("cannot create the schema")?.try_get(0)?;
            tx.execute("INSERT INTO read_models (version, schema_name, state) VALUES ($1, $2, 'building')", &[&version, &schema]).await?;
            tx.commit().await?;
            Ok((schema, false))
        }
    }
}

async fn promote(version: i32, target: &Target, output: Output) -> anyhow::Result<()> {
    let mut client = postgres::connect_one(&target.owner_url).await?;
    let tx = client.transaction().await?;
    // Locks every version row, so two promotions cannot interleave.
    let rows =
        tx.query("SELECT version, state FROM read_models ORDER BY version FOR UPDATE", &[]).await.context("cannot read read_models")?;
    let mut state = None;
    for r in &rows {
        if r.try_get::<_, i32>(0)? == version {
            state = Some(r.try_get::<_, String>(1)?);
        }
    }
    match state.as_deref() {
        None => bail!("no read model version {version} (see `signalctl projections list`)"),
        Some("serving") => {
            output
                .print(format!("version {version} is already serving"), json!({"version": version, "state": "serving", "changed": false}));
            return Ok(());
        }
        Some("ready") => {}
        Some(other) => bail!("version {version} is {other}; only a ready version can be promoted (wait for its rebuild to finish)"),
    }
    tx.execute("UPDATE read_models SET state = 'ready' WHERE state = 'serving'", &[]).await?;
    tx.execute("UPDATE read_models SET state = 'serving', promoted_at = now() WHERE version = $1", &[&version]).await?;
    tx.commit().await?;
    output.print(
        format!("version {version} is serving; every reader uses it from now on"),
        json!({"version": version, "state": "serving", "changed": true}),
    );
    Ok(())
}

async fn drop_version(version: i32, target: &Target, output: Output) -> anyhow::Result<()> {
    let config = CtlConfig::load()?;
    let kafka = config.require_kafka()?.clone();
    let mut client = postgres::connect_one(&target.owner_url).await?;
    let row = client
        .query_opt("SELECT schema_name, state FROM read_models WHERE version = $1", &[&version])
        .await
        .context("cannot read read_models")?;
    let Some(row) = row else { bail!("no read model version {version} (see `signalctl projections list`)") };
    let (schema, state): (String, String) = (row.try_get(0)?, row.try_get(1)?);
    if state == "serving" {
        bail!("version {version} is serving; promote another version first");
    }
    client.execute("UPDATE read_models SET state = 'dropping' WHERE version = $1", &[&version]).await?;
    // The projectors see `dropping`, drain and leave the group.
    let group = group_of(&target.group, version);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (kafka, g) = (kafka.clone(), group.clone());
        let members = tokio::task::spawn_blocking(move || -> anyhow::Result<usize> {
            let consumer = group_state::outside_consumer(&kafka, &g)?;
            Ok(group_state::members(&consumer, &g)?.1.len())
        })
        .await??;
        if members == 0 {
            break;
        }
        if Instant::now() > deadline {
            bail!("group {group} still has {members} member(s) after 60 s; the version stays `dropping`: stop them and run drop again");
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let tx = client.transaction().await?;
    if schema == "public" {
        tx.batch_execute("TRUNCATE public.events, public.event_type_counts").await?;
    } else {
        tx.batch_execute(&format!("DROP SCHEMA \"{}\" CASCADE", schema.replace('"', "\"\""))).await?;
    }
    tx.execute("DELETE FROM consumer_offsets WHERE group_id = $1", &[&group]).await?;
    tx.execute("DELETE FROM read_models WHERE version = $1", &[&version]).await?;
    tx.commit().await?;
    output.print(format!("version {version} dropped (schema {schema}, group {group})"), json!({"version": version, "dropped": true}));
    Ok(())
}
