//! The notifier's metrics, named once here, on the service's `/metrics`.
//! A batch retried after a transient failure counts again (its effect still
//! commits once).

use std::sync::OnceLock;

use prometheus::{IntCounterVec, Opts};

pub struct NotifierMetrics {
    /// Notification requests consumed, by outcome: `recorded` (new) or
    /// `repeated` (a replay or redelivery of one already recorded).
    pub requests: IntCounterVec,
    /// Delivery attempts, by outcome (`delivered`, `retry`, `failed`,
    /// `gone`, `refused`, `skipped`).
    pub attempts: IntCounterVec,
}

#[allow(clippy::expect_used)] // metric definitions are constants; a bad one is a programming error
pub fn notifier() -> &'static NotifierMetrics {
    static METRICS: OnceLock<NotifierMetrics> = OnceLock::new();
    METRICS.get_or_init(|| {
        let requests = IntCounterVec::new(
            Opts::new("signalops_notifier_requests_total", "Notification requests consumed, by outcome (recorded, repeated)"),
            &["outcome"],
        )
        .expect("metric");
        let attempts = IntCounterVec::new(
            Opts::new(
                "signalops_notifier_attempts_total",
                "Delivery attempts, by outcome (delivered, retry, failed, gone, refused, skipped)",
            ),
            &["outcome"],
        )
        .expect("metric");
        // Registering twice (two services in one test process) is harmless.
        let registry = signalops_platform::metrics::registry();
        let _ = registry.register(Box::new(requests.clone()));
        let _ = registry.register(Box::new(attempts.clone()));
        NotifierMetrics { requests, attempts }
    })
}
