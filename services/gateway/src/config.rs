use serde::Deserialize;
use signalops_platform::config::{
    self, ApiKeySettings, DatabaseSettings, FieldProblem, HttpSettings, KafkaSettings, Secret, TelemetrySettings, Validate, dev_defaults,
    nested,
};

pub const DEFAULT_PORT: u16 = 8080;

// Unknown sections belong to other services sharing the environment.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct GatewayConfig {
    pub http: HttpSettings,
    pub kafka: KafkaSettings,
    pub database: DatabaseSettings,
    pub telemetry: TelemetrySettings,
    pub api: ApiSettings,
    pub auth: AuthSettings,
    pub api_keys: ApiKeySettings,
    pub ingest: IngestSettings,
    pub rules_api: RulesApiSettings,
    pub channels: signalops_notify_store::settings::ChannelSettings,
}

impl GatewayConfig {
    pub fn load() -> Result<Self, config::ConfigError> {
        config::load_with_defaults("gateway", &[("http.port", u64::from(DEFAULT_PORT).into())])
    }
}

impl Validate for GatewayConfig {
    fn validate(&self) -> Vec<FieldProblem> {
        let mut problems = nested("http", self.http.validate());
        problems.extend(nested("kafka", self.kafka.validate()));
        problems.extend(nested("database", self.database.validate()));
        problems.extend(nested("telemetry", self.telemetry.validate()));
        problems.extend(nested("api", self.api.validate()));
        problems.extend(nested("auth", self.auth.validate()));
        problems.extend(nested("api_keys", self.api_keys.validate()));
        problems.extend(nested("ingest", self.ingest.validate()));
        problems.extend(nested("rules_api", self.rules_api.validate()));
        problems.extend(nested("channels", self.channels.validate()));
        if !self.api_keys.is_dev() && dev_defaults::is_dev_secret(self.channels.secret_keys.expose()) {
            problems.push(FieldProblem::new(
                "channels.secret_keys",
                dev_defaults::refusal(&self.api_keys.environment, "k1:$(openssl rand -base64 32)"),
            ));
        }
        // The signing keys are checked here, not in AuthSettings: which
        // deployment this is lives in api_keys.environment (ADR 0021).
        if !self.api_keys.is_dev() && self.auth.parsed_keys().iter().any(|(_, secret)| dev_defaults::is_dev_secret(secret)) {
            let message = dev_defaults::refusal(&self.api_keys.environment, "kid:secret with a secret from `openssl rand -hex 32`");
            problems.push(FieldProblem::new("auth.jwt_keys", message));
        }
        problems
    }
}

/// Limits and behaviour of `POST /v1/events` and of the live tail
/// (`GET /v1/events/stream`).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IngestSettings {
    pub max_batch_events: usize,
    pub max_batch_bytes: usize,
    /// How long a client-supplied event id is remembered for deduplication.
    pub idempotency_window_days: u32,
    /// Per-API-key token bucket: sustained events per second and burst.
    pub rate_limit_per_second: u32,
    pub rate_limit_burst: u32,
    /// The longest one NDJSON line waits for its rate-limit token before it
    /// is refused with 429 (streams are paced, ADR 0020).
    pub stream_max_wait_ms: u64,
    /// Live-tail streams open at once per tenant, and on this instance in
    /// all. Each holds a Kafka consumer and a blocking thread.
    pub tail_max_streams_per_tenant: usize,
    pub tail_max_streams: usize,
}

/// Every tail stream occupies one of the runtime's blocking threads (tokio
/// has 512 per runtime); the rest are left for password hashing and Kafka
/// set-up, which would otherwise queue behind idle streams.
pub const TAIL_MAX_STREAMS_CEILING: usize = 448;

impl Default for IngestSettings {
    fn default() -> Self {
        Self {
            max_batch_events: 1_000,
            max_batch_bytes: 5 * 1024 * 1024,
            idempotency_window_days: 7,
            rate_limit_per_second: 1_000,
            rate_limit_burst: 2_000,
            stream_max_wait_ms: 1_000,
            tail_max_streams_per_tenant: 8,
            tail_max_streams: 256,
        }
    }
}

