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
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::{BaggagePropagator, TraceContextPropagator};
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use crate::config::{LogFormat, TelemetrySettings};

/// Flushes pending spans when dropped; keep it alive for the life of `main`.
/// It flushes rather than shuts the provider down: tests start several
/// services in one process, and one of them stopping must not switch
/// tracing off for the others. One provider serves the whole process.
pub struct TelemetryGuard {
    provider: SdkTracerProvider,
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        if let Err(error) = self.provider.force_flush() {
            eprintln!("telemetry: flushing spans failed: {error}");
        }
    }
}

static PROVIDER: std::sync::OnceLock<SdkTracerProvider> = std::sync::OnceLock::new();

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
    crate::crypto::install_default_provider();
    if let Some(provider) = PROVIDER.get() {
        return Ok(TelemetryGuard { provider: provider.clone() });
    }
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
    // Busy/idle timing, thread and source-location attributes, and making the
    // span the thread's current OTel context on every enter cost clock reads
    // and allocations on every poll of every instrumented future. Nothing
    // here reads OTel's thread-local context (propagation goes through the
    // tracing span), and span durations suffice.
    let otel = tracing_opentelemetry::layer()
        .with_tracer(provider.tracer(service))
        .with_tracked_inactivity(false)
        .with_threads(false)
        .with_location(false)
        .with_context_activation(false)
        .with_filter(tracing_subscriber::filter::LevelFilter::INFO);
    let output = match settings.format {
        LogFormat::Json => json_layer(service, std::io::stdout as fn() -> std::io::Stdout).with_filter(filter).boxed(),
        LogFormat::Pretty => tracing_subscriber::fmt::layer().with_target(true).with_filter(filter).boxed(),
    };
    // Ignore "already set": another subscriber may have been installed first.
    let _ = tracing_subscriber::registry().with(otel).with(output).try_init();
    let _ = PROVIDER.set(provider.clone());
    Ok(TelemetryGuard { provider })
}

fn tracer_provider(service: &'static str, settings: &TelemetrySettings) -> Result<SdkTracerProvider, TelemetryError> {
    let resource = Resource::builder().with_service_name(service).build();
    let mut builder = SdkTracerProvider::builder().with_resource(resource);
    if settings.otlp_endpoint.is_none() {
        // Nothing would receive a recorded span: new traces start unsampled,
        // which still gives them ids for logs and Kafka headers but skips
        // building span data on every request. A caller's sampled trace
        // stays sampled for the services downstream.
        builder = builder.with_sampler(Sampler::ParentBased(Box::new(Sampler::AlwaysOff)));
    }
    if let Some(endpoint) = &settings.otlp_endpoint {
        use opentelemetry_otlp::{SpanExporter, WithExportConfig};
        let exporter = SpanExporter::builder()
            .with_http()
            .with_endpoint(format!("{}/v1/traces", endpoint.trim_end_matches('/')))
            .build()
            .map_err(|e| TelemetryError::Exporter(e.to_string()))?;
        builder = builder.with_batch_exporter(exporter);
    }
    Ok(builder.build())
}

fn json_layer<S, W>(service: &'static str, writer: W) -> json_subscriber::JsonLayer<S, W>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + 'static,
{
    let mut layer = json_subscriber::JsonLayer::new(writer);
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

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    use super::*;

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().map_err(|_| std::io::Error::other("poisoned"))?.extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'w> tracing_subscriber::fmt::MakeWriter<'w> for Captured {
        type Writer = Captured;

        fn make_writer(&'w self) -> Self::Writer {
            self.clone()
        }
    }

    #[test]
    fn json_lines_carry_trace_id_span_id_and_the_tenant_of_the_enclosing_span() {
        let provider = SdkTracerProvider::builder().build();
        let captured = Captured::default();
        let subscriber = tracing_subscriber::registry()
            .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")))
            .with(json_layer("gateway", captured.clone()));
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!("request", tenant_id = "7f1c3b2a-5d4e-4f60-9a8b-0c1d2e3f4a5b");
            let _entered = span.enter();
            tracing::info!(records = 3, "batch applied");
        });
        let bytes = captured.0.lock().expect("lock").clone();
        let line: serde_json::Value = serde_json::from_slice(bytes.split(|b| *b == b'\n').next().expect("a line")).expect("json");
        assert_eq!(line["message"], "batch applied");
        assert_eq!(line["level"], "INFO");
        assert_eq!(line["service"], "gateway");
        assert_eq!(line["records"], 3);
        assert_eq!(line["tenant_id"], "7f1c3b2a-5d4e-4f60-9a8b-0c1d2e3f4a5b");
        assert_eq!(line["openTelemetry"]["traceId"].as_str().map(str::len), Some(32), "{line}");
        assert_eq!(line["openTelemetry"]["spanId"].as_str().map(str::len), Some(16), "{line}");
    }
}
