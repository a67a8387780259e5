use serde::Deserialize;
use signalops_platform::config::{self, DatabaseSettings, FieldProblem, HttpSettings, KafkaSettings, TelemetrySettings, Validate, nested};

pub const DEFAULT_PORT: u16 = 8080;

// Unknown sections belong to other services sharing the environment.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct GatewayConfig {
    pub http: HttpSettings,
    pub kafka: KafkaSettings,
    pub database: DatabaseSettings,
    pub telemetry: TelemetrySettings,
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
        problems
    }
}
