//! signalctl reads the same configuration as the services (file +
//! `SIGNALOPS_*` environment), plus the owner role's URL for admin work.

use serde::Deserialize;
use signalops_platform::config::{self, ApiKeySettings, DatabaseSettings, FieldProblem, KafkaSettings, Validate, nested};

#[derive(Debug, Clone, Default, Deserialize)]
// Unknown sections belong to other services sharing the environment.
#[serde(default)]
pub struct CtlConfig {
    pub kafka: KafkaSettings,
    pub database: DatabaseSettings,
    pub api_keys: ApiKeySettings,
}

impl Validate for CtlConfig {
    /// Sections are validated by the commands that use them, so `migrate`
    /// does not demand a Kafka address and `topics` no database.
    fn validate(&self) -> Vec<FieldProblem> {
        Vec::new()
    }
}

impl CtlConfig {
    pub fn load() -> anyhow::Result<Self> {
        Ok(config::load("signalctl")?)
    }

    pub fn require_kafka(&self) -> anyhow::Result<&KafkaSettings> {
        require("kafka", &self.kafka)
    }

    pub fn require_database(&self) -> anyhow::Result<&DatabaseSettings> {
        require("database", &self.database)
    }

    pub fn require_api_keys(&self) -> anyhow::Result<&ApiKeySettings> {
        require("api_keys", &self.api_keys)
    }
}

fn require<'a, T: Validate>(section: &str, value: &'a T) -> anyhow::Result<&'a T> {
    let problems = nested(section, value.validate());
    if problems.is_empty() { Ok(value) } else { Err(config::ConfigError::Invalid(problems).into()) }
}