impl Validate for IngestSettings {
    fn validate(&self) -> Vec<FieldProblem> {
        let mut problems = Vec::new();
        if !(1..=10_000).contains(&self.max_batch_events) {
            problems.push(FieldProblem::new("max_batch_events", "must be between 1 and 10000"));
        }
        if !(64 * 1024..=64 * 1024 * 1024).contains(&self.max_batch_bytes) {
            problems.push(FieldProblem::new("max_batch_bytes", "must be between 65536 and 67108864"));
        }
        if !(1..=90).contains(&self.idempotency_window_days) {
            problems.push(FieldProblem::new("idempotency_window_days", "must be between 1 and 90"));
        }
        if self.rate_limit_per_second == 0 || self.rate_limit_burst == 0 {
            problems.push(FieldProblem::new("rate_limit_per_second", "rate limits must be at least 1"));
        }
        if self.stream_max_wait_ms > 60_000 {
            problems.push(FieldProblem::new("stream_max_wait_ms", "must be at most 60000"));
        }
        if self.tail_max_streams_per_tenant == 0 {
            problems.push(FieldProblem::new("tail_max_streams_per_tenant", "must be at least 1"));
        }
        if !(1..=TAIL_MAX_STREAMS_CEILING).contains(&self.tail_max_streams) {
            problems.push(FieldProblem::new("tail_max_streams", format!("must be between 1 and {TAIL_MAX_STREAMS_CEILING}")));
        }
        problems
    }
}

/// Bounds of the rule dry run (`POST /v1/rules/test`) and backtest
/// (`POST /v1/rules/{id}/backtest`): both run in the request, so they are
/// bounded in work and time.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RulesApiSettings {
    /// Most sample events one dry run takes.
    pub test_max_events: usize,
    /// Most stored events one backtest evaluates before it stops and says so.
    pub backtest_max_events: u64,
    /// How long one backtest may run before it stops and says so.
    pub backtest_time_budget_ms: u64,
    /// Events read from Postgres per round trip.
    pub backtest_page_size: i32,
    /// Upper bound of a backtest's `limit` (firings listed with their traces).
    pub backtest_max_firings: u32,
}

impl Default for RulesApiSettings {
    fn default() -> Self {
        Self {
            test_max_events: 100,
            backtest_max_events: 100_000,
            backtest_time_budget_ms: 10_000,
            backtest_page_size: 500,
            backtest_max_firings: 1_000,
        }
    }
}

impl Validate for RulesApiSettings {
    fn validate(&self) -> Vec<FieldProblem> {
        let mut problems = Vec::new();
        if !(1..=10_000).contains(&self.test_max_events) {
            problems.push(FieldProblem::new("test_max_events", "must be between 1 and 10000"));
        }
        if !(1..=10_000_000).contains(&self.backtest_max_events) {
            problems.push(FieldProblem::new("backtest_max_events", "must be between 1 and 10000000"));
        }
        if !(100..=300_000).contains(&self.backtest_time_budget_ms) {
            problems.push(FieldProblem::new("backtest_time_budget_ms", "must be between 100 and 300000"));
        }
        if !(1..=10_000).contains(&self.backtest_page_size) {
            problems.push(FieldProblem::new("backtest_page_size", "must be between 1 and 10000"));
        }
        if !(1..=10_000).contains(&self.backtest_max_firings) {
            problems.push(FieldProblem::new("backtest_max_firings", "must be between 1 and 10000"));
        }
        problems
    }
}

/// HTTP API behaviour.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ApiSettings {
    /// Comma-separated origins allowed by CORS (`*` for any); empty = no CORS.
    pub cors_origins: String,
    /// Body limit of admin endpoints, in bytes.
    pub json_body_limit: usize,
    /// Upper bound of `limit` on every list.
    pub max_page_size: u32,
}

impl Default for ApiSettings {
    fn default() -> Self {
        Self { cors_origins: String::new(), json_body_limit: 64 * 1024, max_page_size: 200 }
    }
}

impl ApiSettings {
    pub fn cors_origin_list(&self) -> Vec<String> {
        self.cors_origins.split(',').map(str::trim).filter(|o| !o.is_empty()).map(str::to_owned).collect()
    }
}

