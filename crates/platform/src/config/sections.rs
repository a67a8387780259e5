//! Configuration sections shared by the services. Each service's own config
//! struct composes the sections it needs.

use serde::Deserialize;

use super::Secret;
use super::validate::{FieldProblem, Validate, nested};

/// The health/metrics (and for the gateway, API) listener.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpSettings {
    pub host: String,
    pub port: u16,
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self { host: "127.0.0.1".into(), port: 0 }
    }
}

impl HttpSettings {
    pub fn with_port(port: u16) -> Self {
        Self { port, ..Self::default() }
    }
}

impl Validate for HttpSettings {
    fn validate(&self) -> Vec<FieldProblem> {
        let mut problems = Vec::new();
        if self.host.parse::<std::net::IpAddr>().is_err() && self.host != "localhost" {
            problems.push(FieldProblem::new("host", format!("{:?} is not an IP address", self.host)));
        }
        problems
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TopicNames {
    pub events: String,
    pub notifications: String,
    pub deliveries: String,
    pub dlq: String,
    /// Dead letters sent back to one group (`signalctl dlq redrive`).
    pub redrive: String,
}

impl Default for TopicNames {
    fn default() -> Self {
        Self {
            events: "signalops.events.v1".into(),
            notifications: "signalops.notifications.v1".into(),
            deliveries: "signalops.deliveries.v1".into(),
            dlq: "signalops.dlq.v1".into(),
            redrive: "signalops.redrive.v1".into(),
        }
    }
}

impl TopicNames {
    pub fn all(&self) -> [&str; 5] {
        [&self.events, &self.notifications, &self.deliveries, &self.dlq, &self.redrive]
    }
}

/// A legal Kafka topic name under our convention: dots and hyphens only.
pub fn topic_name_problem(name: &str) -> Option<String> {
    if name.is_empty() || name.len() > 249 {
        return Some("must be 1-249 characters".into());
    }
    if !name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-') {
        return Some(format!("{name:?} may only contain a-z, 0-9, '.' and '-'"));
    }
    None
}

impl Validate for TopicNames {
    fn validate(&self) -> Vec<FieldProblem> {
        [
            ("events", &self.events),
            ("notifications", &self.notifications),
            ("deliveries", &self.deliveries),
            ("dlq", &self.dlq),
            ("redrive", &self.redrive),
        ]
        .into_iter()
        .filter_map(|(field, name)| topic_name_problem(name).map(|m| FieldProblem::new(field, m)))
        .collect()
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KafkaSettings {
    /// Comma-separated `host:port` list.
    pub brokers: String,
    pub topics: TopicNames,
    /// Partitions for `signalctl topics ensure`; the upper bound of a group's scale.
    pub partitions: i32,
    pub replication_factor: i32,
    pub retention_ms: i64,
    /// Dead letters wait for a person, so they are kept longer (30 days).
    pub dlq_retention_ms: i64,
    /// `lz4`, `zstd`, `snappy`, `gzip` or `none`.
    pub compression: String,
    pub linger_ms: u32,
    /// How long a produce may wait for the broker's acknowledgement.
    pub delivery_timeout_ms: u32,
}

impl Default for KafkaSettings {
    fn default() -> Self {
        Self {
            brokers: "127.0.0.1:19092".into(),
            topics: TopicNames::default(),
            partitions: 12,
            replication_factor: 1,
            retention_ms: 7 * 24 * 3600 * 1000,
            dlq_retention_ms: 30 * 24 * 3600 * 1000,
            compression: "lz4".into(),
            linger_ms: 5,
            delivery_timeout_ms: 10_000,
        }
    }
}

impl Validate for KafkaSettings {
    fn validate(&self) -> Vec<FieldProblem> {
        let mut problems = nested("topics", self.topics.validate());
        let brokers_ok = !self.brokers.trim().is_empty()
            && self.brokers.split(',').all(|b| b.trim().rsplit_once(':').is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok()));
        if !brokers_ok {
            problems.push(FieldProblem::new("brokers", format!("{:?} is not a comma-separated host:port list", self.brokers)));
        }
        if !(1..=10_000).contains(&self.partitions) {
            problems.push(FieldProblem::new("partitions", "must be between 1 and 10000"));
        }
        if !(1..=32).contains(&self.replication_factor) {
            problems.push(FieldProblem::new("replication_factor", "must be between 1 and 32"));
        }
        for (field, value) in [("retention_ms", self.retention_ms), ("dlq_retention_ms", self.dlq_retention_ms)] {
            if value != -1 && value < 60_000 {
                problems.push(FieldProblem::new(field, "must be -1 (forever) or at least 60000"));
            }
        }
        if !["lz4", "zstd", "snappy", "gzip", "none"].contains(&self.compression.as_str()) {
            problems.push(FieldProblem::new("compression", "must be one of lz4, zstd, snappy, gzip, none"));
        }
        if self.delivery_timeout_ms < 1_000 {
            problems.push(FieldProblem::new("delivery_timeout_ms", "must be at least 1000"));
        }
        problems
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseSettings {
    /// `postgres://user:password@host:port/db` of the application role.
    pub url: Secret,
    pub pool_max_size: usize,
    pub connect_timeout_ms: u64,
}

impl Default for DatabaseSettings {
    fn default() -> Self {
        Self { url: Secret::default(), pool_max_size: 16, connect_timeout_ms: 5_000 }
    }
}

impl Validate for DatabaseSettings {
    fn validate(&self) -> Vec<FieldProblem> {
        let mut problems = Vec::new();
        if self.url.is_empty() {
            problems.push(FieldProblem::new("url", "is required (postgres://user:password@host:port/db)"));
        } else if self.url.expose().parse::<tokio_postgres::Config>().is_err() {
            // Never echo the URL: it holds a password.
            problems.push(FieldProblem::new("url", "is not a valid postgres:// connection URL"));
        }
        if !(1..=1_000).contains(&self.pool_max_size) {
            problems.push(FieldProblem::new("pool_max_size", "must be between 1 and 1000"));
        }
        problems
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Json,
    Pretty,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TelemetrySettings {
    /// An `EnvFilter` directive, e.g. `info,rdkafka=warn`. `RUST_LOG` wins when set.
    pub level: String,
    pub format: LogFormat,
    /// OTLP/HTTP endpoint; tracing export is off when unset.
    pub otlp_endpoint: Option<String>,
}

impl Default for TelemetrySettings {
    fn default() -> Self {
        Self { level: "info".into(), format: LogFormat::Json, otlp_endpoint: None }
    }
}

impl Validate for TelemetrySettings {
    fn validate(&self) -> Vec<FieldProblem> {
        let mut problems = Vec::new();
        if tracing_subscriber::EnvFilter::try_new(&self.level).is_err() {
            problems.push(FieldProblem::new("level", format!("{:?} is not a log filter such as \"info\"", self.level)));
        }
        if let Some(endpoint) = &self.otlp_endpoint
            && !(endpoint.starts_with("http://") || endpoint.starts_with("https://"))
        {
            problems.push(FieldProblem::new("otlp_endpoint", "must be an http:// or https:// URL"));
        }
        problems
    }
}

/// How a consumer group reads, batches and shuts down.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConsumerSettings {
    pub group_id: String,
    /// Static membership (`group.instance.id`): a restart within the session
    /// timeout keeps the assignment instead of triggering a rebalance.
    pub instance_id: Option<String>,
    pub batch_max_records: usize,
    pub batch_max_wait_ms: u64,
    /// Records librdkafka fetches ahead, in KiB per assigned partition
    /// (`queued.max.messages.kbytes`): the bulk of a catching-up consumer's
    /// memory, since every assigned partition keeps this much queued.
    pub prefetch_kbytes: u32,
    /// How long librdkafka postpones a partition's next fetch when the
    /// prefetch queue is full (`fetch.queue.backoff.ms`). Its default of a
    /// second starves a small queue: a partition found full waits a second
    /// even though the queue drains in milliseconds (ADR 0017).
    pub fetch_backoff_ms: u32,
    /// Partitions whose batches are applied at once while the member keeps
    /// reading; each holds a pooled Postgres connection meanwhile.
    pub apply_concurrency: usize,
    pub session_timeout_ms: u64,
    /// Must stay below the session timeout so a draining member commits
    /// before the group gives its partitions away.
    pub drain_timeout_ms: u64,
    pub retry_initial_backoff_ms: u64,
    pub retry_max_backoff_ms: u64,
    /// The longest one attempt at a batch may take (pool wait, row-lock
    /// wait, statements) before it counts as a transient failure.
    pub attempt_timeout_ms: u64,
    /// A partition retrying for longer than this makes `/readyz` fail,
    /// naming it, until it applies a batch again.
    pub stall_alert_secs: u64,
}

impl Default for ConsumerSettings {
    fn default() -> Self {
        Self {
            group_id: String::new(),
            instance_id: None,
            batch_max_records: 500,
            batch_max_wait_ms: 50,
            prefetch_kbytes: 1024,
            fetch_backoff_ms: 10,
            apply_concurrency: 3,
            session_timeout_ms: 45_000,
            drain_timeout_ms: 20_000,
            retry_initial_backoff_ms: 100,
            retry_max_backoff_ms: 10_000,
            attempt_timeout_ms: 30_000,
            stall_alert_secs: 60,
        }
    }
}

impl ConsumerSettings {
    pub fn for_group(group_id: impl Into<String>) -> Self {
        Self { group_id: group_id.into(), ..Self::default() }
    }
}

impl Validate for ConsumerSettings {
    fn validate(&self) -> Vec<FieldProblem> {
        let mut problems = Vec::new();
        if self.group_id.trim().is_empty() {
            problems.push(FieldProblem::new("group_id", "is required"));
        }
        if self.instance_id.as_deref().is_some_and(|id| id.trim().is_empty()) {
            problems.push(FieldProblem::new("instance_id", "must not be empty when set"));
        }
        if !(1..=100_000).contains(&self.batch_max_records) {
            problems.push(FieldProblem::new("batch_max_records", "must be between 1 and 100000"));
        }
        if !(64..=2_097_151).contains(&self.prefetch_kbytes) {
            problems.push(FieldProblem::new("prefetch_kbytes", "must be between 64 and 2097151"));
        }
        if !(1..=10_000).contains(&self.fetch_backoff_ms) {
            problems.push(FieldProblem::new("fetch_backoff_ms", "must be between 1 and 10000"));
        }
        if !(1..=64).contains(&self.apply_concurrency) {
            problems.push(FieldProblem::new("apply_concurrency", "must be between 1 and 64"));
        }
        if !(6_000..=300_000).contains(&self.session_timeout_ms) {
            problems.push(FieldProblem::new("session_timeout_ms", "must be between 6000 and 300000"));
        }
        if self.drain_timeout_ms >= self.session_timeout_ms {
            problems.push(FieldProblem::new("drain_timeout_ms", "must be below session_timeout_ms"));
        }
        if self.retry_initial_backoff_ms == 0 || self.retry_initial_backoff_ms > self.retry_max_backoff_ms {
            problems.push(FieldProblem::new("retry_initial_backoff_ms", "must be > 0 and <= retry_max_backoff_ms"));
        }
        if !(1_000..=600_000).contains(&self.attempt_timeout_ms) {
            problems.push(FieldProblem::new("attempt_timeout_ms", "must be between 1000 and 600000"));
        }
        if !(1..=86_400).contains(&self.stall_alert_secs) {
            problems.push(FieldProblem::new("stall_alert_secs", "must be between 1 and 86400"));
        }
        problems
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ApiKeySettings {
    /// Server-side secret mixed into every stored key digest.
    pub pepper: Secret,
    /// The `<env>` part of new keys: `live`, `test`, `dev`, …
    pub environment: String,
    /// How long a verified key is trusted from memory; revocation takes
    /// effect across gateway instances within this time.
    pub cache_ttl_secs: u64,
}

impl Default for ApiKeySettings {
    fn default() -> Self {
        Self { pepper: Secret::default(), environment: "live".into(), cache_ttl_secs: 30 }
    }
}

impl Validate for ApiKeySettings {
    fn validate(&self) -> Vec<FieldProblem> {
        let mut problems = Vec::new();
        if self.pepper.expose().len() < 32 {
            problems.push(FieldProblem::new("pepper", "must be at least 32 characters (generate with `openssl rand -hex 32`)"));
        }
        if !(2..=8).contains(&self.environment.len()) || !self.environment.bytes().all(|b| b.is_ascii_lowercase()) {
            problems.push(FieldProblem::new("environment", "must be 2-8 lowercase letters"));
        }
        if !(1..=3_600).contains(&self.cache_ttl_secs) {
            problems.push(FieldProblem::new("cache_ttl_secs", "must be between 1 and 3600"));
        }
        problems
    }
}
