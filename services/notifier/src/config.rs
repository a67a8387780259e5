//! The notifier's configuration: the shared worker sections, `notifier`
//! (sending) and `channels` (the keys that open channel credentials).

use serde::Deserialize;
use signalops_notify_store::settings::ChannelSettings;
use signalops_platform::config::{self, ConfigError, FieldProblem, Validate, nested};
use signalops_platform::service::WorkerConfig;

use crate::SPEC;
use crate::settings::NotifierSettings;

/// Everything the notifier reads.
#[derive(Debug, Clone)]
pub struct NotifierConfig {
    pub worker: WorkerConfig,
    pub notifier: NotifierSettings,
    pub channels: ChannelSettings,
}

/// The notifier's own sections, loaded next to the shared ones rather than
/// flattened into them (a flattened struct loses the typing of environment
/// values).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
struct Sections {
    notifier: NotifierSettings,
    channels: ChannelSettings,
}

impl Validate for Sections {
    fn validate(&self) -> Vec<FieldProblem> {
        let mut problems = nested("notifier", self.notifier.validate());
        problems.extend(nested("channels", self.channels.validate()));
        problems
    }
}

/// The configuration with the notifier's defaults.
pub fn load() -> Result<NotifierConfig, ConfigError> {
    let worker = SPEC.load_config()?;
    let sections: Sections = config::load(SPEC.name)?;
    Ok(NotifierConfig { worker, notifier: sections.notifier, channels: sections.channels })
}

#[cfg(test)]
#[allow(clippy::result_large_err)] // figment::Jail fixes the closure error type
mod tests {
    use figment::Jail;

    use super::*;

    const KEY: &str = "k1:c2lnbmFsb3BzLWRldi1ub3QtZm9yLXByb2R1Y3Rpb24=";

    #[test]
    fn defaults_load_and_the_sending_keys_are_configurable_and_checked() {
        Jail::expect_with(|jail| {
            jail.clear_env();
            jail.set_env("SIGNALOPS_DATABASE__URL", "postgres://app:pw@127.0.0.1:5432/db");
            let error = load().expect_err("no channel keys").to_string();
            assert!(error.contains("channels.secret_keys"), "{error}");
            jail.set_env("SIGNALOPS_CHANNELS__SECRET_KEYS", KEY);
            let config = load().expect("defaults");
            assert_eq!(config.worker.consumer.group_id, "signalops-notifier");
            assert_eq!((config.notifier.attempt_timeout_ms, config.notifier.channel_concurrency), (15_000, 4));
            assert_eq!(config.notifier.schedule().map(|s| s.attempts()), Ok(8));
            jail.set_env("SIGNALOPS_NOTIFIER__ALLOWED_NETWORKS", "127.0.0.0/8, ::1/128");
            jail.set_env("SIGNALOPS_NOTIFIER__ATTEMPT_TIMEOUT_MS", "2000");
            jail.set_env("SIGNALOPS_NOTIFIER__SMTP__HOST", "127.0.0.1");
            jail.set_env("SIGNALOPS_NOTIFIER__SMTP__PORT", "2525");
            jail.set_env("SIGNALOPS_NOTIFIER__SMTP__SECURITY", "none");
            let config = load().expect("configured");
            assert_eq!((config.notifier.attempt_timeout_ms, config.notifier.smtp.port), (2_000, 2_525));
            assert!(config.notifier.address_policy().expect("policy").refusal("127.0.0.1".parse().expect("ip")).is_none());
            jail.set_env("SIGNALOPS_NOTIFIER__ALLOWED_NETWORKS", "localhost");
            jail.set_env("SIGNALOPS_NOTIFIER__RETRY_SCHEDULE", "0s, 5x");
            jail.set_env("SIGNALOPS_NOTIFIER__SMTP__FROM", "not an address");
            let error = load().expect_err("bad values").to_string();
            for field in ["notifier.allowed_networks", "notifier.retry_schedule", "notifier.smtp.from"] {
                assert!(error.contains(field), "{field}: {error}");
            }
            Ok(())
        });
    }
}
