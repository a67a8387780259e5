//! The rules service's configuration: the shared worker sections plus a
//! `rules` section (rule loading, the firing step).

use serde::Deserialize;
use signalops_platform::config::{self, ConfigError, FieldProblem, Validate, nested};
use signalops_platform::service::WorkerConfig;

use crate::SPEC;

/// Everything the rules service reads.
#[derive(Debug, Clone, Default)]
pub struct RulesConfig {
    pub worker: WorkerConfig,
    pub rules: RulesSettings,
}

/// The `rules` section on its own: loaded next to the shared sections
/// rather than flattened into them, because a flattened struct loses the
/// typing of environment values (`"100"` would not read as a number).
#[derive(Debug, Clone, Default, Deserialize)]
// Every other section belongs to `WorkerConfig` (or another service).
#[serde(default)]
struct RulesSection {
    rules: RulesSettings,
}

/// The `rules` section.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RulesSettings {
    /// How often `rule_sets` is polled for tenants whose rules changed. At
    /// most 500 ms, so a change runs on every instance within a second.
    pub reload_interval_ms: u64,
    /// No rule fires on a derived event of this depth or deeper.
    pub max_depth: u32,
    /// A window or throttle state that expired this long before the newest
    /// `received_at` of its tenant's batch is deleted. The margin keeps a
    /// late event (one received earlier than events before it in the log)
    /// seeing the state it would have seen without the deletion.
    pub state_expiry_grace_secs: u64,
}

impl Default for RulesSettings {
    fn default() -> Self {
        Self { reload_interval_ms: 250, max_depth: signalops_rule_engine::limits::DEFAULT_MAX_DEPTH, state_expiry_grace_secs: 3_600 }
    }
}

impl Validate for RulesSettings {
    fn validate(&self) -> Vec<FieldProblem> {
        let mut problems = Vec::new();
        if !(10..=500).contains(&self.reload_interval_ms) {
            problems.push(FieldProblem::new("reload_interval_ms", "must be between 10 and 500"));
        }
        if !(1..=16).contains(&self.max_depth) {
            problems.push(FieldProblem::new("max_depth", "must be between 1 and 16"));
        }
        if self.state_expiry_grace_secs > 30 * 24 * 3600 {
            problems.push(FieldProblem::new("state_expiry_grace_secs", "must be at most 2592000 (30 days)"));
        }
        problems
    }
}

impl Validate for RulesSection {
    fn validate(&self) -> Vec<FieldProblem> {
        nested("rules", self.rules.validate())
    }
}

/// Records per partition batch, unless configured. Each batch pays fixed
/// round trips (its tenant, states, writes, offset, commit), which the
/// shared default of 500 left at a third of the group's time; the runs
/// behind the number are in docs/benchmarks.md.
pub const BATCH_MAX_RECORDS: usize = 4_000;

/// The configuration with the rules service's defaults.
pub fn load() -> Result<RulesConfig, ConfigError> {
    let worker = config::load_with_defaults(
        SPEC.name,
        &[
            ("consumer.group_id", SPEC.default_group.into()),
            ("http.port", u64::from(SPEC.default_port).into()),
            ("consumer.batch_max_records", (BATCH_MAX_RECORDS as u64).into()),
        ],
    )?;
    let section: RulesSection = config::load(SPEC.name)?;
    Ok(RulesConfig { worker, rules: section.rules })
}

#[cfg(test)]
#[allow(clippy::result_large_err)] // figment::Jail fixes the closure error type
mod tests {
    use figment::Jail;

    use super::*;

    #[test]
    fn defaults_load_and_every_rules_key_is_configurable_and_checked() {
        Jail::expect_with(|jail| {
            jail.clear_env();
            jail.set_env("SIGNALOPS_DATABASE__URL", "postgres://app:pw@127.0.0.1:5432/db");
            let config = load().expect("defaults");
            assert_eq!(config.worker.consumer.group_id, "signalops-rules");
            assert_eq!(config.worker.http.port, 9102);
            assert_eq!(config.worker.consumer.batch_max_records, BATCH_MAX_RECORDS);
            assert_eq!((config.rules.reload_interval_ms, config.rules.max_depth), (250, 3));
            jail.set_env("SIGNALOPS_RULES__RELOAD_INTERVAL_MS", "100");
            jail.set_env("SIGNALOPS_RULES__STATE_EXPIRY_GRACE_SECS", "60");
            jail.set_env("SIGNALOPS_HTTP__PORT", "9200");
            let config = load().expect("configured");
            assert_eq!((config.rules.reload_interval_ms, config.rules.state_expiry_grace_secs), (100, 60));
            assert_eq!(config.worker.http.port, 9200, "the shared sections keep reading numbers from the environment");
            jail.set_env("SIGNALOPS_RULES__RELOAD_INTERVAL_MS", "900");
            let error = load().expect_err("too slow to pick changes up within a second").to_string();
            assert!(error.contains("rules.reload_interval_ms"), "{error}");
            Ok(())
        });
    }
}