impl Validate for ApiSettings {
    fn validate(&self) -> Vec<FieldProblem> {
        let mut problems = Vec::new();
        for origin in self.cors_origin_list() {
            if origin != "*" && !(origin.starts_with("http://") || origin.starts_with("https://")) {
                problems.push(FieldProblem::new("cors_origins", format!("{origin:?} is not an http(s) origin or *")));
            }
        }
        if !(1_024..=16 * 1024 * 1024).contains(&self.json_body_limit) {
            problems.push(FieldProblem::new("json_body_limit", "must be between 1024 and 16777216"));
        }
        if !(1..=1_000).contains(&self.max_page_size) {
            problems.push(FieldProblem::new("max_page_size", "must be between 1 and 1000"));
        }
        problems
    }
}

/// People's sign-in: passwords, JWT access tokens, refresh tokens.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthSettings {
    /// Signing keys as `kid:secret,kid2:secret2` (HS256, secrets ≥ 32 chars).
    /// Tokens name their key id, so keys can rotate: add the new key, make it
    /// active, remove the old one after the access-token lifetime.
    pub jwt_keys: Secret,
    /// The key id new tokens are signed with.
    pub jwt_active_kid: String,
    pub jwt_issuer: String,
    pub jwt_audience: String,
    pub access_token_ttl_secs: u64,
    pub refresh_token_ttl_days: u32,
    pub bcrypt_cost: u32,
    pub password_min_length: usize,
    /// Failed-login budget per email and per client IP (per minute).
    pub login_attempts_per_minute_per_email: u32,
    pub login_attempts_per_minute_per_ip: u32,
    pub invitation_ttl_days: u32,
}

impl Default for AuthSettings {
    fn default() -> Self {
        Self {
            jwt_keys: Secret::default(),
            jwt_active_kid: String::new(),
            jwt_issuer: "signalops".into(),
            jwt_audience: "signalops-api".into(),
            access_token_ttl_secs: 600,
            refresh_token_ttl_days: 30,
            bcrypt_cost: 12,
            password_min_length: 10,
            login_attempts_per_minute_per_email: 5,
            login_attempts_per_minute_per_ip: 30,
            invitation_ttl_days: 7,
        }
    }
}

impl AuthSettings {
    /// `(kid, secret)` pairs; invalid entries are reported by `validate`.
    pub fn parsed_keys(&self) -> Vec<(String, String)> {
        self.jwt_keys
            .expose()
            .split(',')
            .filter_map(|entry| entry.trim().split_once(':'))
            .map(|(kid, secret)| (kid.trim().to_owned(), secret.trim().to_owned()))
            .collect()
    }
}

