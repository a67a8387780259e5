//! The notifier's metrics, named once here, on the service's `/metrics`.
//! A batch retried after a transient failure counts again (its effect still
//! commits once).

use std::sync::OnceLock;

use prometheus::{IntCounterVec, Opts};

pub struct NotifierMetrics {
    /// Notification requests consumed, by outcome: `recorded` (new) or
    /// `repeated` (a replay or redelivery of one already recorded).
    pub requests: IntCounterVec,
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
        // Registering twice (two services in one test process) is harmless.
        let _ = signalops_platform::metrics::registry().register(Box::new(requests.clone()));
        NotifierMetrics { requests }
    })
}
