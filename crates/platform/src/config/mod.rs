//! One way to configure every service: a typed struct with defaults, an
//! optional TOML file, environment overrides, validation at start-up.
//!
//! Precedence (last wins): struct defaults → `$SIGNALOPS_CONFIG` (or
//! `config/<service>.toml` when present) → the short aliases the local stack
//! writes (`SIGNALOPS_KAFKA_BROKERS`, `SIGNALOPS_DATABASE_URL`) and the
//! standard `OTEL_EXPORTER_OTLP_ENDPOINT` → `SIGNALOPS_<SECTION>__<FIELD>`.

pub mod dev_defaults;
mod kafka_security;
mod raw_env;
mod secret;
mod sections;
mod validate;

use std::path::PathBuf;

use figment::Figment;
use figment::providers::{Env, Format, Toml};
use raw_env::RawEnv;
use serde::de::DeserializeOwned;

pub use kafka_security::{KafkaSecurity, SaslMechanism, SecurityProtocol};
pub use secret::Secret;
pub use sections::{
    ApiKeySettings, ConsumerSettings, DatabaseSettings, HttpSettings, KafkaSettings, LogFormat, TelemetrySettings, TopicNames,
};
pub use validate::{FieldProblem, Validate, nested};

/// Why a service refused its configuration; each line names one field.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("invalid configuration: {0}")]
    Parse(String),
    #[error("invalid configuration:\n{}", .0.iter().map(|p| format!("  - {p}")).collect::<Vec<_>>().join("\n"))]
    Invalid(Vec<FieldProblem>),
}

/// Loads and validates the configuration of `service`.
pub fn load<T>(service: &str) -> Result<T, ConfigError>
where
    T: DeserializeOwned + Validate,
{
    load_with_defaults(service, &[])
}

/// Like `load`, with per-service defaults for individual keys (e.g. the
/// consumer group of a service) that files and the environment override.
pub fn load_with_defaults<T>(service: &str, defaults: &[(&str, figment::value::Value)]) -> Result<T, ConfigError>
where
    T: DeserializeOwned + Validate,
{
    let mut figment = Figment::new();
    for (key, value) in defaults {
        figment = figment.merge(figment::providers::Serialized::default(key, value.clone()));
    }
    let config: T = figment.merge(figment_for(service)?).extract_lossy().map_err(|e| ConfigError::Parse(describe_figment_error(&e)))?;
    let problems = config.validate();
    if problems.is_empty() { Ok(config) } else { Err(ConfigError::Invalid(problems)) }
}

fn figment_for(service: &str) -> Result<Figment, ConfigError> {
    let mut figment = Figment::new();
    if let Some(file) = config_file(service) {
        if !file.is_file() {
            return Err(ConfigError::Parse(format!("config file {} (SIGNALOPS_CONFIG) does not exist", file.display())));
        }
        figment = figment.merge(Toml::file_exact(file));
    }
    // The short aliases come before SECTION__FIELD variables, so the
    // explicit nested form wins when both are set.
    Ok(figment
        .merge(RawEnv(
            Env::raw()
                .only(&["SIGNALOPS_KAFKA_BROKERS", "SIGNALOPS_DATABASE_URL", "OTEL_EXPORTER_OTLP_ENDPOINT"])
                // An empty OTEL_EXPORTER_OTLP_ENDPOINT means "off", as in the OTel spec.
                .filter_map(|key| match key.as_str().to_ascii_uppercase().as_str() {
                    "SIGNALOPS_KAFKA_BROKERS" => Some("kafka.brokers".into()),
                    "SIGNALOPS_DATABASE_URL" => Some("database.url".into()),
                    _ if std::env::var("OTEL_EXPORTER_OTLP_ENDPOINT").is_ok_and(|v| v.trim().is_empty()) => None,
                    _ => Some("telemetry.otlp_endpoint".into()),
                }),
        ))
        // Only SECTION__FIELD variables are config keys; other SIGNALOPS_*
        // variables (stack paths, ports) belong to the scripts.
        .merge(RawEnv(Env::prefixed("SIGNALOPS_").filter(|key| key.as_str().contains("__")).split("__"))))
}

fn config_file(service: &str) -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("SIGNALOPS_CONFIG") {
        return Some(PathBuf::from(path));
    }
    let default = PathBuf::from(format!("config/{service}.toml"));
    default.exists().then_some(default)
}

/// figment's messages name the key and the source; keep them on one line
/// each and never echo a secret value back.
fn describe_figment_error(error: &figment::Error) -> String {
    error
        .clone()
        .into_iter()
        .map(|e| {
            let key = e.path.join(".");
            let source = e.metadata.as_ref().map(|m| m.name.to_string()).unwrap_or_else(|| "defaults".into());
            if key.is_empty() { format!("{} ({source})", e.kind) } else { format!("{key}: {} ({source})", e.kind) }
        })
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests;
