//! The rules group's metrics, named once here, on the service's `/metrics`.
//! Counters move when a batch is evaluated; a batch that is retried after
//! a transient failure counts again (its effect still commits once).

use std::sync::OnceLock;

use prometheus::{IntCounter, IntCounterVec, IntGauge, Opts};

pub struct RulesMetrics {
    /// Firings by outcome: `fired`, `suppressed`.
    pub firings: IntCounterVec,
    /// Rule evaluations (an event and a rule indexed for its type).
    pub evaluations: IntCounter,
    /// Active rules loaded, over every tenant.
    pub loaded: IntGauge,
    pub compile_failures: IntCounter,
    /// Records of new firings appended to Kafka, by kind: `event`,
    /// `notification` (a retried batch appends and counts them again).
    pub appended: IntCounterVec,
}

fn register<C: prometheus::core::Collector + Clone + 'static>(collector: C) -> C {
    // Registering twice (two services in one test process) is harmless.
    let _ = signalops_platform::metrics::registry().register(Box::new(collector.clone()));
    collector
}

#[allow(clippy::expect_used)] // metric definitions are constants; a bad one is a programming error
pub fn rules() -> &'static RulesMetrics {
    static METRICS: OnceLock<RulesMetrics> = OnceLock::new();
    METRICS.get_or_init(|| RulesMetrics {
        firings: register(
            IntCounterVec::new(
                Opts::new("signalops_rules_firings_total", "Rule firings recorded, by outcome (fired, suppressed)"),
                &["outcome"],
            )
            .expect("metric"),
        ),
        evaluations: register(
            IntCounter::new("signalops_rules_evaluations_total", "Rules evaluated on an event indexed for its type").expect("metric"),
        ),
        loaded: register(IntGauge::new("signalops_rules_loaded", "Active rules loaded, over every tenant").expect("metric")),
        compile_failures: register(
            IntCounter::new("signalops_rules_compile_failures_total", "Stored rule versions that did not compile and were skipped")
                .expect("metric"),
        ),
        appended: register(
            IntCounterVec::new(
                Opts::new("signalops_rules_appended_total", "Records of new firings appended to Kafka, by kind (event, notification)"),
                &["kind"],
            )
            .expect("metric"),
        ),
    })
}