impl Validate for AuthSettings {
    fn validate(&self) -> Vec<FieldProblem> {
        let mut problems = Vec::new();
        let keys = self.parsed_keys();
        let entries = self.jwt_keys.expose().split(',').filter(|e| !e.trim().is_empty()).count();
        if keys.is_empty() || keys.len() != entries {
            problems.push(FieldProblem::new("jwt_keys", "must be a list of kid:secret pairs (e.g. k1:<64 hex chars>)"));
        } else if keys.iter().any(|(kid, secret)| kid.is_empty() || secret.len() < 32) {
            problems.push(FieldProblem::new("jwt_keys", "every key needs a non-empty kid and a secret of at least 32 characters"));
        }
        let active = if self.jwt_active_kid.is_empty() { keys.first().map(|(k, _)| k.clone()) } else { Some(self.jwt_active_kid.clone()) };
        if !keys.is_empty() && !active.is_some_and(|a| keys.iter().any(|(k, _)| *k == a)) {
            problems.push(FieldProblem::new("jwt_active_kid", "must name one of the kids in jwt_keys"));
        }
        if !(60..=900).contains(&self.access_token_ttl_secs) {
            problems.push(FieldProblem::new("access_token_ttl_secs", "must be between 60 and 900 (15 minutes)"));
        }
        if !(1..=365).contains(&self.refresh_token_ttl_days) {
            problems.push(FieldProblem::new("refresh_token_ttl_days", "must be between 1 and 365"));
        }
        if !(4..=31).contains(&self.bcrypt_cost) {
            problems.push(FieldProblem::new("bcrypt_cost", "must be between 4 and 31"));
        }
        if !(8..=128).contains(&self.password_min_length) {
            problems.push(FieldProblem::new("password_min_length", "must be between 8 and 128"));
        }
        for (field, value) in [
            ("login_attempts_per_minute_per_email", self.login_attempts_per_minute_per_email),
            ("login_attempts_per_minute_per_ip", self.login_attempts_per_minute_per_ip),
        ] {
            if value == 0 {
                problems.push(FieldProblem::new(field, "must be at least 1"));
            }
        }
        if !(1..=90).contains(&self.invitation_ttl_days) {
            problems.push(FieldProblem::new("invitation_ttl_days", "must be between 1 and 90"));
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(problems: &[FieldProblem]) -> Vec<&str> {
        problems.iter().map(|p| p.field.as_str()).collect()
    }

    /// A gateway configured as docker-compose.kafka.yml ships it.
    fn with_compose_secrets(environment: &str) -> GatewayConfig {
        GatewayConfig {
            database: DatabaseSettings { url: Secret::new("postgres://app:pw@127.0.0.1:5432/db"), ..DatabaseSettings::default() },
            auth: AuthSettings { jwt_keys: Secret::new(format!("dev1:{}", dev_defaults::DEV_JWT_SECRET)), ..AuthSettings::default() },
            api_keys: ApiKeySettings {
                pepper: Secret::new(dev_defaults::DEV_PEPPER),
                environment: environment.into(),
                ..ApiKeySettings::default()
            },
            channels: signalops_notify_store::settings::ChannelSettings {
                secret_keys: Secret::new(format!("dev1:{}", dev_defaults::DEV_CHANNEL_KEY)),
                ..Default::default()
            },
            ..GatewayConfig::default()
        }
    }

    #[test]
    fn the_compose_development_secrets_are_refused_outside_dev() {
        assert!(with_compose_secrets("dev").validate().is_empty(), "{:?}", with_compose_secrets("dev").validate());
        let problems = with_compose_secrets("live").validate();
        assert_eq!(fields(&problems), ["api_keys.pepper", "channels.secret_keys", "auth.jwt_keys"]);
        for problem in &problems {
            let text = problem.to_string();
            assert!(text.contains("development default") && text.contains("\"live\""), "{text}");
            assert!(
                !text.contains(dev_defaults::DEV_JWT_SECRET)
                    && !text.contains(dev_defaults::DEV_PEPPER)
                    && !text.contains(dev_defaults::DEV_CHANNEL_KEY),
                "never echo the secret: {text}"
            );
        }
        // A derived copy (another kid, the same marker) is caught too.
        let mut renamed = with_compose_secrets("live");
        renamed.auth.jwt_keys = Secret::new("k9:mine-0123456789abcdef0123456789abcdef,old:x-not-for-production-0123456789abcdef");
        renamed.api_keys.pepper = Secret::new("0123456789abcdef0123456789abcdef0123");
        renamed.channels.secret_keys = Secret::new("k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=");
        assert_eq!(fields(&renamed.validate()), ["auth.jwt_keys"]);
    }

    #[test]
    fn the_default_tail_limits_are_valid() {
        let ingest = IngestSettings::default();
        assert_eq!((ingest.tail_max_streams_per_tenant, ingest.tail_max_streams), (8, 256));
        assert!(ingest.validate().is_empty());
    }

    #[test]
    fn tail_limits_must_allow_a_stream_and_leave_blocking_threads_for_the_rest() {
        let none = IngestSettings { tail_max_streams_per_tenant: 0, tail_max_streams: 0, ..IngestSettings::default() };
        assert_eq!(fields(&none.validate()), ["tail_max_streams_per_tenant", "tail_max_streams"]);
        let too_many = IngestSettings { tail_max_streams: TAIL_MAX_STREAMS_CEILING + 1, ..IngestSettings::default() };
        assert_eq!(fields(&too_many.validate()), ["tail_max_streams"]);
        let at_the_ceiling = IngestSettings { tail_max_streams: TAIL_MAX_STREAMS_CEILING, ..IngestSettings::default() };
        assert!(at_the_ceiling.validate().is_empty());
    }
}
