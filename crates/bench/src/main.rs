//! `signalops-bench`: the load generator and ceilings behind `make bench`
//! (deploy/local/bench.sh). Each scenario subcommand prints one JSON line;
//! `report` turns the lines into the Markdown table and docs/benchmarks.md.

mod end_to_end;
mod histogram;
mod http;
mod load;
mod payload;
mod read_side;
mod report;
mod result;
mod rules;
mod scenarios;
mod steady_ingest;

// The services run on mimalloc; a ceiling measured on another allocator
// would judge them against a different machine (the no-op consumer on glibc
// malloc was slower than the rules group it bounds).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::io::BufRead as _;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use signalops_platform::config::{DatabaseSettings, Secret};
use signalops_platform::postgres;

use crate::result::ScenarioResult;
use crate::scenarios::{Gateway, GatewayMode, Load};

#[derive(Parser)]
#[command(about = "SignalOps ingest benchmark: ceilings, gateway load, report")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Args)]
struct LoadArgs {
    /// How long each scenario runs.
    #[arg(long, env = "BENCH_SECONDS", default_value_t = 10)]
    seconds: u64,
    /// Requests (or producer chunks) in flight at once.
    #[arg(long, env = "BENCH_CONCURRENCY", default_value_t = 32)]
    concurrency: usize,
}

impl LoadArgs {
    fn load(&self) -> Load {
        Load { concurrency: self.concurrency.max(1), duration: Duration::from_secs(self.seconds.max(1)) }
    }
}

