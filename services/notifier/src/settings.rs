//! The `notifier` section: how deliveries are sent (concurrency, rate,
//! timeout, retry schedule, where they may connect) and when a failing
//! channel is warned about and disabled.

use std::time::Duration;

use serde::Deserialize;
use signalops_notify_send::ProviderSettings;
use signalops_notify_send::providers::SmtpSettings;
use signalops_notify_store::address_policy::AddressPolicy;
use signalops_notify_store::retry::{DEFAULT_SCHEDULE, RetrySchedule};
use signalops_platform::config::{FieldProblem, Validate};

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NotifierSettings {
    /// Networks deliveries may connect to although they are refused by
    /// default (loopback, private, …): comma-separated CIDR networks.
    pub allowed_networks: String,
    /// The wait before each attempt on one channel, comma-separated.
    pub retry_schedule: String,
    /// A 2xx must arrive within this, or the attempt failed.
    pub attempt_timeout_ms: u64,
    /// Attempts in flight to one channel, over all notifier instances.
    pub channel_concurrency: u32,
    /// Attempts started per second to one channel, per instance.
    pub channel_rate_per_sec: u32,
    /// Attempts in flight in one instance, over all channels.
    pub send_concurrency: u32,
    /// Deliveries claimed per look.
    pub claim_batch: u32,
    /// How often due deliveries are looked for while there was nothing to send.
    pub idle_poll_ms: u64,
    /// A channel whose every attempt failed for this long gets a
    /// `signalops.channel.failing` warning.
    pub failing_warn_after_hours: u32,
    /// … and is disabled (`signalops.channel.disabled`) after this long.
    pub disable_after_hours: u32,
    /// Where Telegram's Bot API and WhatsApp's Cloud API are (tests point
    /// them at loopback fakes).
    pub telegram_api_base: String,
    pub whatsapp_api_base: String,
    /// The SMTP server email channels send through.
    pub smtp: SmtpSettings,
}

impl Default for NotifierSettings {
    fn default() -> Self {
        Self {
            allowed_networks: String::new(),
            retry_schedule: DEFAULT_SCHEDULE.to_owned(),
            attempt_timeout_ms: 15_000,
            channel_concurrency: 4,
            channel_rate_per_sec: 50,
            send_concurrency: 128,
            claim_batch: 200,
            idle_poll_ms: 200,
            failing_warn_after_hours: 24,
            disable_after_hours: 120,
            telegram_api_base: "https://api.telegram.org".to_owned(),
            whatsapp_api_base: "https://graph.facebook.com/v21.0".to_owned(),
            smtp: SmtpSettings::default(),
        }
    }
}

impl NotifierSettings {
    pub fn address_policy(&self) -> Result<AddressPolicy, String> {
        AddressPolicy::parse(&self.allowed_networks)
    }

    pub fn schedule(&self) -> Result<RetrySchedule, String> {
        RetrySchedule::parse(&self.retry_schedule)
    }

    /// What the providers are built from; [`Validate`] has refused what
    /// does not parse.
    pub fn providers(&self) -> Result<ProviderSettings, String> {
        Ok(ProviderSettings {
            policy: self.address_policy()?,
            timeout: self.attempt_timeout(),
            telegram_api_base: self.telegram_api_base.parse().map_err(|e| format!("telegram_api_base: {e}"))?,
            whatsapp_api_base: self.whatsapp_api_base.parse().map_err(|e| format!("whatsapp_api_base: {e}"))?,
            smtp: self.smtp.clone(),
        })
    }

    pub fn attempt_timeout(&self) -> Duration {
        Duration::from_millis(self.attempt_timeout_ms)
    }

    /// How long a claim holds: the timeout, the wait for the channel's
    /// rate, and a margin for recording the attempt. A claim that outlives
    /// a crashed instance lapses and the delivery is tried again.
    pub fn claim_lease(&self) -> Duration {
        let rate_wait = Duration::from_secs_f64(f64::from(self.channel_concurrency) / f64::from(self.channel_rate_per_sec.max(1)));
        self.attempt_timeout() + rate_wait + Duration::from_secs(15)
    }
}

fn base_url(problems: &mut Vec<FieldProblem>, field: &str, value: &str) {
    match url::Url::parse(value) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.host_str().is_some() => {}
        _ => problems.push(FieldProblem::new(field, "must be an http or https URL")),
    }
}

impl Validate for NotifierSettings {
    fn validate(&self) -> Vec<FieldProblem> {
        let mut problems = Vec::new();
        if let Err(error) = self.address_policy() {
            problems.push(FieldProblem::new("allowed_networks", error));
        }
        if let Err(error) = self.schedule() {
            problems.push(FieldProblem::new("retry_schedule", error));
        }
        let ranges: [(&str, u64, u64, u64); 7] = [
            ("attempt_timeout_ms", self.attempt_timeout_ms, 100, 120_000),
            ("channel_concurrency", self.channel_concurrency.into(), 1, 1_000),
            ("channel_rate_per_sec", self.channel_rate_per_sec.into(), 1, 100_000),
            ("send_concurrency", self.send_concurrency.into(), 1, 10_000),
            ("claim_batch", self.claim_batch.into(), 1, 5_000),
            ("idle_poll_ms", self.idle_poll_ms, 10, 60_000),
            ("disable_after_hours", self.disable_after_hours.into(), 1, 24 * 90),
        ];
        for (field, value, low, high) in ranges {
            if !(low..=high).contains(&value) {
                problems.push(FieldProblem::new(field, format!("must be between {low} and {high}")));
            }
        }
        if self.failing_warn_after_hours == 0 || self.failing_warn_after_hours >= self.disable_after_hours {
            problems.push(FieldProblem::new("failing_warn_after_hours", "must be at least 1 and less than disable_after_hours"));
        }
        base_url(&mut problems, "telegram_api_base", &self.telegram_api_base);
        base_url(&mut problems, "whatsapp_api_base", &self.whatsapp_api_base);
        for (field, message) in self.smtp.problems() {
            problems.push(FieldProblem::new(format!("smtp.{field}"), message));
        }
        problems
    }
}
