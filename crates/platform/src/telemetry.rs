//! Logs and traces for every service.
//!
//! Logs are JSON lines carrying the OpenTelemetry trace and span ids
//! (`openTelemetry.traceId/spanId`) and every field of the enclosing spans
//! flattened to the top level, so a `tenant_id` recorded on a request or batch
//! span appears on each line logged inside it. Spans are always given ids (so
//! trace context can travel through Kafka headers); they are exported over
//! OTLP/HTTP only when an endpoint is configured.

use opentelemetry::propagation::TextMapCompositePropagator;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::propagation::{BaggagePropagator, TraceContextPropagator};
use opentelemetry_sdk::trace::SdkTracerProvider;
use opentelemetry_sdk::Resource;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use crate::config::{LogFormat, TelemetrySettings};

/// Flushes pending spans when dropped; keep it alive for the life of `main`.
pub struct TelemetryGuard {
    provider: SdkTracerProvider,
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        if let Err(error) = self.provider.shutdown() {
            eprintln!("telemetry: flushing spans failed: {error}");
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error("telemetry.otlp_endpoint: cannot build the OTLP exporter: {0}")]
    Exporter(String),
    #[error("telemetry.level: {0}")]
    Filter(String),
}

/// Installs the global subscriber and propagator. A second call (as in tests
/// that start several services in one process) keeps the first subscriber.
pub fn init(service: &'static str, settings: &TelemetrySettings) -> Result<TelemetryGuard, TelemetryError> {
    let provider = tracer_provider(service, settings)?;
    opentelemetry::global::set_text_map_propagator(TextMapCompositePropagator::new(vec![
        Box::new(TraceContextPropagator::new()),
        Box::new(BaggagePropagator::new()),
    ]));
    opentelemetry::global::set_tracer_provider(provider.clone());

    let filter = match std::env::var("RUST_LOG") {
        Ok(directive) if !directive.is_empty() => EnvFilter::try_new(directive),
        _ => EnvFilter::try_new(&settings.level),
    }
    .map_err(|e| TelemetryError::Filter(e.to_string()))?;

    // The log level filters log lines only: spans are still created at info
    // level so trace context keeps flowing through Kafka when logs are quiet.
    let otel = tracing_opentelemetry::layer()
        .with_tracer(provider.tracer(service))
        .with_filter(tracing_subscriber::filter::LevelFilter::INFO);
    let output = match settings.format {
        LogFormat::Json => json_layer(service).with_filter(filter).boxed(),
        LogFormat::Pretty => tracing_subscriber::fmt::layer().with_target(true).with_filter(filter).boxed(),
    };
    // Ignore "already set": tests start several services in one process.
    let _ = tracing_subscriber::registry().with(otel).with(output).try_init();
    Ok(TelemetryGuard { provider })
}

fn tracer_provider(service: &'static str, settings: &TelemetrySettings) -> Result<SdkTracerProvider, TelemetryError> {
    let resource = Resource::builder().with_service_name(service).build();
    let mut builder = SdkTracerProvider::builder().with_resource(resource);
    if let Some(endpoint) = &settings.otlp_endpoint {
        use opentelemetry_otlp::{WithExportConfig, SpanExporter};
        let exporter = SpanExporter::builder()
            .with_http()
            .with_endpoint(format!("{}/v1/traces", endpoint.trim_end_matches('/')))
            .build()
            .map_err(|e| TelemetryError::Exporter(e.to_string()))?;
        builder = builder.with_batch_exporter(exporter);
    }
    Ok(builder.build())
}

fn json_layer<S>(service: &'static str) -> json_subscriber::JsonLayer<S, fn() -> std::io::Stdout>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    let mut layer = json_subscriber::JsonLayer::stdout();
    layer
        .with_timer("timestamp", tracing_subscriber::fmt::time::SystemTime)
        .with_level("level")
        .with_target("target")
        .with_flattened_event()
        .with_top_level_flattened_span_list()
        .with_opentelemetry_ids(true);
    layer.add_static_field("service", serde_json::Value::from(service));
    layer
}