#[derive(Subcommand)]
enum Command {
    /// Raw Kafka producer rate with the platform's producer settings.
    ProducerCeiling {
        #[command(flatten)]
        load: LoadArgs,
        #[arg(long, env = "SIGNALOPS_KAFKA_BROKERS")]
        brokers: String,
        #[arg(long)]
        topic: String,
        /// Records per `send_all`, as the gateway sends a batch.
        #[arg(long, default_value_t = 100)]
        chunk: usize,
    },
    /// A trivial actix handler answering 202: the HTTP ceiling.
    HttpCeiling {
        #[command(flatten)]
        load: LoadArgs,
        /// Actix workers; the gateway's default is one per core.
        #[arg(long, default_value_t = std::thread::available_parallelism().map_or(1, |n| n.get()))]
        workers: usize,
    },
    /// Load on the real gateway's POST /v1/events.
    Gateway {
        #[command(flatten)]
        load: LoadArgs,
        #[arg(long)]
        url: String,
        #[arg(long, env = "BENCH_API_KEY", hide_env_values = true)]
        api_key: String,
        #[arg(long, value_enum)]
        mode: GatewayMode,
        #[arg(long, default_value_t = 100)]
        batch: usize,
        #[arg(long, default_value_t = 10)]
        duplicate_percent: usize,
    },
    /// Single events at a steady rate, each sampled one timed until its row
    /// is visible in the read model (the projector must be running).
    EndToEnd {
        #[command(flatten)]
        load: LoadArgs,
        #[arg(long)]
        url: String,
        #[arg(long, env = "BENCH_API_KEY", hide_env_values = true)]
        api_key: String,
        #[arg(long, env = "SIGNALOPS_DATABASE_URL", hide_env_values = true)]
        database_url: String,
        /// The tenant the API key acts for (the rows are read under its RLS scope).
        #[arg(long)]
        tenant: String,
        /// Events per second offered.
        #[arg(long)]
        rate: f64,
        #[arg(long, default_value_t = 10)]
        sample_every: u64,
    },
    /// Batches at a fixed rate from several tenants in turn (the live
    /// read-side scenario; the projector's progress is read separately).
    SteadyIngest {
        #[command(flatten)]
        load: LoadArgs,
        #[arg(long)]
        url: String,
        /// Comma-separated, one per tenant.
        #[arg(long, env = "BENCH_API_KEYS", hide_env_values = true, value_delimiter = ',')]
        api_keys: Vec<String>,
        /// Events per second offered.
        #[arg(long)]
        rate: f64,
        #[arg(long, default_value_t = 100)]
        batch: usize,
    },
    /// Append envelopes to a topic (the log a rebuild reads).
    Fill {
        #[arg(long, env = "SIGNALOPS_KAFKA_BROKERS")]
        brokers: String,
        #[arg(long)]
        topic: String,
        #[arg(long, default_value_t = 1_000_000)]
        count: usize,
        #[arg(long, default_value_t = 50)]
        tenants: usize,
    },
    /// COPY of the same rows into the same table shape: the projector's ceiling.
    CopyCeiling {
        #[arg(long, env = "SIGNALOPS_DATABASE_OWNER_URL", hide_env_values = true)]
        owner_url: String,
        #[arg(long, default_value_t = 1_000_000)]
        rows: usize,
        #[arg(long, default_value_t = 50)]
        tenants: usize,
    },
    /// Tenants with stateless rules and a topic of their events (the rules
    /// scenario); prints the tenant ids, comma-separated.
    RulesSetup {
        #[arg(long, env = "SIGNALOPS_DATABASE_URL", hide_env_values = true)]
        database_url: String,
        #[arg(long, env = "SIGNALOPS_KAFKA_BROKERS")]
        brokers: String,
        #[arg(long)]
        topic: String,
        #[arg(long, default_value_t = 200_000)]
        count: u64,
        #[arg(long, default_value_t = 12)]
        tenants: usize,
        #[arg(long, default_value_t = 80)]
        stateless: usize,
    },
    /// Adds window rules to the tenants `rules-setup` made.
    RulesWindows {
        #[arg(long, env = "SIGNALOPS_DATABASE_URL", hide_env_values = true)]
        database_url: String,
        #[arg(long, value_delimiter = ',')]
        tenants: Vec<String>,
        #[arg(long, default_value_t = 20)]
        windows: usize,
    },
    /// The consumer runtime with a no-op handler over a topic: the rules group's ceiling.
    NoopCeiling {
        #[arg(long, env = "SIGNALOPS_DATABASE_URL", hide_env_values = true)]
        database_url: String,
        #[arg(long, env = "SIGNALOPS_KAFKA_BROKERS")]
        brokers: String,
        #[arg(long)]
        topic: String,
        #[arg(long)]
        count: u64,
    },
    /// Times a group (run by the caller, e.g. the rules service) catching up
    /// `count` records of a topic, with the watcher that times the ceiling.
    CatchUp {
        #[arg(long, env = "SIGNALOPS_DATABASE_URL", hide_env_values = true)]
        database_url: String,
        #[arg(long)]
        group: String,
        #[arg(long)]
        topic: String,
        #[arg(long)]
        count: u64,
        /// The scenario name in the results.
        #[arg(long)]
        scenario: String,
        /// What ran, for the note.
        #[arg(long)]
        shape: String,
    },
    /// Prints the Markdown table from the JSON lines and updates the doc.
    Report {
        #[arg(long)]
        results: PathBuf,
        /// docs/benchmarks.md; not written when absent.
        #[arg(long)]
        doc: Option<PathBuf>,
        /// The gateway's peak resident set (VmHWM), in KiB.
        #[arg(long)]
        rss_kib: Option<u64>,
        /// Peak RSS of the projector during the read-side scenarios.
        #[arg(long)]
        projector_rss_kib: Option<u64>,
        /// Peak RSS of the rules service over both rules runs.
        #[arg(long)]
        rules_rss_kib: Option<u64>,
        /// CPU steal during the run, in percent of all CPU time.
        #[arg(long)]
        steal_percent: Option<f64>,
        #[arg(long, default_value = "")]
        date: String,
        #[arg(long, default_value = "")]
        machine: String,
        #[arg(long, default_value = "")]
        kafka: String,
        #[arg(long, default_value = "")]
        commit: String,
        #[command(flatten)]
        load: LoadArgs,
    },
}

fn print(result: &ScenarioResult) {
    println!("{}", result.to_json());
}

