//! Prometheus metrics, named once here and emitted at call sites.

use std::sync::OnceLock;

use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry};

pub fn registry() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(|| {
        let registry = Registry::new();
        // process_resident_memory_bytes, CPU seconds, open fds: what operators
        // and the benchmarks read first.
        #[cfg(target_os = "linux")]
        let _ = registry.register(Box::new(prometheus::process_collector::ProcessCollector::for_self()));
        registry
    })
}

fn register<C: prometheus::core::Collector + Clone + 'static>(collector: C) -> C {
    // Registering twice (two runtimes in one test process) is harmless.
    let _ = registry().register(Box::new(collector.clone()));
    collector
}

/// Metrics of the consumer runtime, labelled by group (and topic/partition).
pub struct ConsumerMetrics {
    pub lag: IntGaugeVec,
    pub records: IntCounterVec,
    pub batch_size: HistogramVec,
    pub batch_seconds: HistogramVec,
    pub dead_letters: IntCounterVec,
    pub transient_retries: IntCounterVec,
    pub rebalances: IntCounterVec,
    pub stalled_seconds: prometheus::GaugeVec,
    pub gaps: IntCounterVec,
    pub redrives: IntCounterVec,
}

#[allow(clippy::expect_used)] // metric definitions are constants; a bad one is a programming error
pub fn consumer() -> &'static ConsumerMetrics {
    static METRICS: OnceLock<ConsumerMetrics> = OnceLock::new();
    METRICS.get_or_init(|| ConsumerMetrics {
        lag: register(
            IntGaugeVec::new(
                Opts::new("signalops_consumer_lag", "Records between the committed offset and the high watermark"),
                &["group", "topic", "partition"],
            )
            .expect("metric"),
        ),
        records: register(
            IntCounterVec::new(Opts::new("signalops_consumer_records_total", "Records whose effect was committed"), &["group", "topic"])
                .expect("metric"),
        ),
        batch_size: register(
            HistogramVec::new(
                HistogramOpts::new("signalops_consumer_batch_records", "Records per committed batch")
                    .buckets(vec![1.0, 10.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 5000.0]),
                &["group"],
            )
            .expect("metric"),
        ),
        batch_seconds: register(
            HistogramVec::new(HistogramOpts::new("signalops_consumer_batch_seconds", "Time to apply and commit one batch"), &["group"])
                .expect("metric"),
        ),
        dead_letters: register(
            IntCounterVec::new(
                Opts::new("signalops_dlq_records_total", "Records sent to the dead-letter topic, by group and error class"),
                &["group", "error_class"],
            )
            .expect("metric"),
        ),
        transient_retries: register(
            IntCounterVec::new(
                Opts::new("signalops_consumer_transient_retries_total", "Batches retried after a transient failure"),
                &["group"],
            )
            .expect("metric"),
        ),
        rebalances: register(
            IntCounterVec::new(
                Opts::new("signalops_consumer_rebalances_total", "Partition assignments and revocations"),
                &["group", "kind"],
            )
            .expect("metric"),
        ),
        stalled_seconds: register(
            prometheus::GaugeVec::new(
                Opts::new(
                    "signalops_consumer_partition_stalled_seconds",
                    "How long a partition has been retrying a batch after transient failures (0 when it applies)",
                ),
                &["group", "topic", "partition"],
            )
            .expect("metric"),
        ),
        gaps: register(
            IntCounterVec::new(
                Opts::new("signalops_consumer_gaps_refused_total", "Batches refused because they started past the stored offset"),
                &["group"],
            )
            .expect("metric"),
        ),
        redrives: register(
            IntCounterVec::new(
                Opts::new("signalops_consumer_redriven_records_total", "Redriven dead letters, by outcome (applied, duplicate)"),
                &["group", "outcome"],
            )
            .expect("metric"),
        ),
    })
}

/// HTTP RED metrics, labelled by route pattern (never the raw path).
pub struct HttpMetrics {
    pub requests: IntCounterVec,
    pub duration: HistogramVec,
}

#[allow(clippy::expect_used)] // metric definitions are constants
pub fn http() -> &'static HttpMetrics {
    static METRICS: OnceLock<HttpMetrics> = OnceLock::new();
    METRICS.get_or_init(|| HttpMetrics {
        requests: register(
            IntCounterVec::new(
                Opts::new("signalops_http_requests_total", "HTTP requests by route and status"),
                &["method", "route", "status"],
            )
            .expect("metric"),
        ),
        duration: register(
            HistogramVec::new(
                HistogramOpts::new("signalops_http_request_duration_seconds", "HTTP request latency")
                    .buckets(vec![0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5]),
                &["method", "route"],
            )
            .expect("metric"),
        ),
    })
}

/// The gateway's live tail (`GET /v1/events/stream`).
pub struct TailMetrics {
    /// Streams open now; each holds a Kafka consumer and a blocking thread.
    pub open_streams: IntGauge,
}

#[allow(clippy::expect_used)] // metric definitions are constants
pub fn tail() -> &'static TailMetrics {
    static METRICS: OnceLock<TailMetrics> = OnceLock::new();
    METRICS.get_or_init(|| TailMetrics {
        open_streams: register(
            IntGauge::new("signalops_tail_open_streams", "Live-tail streams (GET /v1/events/stream) open on this instance")
                .expect("metric"),
        ),
    })
}

/// The text exposition of every registered metric.
pub fn render() -> String {
    use prometheus::Encoder;
    let mut buffer = Vec::new();
    let encoder = prometheus::TextEncoder::new();
    if encoder.encode(&registry().gather(), &mut buffer).is_err() {
        return String::new();
    }
    String::from_utf8(buffer).unwrap_or_default()
}
