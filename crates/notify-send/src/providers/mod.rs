//! One attempt through one channel. Each kind builds the request its
//! provider's API takes; the answer is read the same way for all of them
//! (status, `Retry-After`, the first KiB).

mod chat;
mod email;
mod webhook;

use std::time::{Duration, Instant};

use signalops_notify_store::address_policy::AddressPolicy;
use signalops_notify_store::channels::OpenedChannel;
use signalops_notify_store::definition::Credentials;
use url::Url;

pub use email::{SmtpSecurity, SmtpSettings};

use crate::guarded_client::{GuardedClient, refusal_in};
use crate::message::Message;
use crate::sent::{EXCERPT_BYTES, Sent};

/// Where the providers are, and how long an attempt may take.
#[derive(Debug, Clone)]
pub struct ProviderSettings {
    pub policy: AddressPolicy,
    pub timeout: Duration,
    pub telegram_api_base: Url,
    pub whatsapp_api_base: Url,
    pub smtp: SmtpSettings,
}

/// The clients, built once.
#[derive(Clone)]
pub struct Providers {
    guarded: GuardedClient,
    platform: reqwest::Client,
    telegram: Url,
    whatsapp: Url,
    mailer: email::Mailer,
    timeout: Duration,
}

impl Providers {
    pub fn new(settings: &ProviderSettings) -> anyhow::Result<Self> {
        Ok(Self {
            guarded: GuardedClient::new(settings.policy.clone(), settings.timeout)?,
            // The operator's own provider URLs (Telegram, WhatsApp) are not
            // the tenant's to choose, so they are not held to the policy.
            platform: crate::http_client::builder(settings.timeout).build()?,
            telegram: settings.telegram_api_base.clone(),
            whatsapp: settings.whatsapp_api_base.clone(),
            mailer: email::Mailer::new(&settings.smtp, settings.timeout)?,
            timeout: settings.timeout,
        })
    }

    /// Sends `message` through `channel`; `timestamp` is the attempt's
    /// Unix time (`webhook-timestamp`).
    pub async fn send(&self, channel: &OpenedChannel, message: &Message, timestamp: i64) -> Sent {
        let settings = &channel.record.settings;
        match &channel.credentials {
            Credentials::Webhook { secret, headers } => {
                let previous = match &channel.previous {
                    Some(Credentials::Webhook { secret, .. }) => Some(secret.as_str()),
                    _ => None,
                };
                let url = settings.get("url").and_then(|u| u.as_str()).unwrap_or_default();
                let signing = webhook::Signing { current: secret, previous, timestamp };
                match self.guarded_url(url) {
                    Ok((client, url)) => self.exchange(webhook::request(client, url, headers, &signing, message)).await,
                    Err(sent) => sent,
                }
            }
            Credentials::Slack { webhook_url } => match self.guarded_url(webhook_url) {
                Ok((client, url)) => self.exchange(chat::slack(client, url, message)).await,
                Err(sent) => sent,
            },
            Credentials::Telegram { bot_token } => {
                let chat_id = settings.get("chat_id").and_then(|c| c.as_str()).unwrap_or_default();
                let Some(url) = chat::telegram_url(&self.telegram, bot_token) else {
                    return Sent::failed("telegram_api_base cannot take a bot path", Duration::ZERO);
                };
                let mut sent = self.exchange(chat::telegram(&self.platform, url, chat_id, message)).await;
                chat::telegram_retry_after(&mut sent);
                sent
            }
            Credentials::Whatsapp { access_token } => {
                let phone = settings.get("phone_number_id").and_then(|c| c.as_str()).unwrap_or_default();
                let to = settings.get("to").and_then(|c| c.as_str()).unwrap_or_default();
                let Some(url) = chat::whatsapp_url(&self.whatsapp, phone) else {
                    return Sent::failed("whatsapp_api_base cannot take a phone-number path", Duration::ZERO);
                };
                self.exchange(chat::whatsapp(&self.platform, url, access_token, to, message)).await
            }
            Credentials::Email {} => {
                let to: Vec<&str> = settings
                    .get("to")
                    .and_then(|t| t.as_array())
                    .map(|a| a.iter().filter_map(|v| v.as_str()).collect())
                    .unwrap_or_default();
                self.mailer.send(&to, message).await
            }
        }
    }

    fn guarded_url(&self, url: &str) -> Result<(&reqwest::Client, Url), Sent> {
        let url = Url::parse(url).map_err(|e| Sent::failed(format!("the channel's URL does not parse: {e}"), Duration::ZERO))?;
        let client = self.guarded.for_url(&url).map_err(|refused| Sent::refused(refused.to_string()))?;
        Ok((client, url))
    }

    /// Sends the request and reads what the delivery log keeps of the answer.
    async fn exchange(&self, request: reqwest::RequestBuilder) -> Sent {
        let started = Instant::now();
        let response = match request.send().await {
            Ok(response) => response,
            Err(error) => {
                if let Some(refused) = refusal_in(&error) {
                    return Sent::refused(refused.to_string());
                }
                // Without the URL: a Slack URL or a bot token is a credential.
                return Sent::failed(describe(&error.without_url(), self.timeout), started.elapsed());
            }
        };
        let status = response.status().as_u16();
        let retry_after = response.headers().get(reqwest::header::RETRY_AFTER).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let (excerpt, error) = excerpt(response).await;
        Sent { status: Some(status), retry_after, excerpt, error, latency: started.elapsed(), ..Sent::default() }
    }
}

/// The first KiB of the body; the rest is not read (a receiver streaming
/// without end cannot hold the attempt past its timeout either).
async fn excerpt(mut response: reqwest::Response) -> (Option<String>, Option<String>) {
    let mut kept = Vec::new();
    while kept.len() < EXCERPT_BYTES {
        match response.chunk().await {
            Ok(Some(chunk)) => kept.extend_from_slice(&chunk[..chunk.len().min(EXCERPT_BYTES - kept.len())]),
            Ok(None) => break,
            Err(error) => return (Some(String::from_utf8_lossy(&kept).into_owned()), Some(format!("reading the answer: {error}"))),
        }
    }
    ((!kept.is_empty()).then(|| String::from_utf8_lossy(&kept).into_owned()), None)
}

fn describe(error: &reqwest::Error, timeout: Duration) -> String {
    if error.is_timeout() {
        return format!("no answer within {} ms", timeout.as_millis());
    }
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(inner) = source {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        source = inner.source();
    }
    text
}
