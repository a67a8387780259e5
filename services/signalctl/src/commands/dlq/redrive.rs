//! `signalctl dlq redrive`: sends selected dead letters back to the group
//! that failed them, through the redrive topic, never the source topic
//! (other groups would apply the record a second time).
//!
//! Each dead letter is appended to `kafka.topics.redrive` as it is: key and
//! value (the `DeadLetter`) unchanged, plus `redrive_group` (its group) and
//! `redrive_source` (`<dlq partition>:<dlq offset>`). Only that group applies
//! it, and it stores the source with the effect, so a dead letter redriven
//! twice is applied once. Dead letters already found on the redrive topic
//! are left out unless `--include-redriven`: that saves the group work, but
//! correctness never depends on it.

use std::collections::{BTreeSet, HashMap};

use anyhow::{Context as _, bail};
use clap::Args;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::{Value, json};
use signalops_platform::consumer::dead_letter::{HEADER_REDRIVE_GROUP, HEADER_REDRIVE_SOURCE};
use signalops_platform::kafka::{EventProducer, OutgoingRecord};
use signalops_platform::postgres;

use super::Output;
use super::audit::{self, Entry};
use super::filter::{Filter, parse_position};
use super::letter::{Letter, clip};
use super::scan::{self, SourceKey};
use super::select::select;
use crate::CtlConfig;

/// Records enqueued before their acknowledgements are awaited together.
const CHUNK: usize = 500;

#[derive(Debug, Args)]
pub struct RedriveArgs {
    #[command(flatten)]
    pub filter: Filter,
    /// One dead letter by position, `PARTITION:OFFSET`; repeat for more.
    #[arg(long = "record", value_name = "P:O", value_parser = parse_position)]
    pub records: Vec<(i32, i64)>,
    /// Select every dead letter (needed when no filter or --record is given).
    #[arg(long)]
    pub all: bool,
    /// Send dead letters found on the redrive topic again (their group
    /// applies each one once anyway; use it after a redrive failed again).
    #[arg(long)]
    pub include_redriven: bool,
    /// Append to the redrive topic (without it nothing changes).
    #[arg(long)]
    pub execute: bool,
    /// Who is acting, for the audit entry (default: the login name).
    #[arg(long, env = "SIGNALOPS_OPERATOR")]
    pub actor: Option<String>,
}

