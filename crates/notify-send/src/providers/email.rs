//! Email over SMTP (`lettre`): the server is the platform's configuration
//! (`notifier.smtp`), the recipients are the channel's. A 2xx reply is
//! delivered, 4xx is tried again, 5xx is permanent: the reply code is kept
//! as the attempt's status.

use std::time::{Duration, Instant};

use lettre::message::{Mailbox, header::ContentType};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use serde::Deserialize;
use signalops_platform::config::Secret;

use crate::message::Message;
use crate::sent::Sent;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpSecurity {
    /// Plain SMTP: only for a relay on the same host or a test sink.
    None,
    /// STARTTLS after connecting (port 587).
    Starttls,
    /// TLS from the first byte (port 465).
    Tls,
}

/// `notifier.smtp`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SmtpSettings {
    /// Empty: email channels fail with "not configured" (and are retried).
    pub host: String,
    pub port: u16,
    pub security: SmtpSecurity,
    pub username: String,
    pub password: Secret,
    /// `SignalOps <alerts@example.com>`.
    pub from: String,
}

impl Default for SmtpSettings {
    fn default() -> Self {
        Self {
            host: String::new(),
            port: 587,
            security: SmtpSecurity::Starttls,
            username: String::new(),
            password: Secret::default(),
            from: "SignalOps <notifications@localhost>".to_owned(),
        }
    }
}

impl SmtpSettings {
    /// What is wrong with the settings, by field.
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        let mut problems = Vec::new();
        if self.from.parse::<Mailbox>().is_err() {
            problems.push(("from", "must be an address, optionally with a name (`SignalOps <alerts@example.com>`)".to_owned()));
        }
        if self.host.chars().any(|c| c.is_whitespace() || c.is_control()) {
            problems.push(("host", "must be a host name or address".to_owned()));
        }
        if self.port == 0 {
            problems.push(("port", "must be a port number".to_owned()));
        }
        problems
    }
}

#[derive(Clone)]
pub(crate) struct Mailer {
    transport: Option<AsyncSmtpTransport<Tokio1Executor>>,
    from: Option<Mailbox>,
}

impl Mailer {
    pub(crate) fn new(settings: &SmtpSettings, timeout: Duration) -> anyhow::Result<Self> {
        if settings.host.is_empty() {
            return Ok(Self { transport: None, from: None });
        }
        let builder = match settings.security {
            SmtpSecurity::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&settings.host),
            SmtpSecurity::Starttls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&settings.host)?,
            SmtpSecurity::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(&settings.host)?,
        };
        let mut builder = builder.port(settings.port).timeout(Some(timeout));
        if !settings.username.is_empty() {
            builder = builder.credentials(Credentials::new(settings.username.clone(), settings.password.expose().to_owned()));
        }
        Ok(Self { transport: Some(builder.build()), from: settings.from.parse().ok() })
    }

    pub(crate) async fn send(&self, to: &[&str], message: &Message) -> Sent {
        let (Some(transport), Some(from)) = (&self.transport, &self.from) else {
            return Sent::failed("email is not configured on this platform (notifier.smtp.host)", Duration::ZERO);
        };
        let mut builder = lettre::Message::builder()
            .from(from.clone())
            .subject(message.subject.clone().filter(|s| !s.is_empty()).unwrap_or_else(|| "Notification".to_owned()))
            // The same Message-ID on every attempt, so a repeat is recognisable.
            .message_id(Some(format!("<{}@signalops>", message.id)))
            .header(ContentType::TEXT_PLAIN);
        for address in to {
            match address.parse::<Mailbox>() {
                Ok(mailbox) => builder = builder.to(mailbox),
                Err(error) => return Sent::failed(format!("recipient {address:?}: {error}"), Duration::ZERO),
            }
        }
        let mail = match builder.body(message.body.clone()) {
            Ok(mail) => mail,
            Err(error) => return Sent::failed(format!("the message could not be built: {error}"), Duration::ZERO),
        };
        let started = Instant::now();
        match transport.send(mail).await {
            Ok(response) => Sent {
                status: Some(u16::from(response.code())),
                excerpt: Some(response.message().collect::<Vec<_>>().join("\n")),
                smtp_reply: true,
                latency: started.elapsed(),
                ..Sent::default()
            },
            Err(error) => Sent {
                status: error.status().map(u16::from),
                error: Some(error.to_string()),
                smtp_reply: error.status().is_some(),
                latency: started.elapsed(),
                ..Sent::default()
            },
        }
    }
}