/// A ceiling that measured nothing leaves every ratio meaningless: that is a
/// broken harness (topic missing, broker down), not a result.
fn ceiling(result: ScenarioResult) -> anyhow::Result<ScenarioResult> {
    if result.events_per_s <= 0.0 {
        anyhow::bail!("{} measured nothing: {}", result.scenario, result.first_error.as_deref().unwrap_or("no request completed"));
    }
    Ok(result)
}

fn report(results: PathBuf, doc: Option<PathBuf>, context: report::Context) -> anyhow::Result<()> {
    let file = std::io::BufReader::new(std::fs::File::open(&results)?);
    let mut parsed = Vec::new();
    for line in file.lines() {
        let line = line?;
        if !line.trim().is_empty() {
            parsed.push(ScenarioResult::from_json(&serde_json::from_str(&line)?)?);
        }
    }
    let table = report::render(&parsed, &context);
    print!("{table}");
    if let Some(doc) = doc {
        let current = std::fs::read_to_string(&doc).unwrap_or_default();
        std::fs::write(&doc, report::splice_into_doc(&current, &table))?;
    }
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    signalops_platform::crypto::install_default_provider();
    match Cli::parse().command {
        Command::ProducerCeiling { load, brokers, topic, chunk } => {
            print(&ceiling(scenarios::producer_ceiling(&load.load(), &brokers, &topic, chunk.max(1)).await?)?);
        }
        Command::HttpCeiling { load, workers } => print(&ceiling(scenarios::http_ceiling(&load.load(), workers.max(1)).await?)?),
        Command::Fill { brokers, topic, count, tenants } => print(&read_side::fill(&brokers, &topic, count, tenants).await?),
        Command::CopyCeiling { owner_url, rows, tenants } => print(&ceiling(read_side::copy_ceiling(&owner_url, rows, tenants).await?)?),
        Command::Gateway { load, url, api_key, mode, batch, duplicate_percent } => {
            let gateway = Gateway { url, api_key, mode, batch: batch.max(1), duplicate_percent: duplicate_percent.min(100) };
            print(&scenarios::gateway(&load.load(), &gateway).await?);
        }
        Command::EndToEnd { load, url, api_key, database_url, tenant, rate, sample_every } => {
            let steady = end_to_end::Steady { url, api_key, database_url, tenant, rate, duration: load.load().duration, sample_every };
            print(&end_to_end::steady(steady).await?);
        }
        Command::SteadyIngest { load, url, api_keys, rate, batch } => {
            let steady = steady_ingest::Steady { url, api_keys, rate, batch: batch.max(1), duration: load.load().duration };
            print(&steady_ingest::run(steady).await?);
        }
        Command::RulesSetup { database_url, brokers, topic, count, tenants, stateless } => {
            println!("{}", rules::setup(&database_url, &brokers, &topic, tenants, stateless, count).await?.join(","));
        }
        Command::RulesWindows { database_url, tenants, windows } => rules::add_windows(&database_url, &tenants, windows).await?,
        Command::NoopCeiling { database_url, brokers, topic, count } => {
            print(&ceiling(rules::noop_ceiling(&database_url, &brokers, &topic, count).await?)?);
        }
        Command::CatchUp { database_url, group, topic, count, scenario, shape } => {
            let database = DatabaseSettings { url: Secret::new(database_url), ..DatabaseSettings::default() };
            let caught_up = rules::watch_catch_up(&postgres::connect_pool(&database)?, &group, &topic, count).await?;
            let note =
                format!("{shape}, from its first batch to {} events in {:.1} s (group join excluded)", caught_up.done, caught_up.seconds);
            print(&caught_up.result(&scenario, note));
        }
        Command::Report { results, doc, rss_kib, projector_rss_kib, rules_rss_kib, steal_percent, date, machine, kafka, commit, load } => {
            let context = report::Context {
                date,
                machine,
                kafka,
                commit,
                seconds: load.seconds,
                rss_kib,
                projector_rss_kib,
                rules_rss_kib,
                steal_percent,
            };
            report(results, doc, context)?;
        }
    }
    Ok(())
}