enum Plan<'a> {
    Send(&'a Letter),
    AlreadyRedriven(&'a Letter),
    /// Another selected dead letter (the position given) is the same record
    /// of the same group: a crash dead-lettered it twice.
    Duplicate(&'a Letter, String),
    /// The value is not a `DeadLetter`: no group could apply it.
    Undecodable(&'a Letter),
}

pub async fn run(args: RedriveArgs, output: Output) -> anyhow::Result<()> {
    args.filter.validate()?;
    if args.filter.is_empty() && args.records.is_empty() && !args.all {
        bail!(
            "choose the dead letters to redrive: --group, --error-class, --tenant, --source-topic, --since/--until, --record P:O, or --all"
        );
    }
    let config = CtlConfig::load()?;
    let kafka = config.require_kafka()?.clone();
    // The audit entry must be writable before anything is appended.
    let client = if args.execute { Some(postgres::connect_one(config.require_database()?.url.expose()).await?) } else { None };
    let (filter, positions) = (args.filter.clone(), args.records.clone());
    let selection = tokio::task::spawn_blocking({
        let kafka = kafka.clone();
        move || select(&kafka, &filter, &positions)
    })
    .await??;
    let mut first_of: HashMap<SourceKey, String> = HashMap::new();
    let plan: Vec<Plan<'_>> = selection
        .letters
        .iter()
        .map(|l| match l.source_key() {
            None => Plan::Undecodable(l),
            Some(_) if selection.is_redriven(l) && !args.include_redriven => Plan::AlreadyRedriven(l),
            Some(key) => match first_of.get(&key) {
                Some(first) => Plan::Duplicate(l, first.clone()),
                None => {
                    first_of.insert(key, l.position());
                    Plan::Send(l)
                }
            },
        })
        .collect();
    let to_send: Vec<&Letter> = plan.iter().filter_map(|p| if let Plan::Send(l) = p { Some(*l) } else { None }).collect();
    let redrive_topic = kafka.topics.redrive.clone();
    let mut lines = vec![format!("{:<12} {:<28} {:<11} {:<36} {}", "POSITION", "GROUP", "CLASS", "TENANT", "ACTION")];
    for p in &plan {
        let (l, action) = match p {
            Plan::Send(l) => (l, (if args.execute { "redriven" } else { "would redrive" }).to_owned()),
            Plan::AlreadyRedriven(l) => (l, "skipped: already on the redrive topic (--include-redriven sends it again)".to_owned()),
            Plan::Undecodable(l) => (l, "skipped: the value is not a DeadLetter".to_owned()),
            Plan::Duplicate(l, first) => (l, format!("skipped: the same record as {first}")),
        };
        let tenant = if l.tenant.is_empty() { "-" } else { &l.tenant };
        lines.push(format!("{:<12} {:<28} {:<11} {:<36} {action}", l.position(), clip(&l.group, 28), l.error_class, clip(tenant, 36)));
    }
    let skipped = |want_redriven: bool| -> Vec<String> {
        plan.iter()
            .filter_map(|p| match p {
                Plan::AlreadyRedriven(l) if want_redriven => Some(l.position()),
                Plan::Undecodable(l) if !want_redriven => Some(l.position()),
                _ => None,
            })
            .collect()
    };
    let duplicates: Vec<Value> = plan
        .iter()
        .filter_map(|p| if let Plan::Duplicate(l, first) = p { Some(json!({"position": l.position(), "same_as": first})) } else { None })
        .collect();
    let mut value = json!({
        "executed": args.execute,
        "dlq_topic": kafka.topics.dlq,
        "redrive_topic": redrive_topic,
        "filter": args.filter.to_json(),
        "selected": selection.letters.len(),
        "to_send": to_send.iter().map(|l| json!({"position": l.position(), "group": l.group, "tenant": l.tenant})).collect::<Vec<_>>(),
        "skipped_redriven": skipped(true),
        "skipped_undecodable": skipped(false),
        "skipped_duplicates": duplicates,
    });
    let Some(client) = client else {
        lines.insert(
            0,
            format!(
                "dry run: {} of {} selected dead letter(s) would go to {redrive_topic}; nothing changed (add --execute to apply)",
                to_send.len(),
                selection.letters.len()
            ),
        );
        output.print(lines.join("\n"), value);
        return Ok(());
    };
    if to_send.is_empty() {
        lines.insert(0, format!("nothing to redrive ({} selected, none to send); nothing changed", selection.letters.len()));
        output.print(lines.join("\n"), value);
        return Ok(());
    }

    let exists = tokio::task::spawn_blocking({
        let (kafka, topic) = (kafka.clone(), redrive_topic.clone());
        move || scan::reader(&kafka).and_then(|c| scan::topic_exists(&c, &topic))
    })
    .await??;
    if !exists {
        bail!("the redrive topic {redrive_topic} does not exist; create it with `signalctl topics ensure`");
    }
    let producer = EventProducer::new(&kafka, "signalctl-redrive").context("cannot create a Kafka producer")?;
    let bar = ProgressBar::with_draw_target(
        Some(to_send.len() as u64),
        if output.json { ProgressDrawTarget::hidden() } else { ProgressDrawTarget::stderr() },
    );
    bar.set_style(
        ProgressStyle::with_template("redrive [{bar:40}] {pos}/{len} {per_sec:>10} eta {eta}")
            .map_err(|e| anyhow::anyhow!("{e}"))?
            .progress_chars("=> "),
    );
    let mut appended: Vec<Value> = Vec::new();
    let mut failed: Vec<Value> = Vec::new();
    let mut tenants = BTreeSet::new();
    for chunk in to_send.chunks(CHUNK) {
        let records = chunk.iter().map(|l| redrive_record(l, &redrive_topic)).collect();
        for (l, result) in chunk.iter().zip(producer.send_all(records).await) {
            match result {
                Ok(at) => {
                    if !l.tenant.is_empty() {
                        tenants.insert(l.tenant.clone());
                    }
                    appended.push(json!({"position": l.position(), "group": l.group, "tenant": l.tenant, "redrive": format!("{}:{}", at.partition, at.offset)}));
                }
                Err(error) => failed.push(json!({"position": l.position(), "group": l.group, "error": error.to_string()})),
            }
        }
        bar.inc(chunk.len() as u64);
    }
    bar.finish_and_clear();

    let actor = audit::actor(args.actor.clone());
    let audit_id = if appended.is_empty() {
        None
    } else {
        let details = json!({
            "dlq_topic": kafka.topics.dlq, "redrive_topic": redrive_topic, "filter": args.filter.to_json(),
            "records": appended, "failed": failed, "skipped_redriven": skipped(true), "skipped_undecodable": skipped(false),
            "skipped_duplicates": value["skipped_duplicates"],
        });
        let entry = Entry { actor: &actor, action: "dlq.redrive", target: &kafka.topics.dlq, tenants, details };
        Some(audit::write(&client, entry).await.with_context(|| {
            format!("{} dead letter(s) were appended to {redrive_topic}, but the audit entry was not written", appended.len())
        })?)
    };
    value["appended"] = json!(appended);
    value["failed"] = json!(failed);
    value["audit_id"] = json!(audit_id);
    if !failed.is_empty() {
        output.print(lines.join("\n"), value);
        bail!(
            "{} of {} dead letter(s) could not be appended to {redrive_topic}; run the same redrive again to send the rest",
            failed.len(),
            to_send.len()
        );
    }
    lines.insert(
        0,
        format!(
            "{} dead letter(s) appended to {redrive_topic} (audit entry {})",
            appended.len(),
            audit_id.map_or("-".to_owned(), |id| id.to_string())
        ),
    );
    output.print(lines.join("\n"), value);
    Ok(())
}

/// The dead letter as its group reads it from the redrive topic.
fn redrive_record(letter: &Letter, topic: &str) -> OutgoingRecord {
    OutgoingRecord {
        topic: topic.to_owned(),
        key: letter.record.key.clone(),
        payload: letter.record.payload.clone().unwrap_or_default(),
        headers: vec![
            (HEADER_REDRIVE_GROUP.into(), letter.group.as_bytes().to_vec()),
            (HEADER_REDRIVE_SOURCE.into(), letter.position().into_bytes()),
        ],
    }
}
