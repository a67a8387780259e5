//! A consumer-group member running `ProbeHandler`, as a separate process so
//! tests can SIGKILL it mid-stream and start it again.

use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use signalops_platform::config::{ConsumerSettings, DatabaseSettings, KafkaSettings, LogFormat, Secret, TelemetrySettings};
use signalops_platform::consumer::{ConsumerRuntime, DeadLetterSink};
use signalops_platform::kafka::EventProducer;
use signalops_platform::{postgres, service, shutdown, telemetry};
use signalops_testkit::ProbeHandler;

#[derive(Parser)]
struct Args {
    #[arg(long)]
    brokers: String,
    #[arg(long)]
    database_url: String,
    #[arg(long)]
    topic: String,
    #[arg(long)]
    dlq_topic: String,
    #[arg(long)]
    group: String,
    #[arg(long, default_value = "probe")]
    name: String,
    #[arg(long, default_value_t = 50)]
    batch_max_records: usize,
    #[arg(long, default_value_t = 0)]
    delay_ms: u64,
    /// Static membership (`group.instance.id`).
    #[arg(long)]
    instance_id: Option<String>,
    #[arg(long, default_value_t = 10_000)]
    session_timeout_ms: u64,
}

#[tokio::main]
async fn main() -> ExitCode {
    service::exit_code("consumer-probe", run(Args::parse()).await)
}

async fn run(args: Args) -> anyhow::Result<()> {
    let _telemetry =
        telemetry::init("consumer-probe", &TelemetrySettings { level: "warn".into(), format: LogFormat::Json, otlp_endpoint: None })?;
    let kafka = KafkaSettings { brokers: args.brokers, ..KafkaSettings::default() };
    let pool = postgres::connect_pool(&DatabaseSettings { url: Secret::new(args.database_url), ..DatabaseSettings::default() })?;
    let producer = EventProducer::new(&kafka, "consumer-probe")?;
    let settings = ConsumerSettings {
        batch_max_records: args.batch_max_records,
        session_timeout_ms: args.session_timeout_ms,
        drain_timeout_ms: (args.session_timeout_ms / 2).min(5_000),
        instance_id: args.instance_id,
        ..ConsumerSettings::for_group(args.group)
    };
    let handler = ProbeHandler::new(args.name).with_delay(std::time::Duration::from_millis(args.delay_ms));
    let runtime =
        ConsumerRuntime::new(kafka, settings, vec![args.topic], pool, Arc::new(handler), DeadLetterSink::new(producer, args.dlq_topic));
    runtime.run(shutdown::on_signal()).await?;
    Ok(())
}
