//! How clients authenticate to Kafka and encrypt the connection
//! (`[kafka.security]`): plaintext for the local stack, TLS and SASL/SCRAM
//! for managed clusters. `kafka::base_client_config` turns this into the
//! librdkafka settings every producer, consumer and admin client uses.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::Secret;
use super::validate::FieldProblem;

/// librdkafka's `security.protocol`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SecurityProtocol {
    #[default]
    Plaintext,
    Ssl,
    SaslPlaintext,
    SaslSsl,
}

impl SecurityProtocol {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Plaintext => "plaintext",
            Self::Ssl => "ssl",
            Self::SaslPlaintext => "sasl_plaintext",
            Self::SaslSsl => "sasl_ssl",
        }
    }

    pub fn uses_tls(self) -> bool {
        matches!(self, Self::Ssl | Self::SaslSsl)
    }

    pub fn uses_sasl(self) -> bool {
        matches!(self, Self::SaslPlaintext | Self::SaslSsl)
    }
}

/// librdkafka's `sasl.mechanism`; GSSAPI and OAUTHBEARER are not offered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum SaslMechanism {
    #[serde(rename = "SCRAM-SHA-256", alias = "scram-sha-256")]
    ScramSha256,
    #[serde(rename = "SCRAM-SHA-512", alias = "scram-sha-512")]
    ScramSha512,
    #[serde(rename = "PLAIN", alias = "plain")]
    Plain,
}

impl SaslMechanism {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ScramSha256 => "SCRAM-SHA-256",
            Self::ScramSha512 => "SCRAM-SHA-512",
            Self::Plain => "PLAIN",
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KafkaSecurity {
    pub protocol: SecurityProtocol,
    /// Required with `sasl_plaintext` and `sasl_ssl`.
    pub sasl_mechanism: Option<SaslMechanism>,
    pub sasl_username: String,
    pub sasl_password: Secret,
    /// PEM file of the CA(s) that signed the brokers' certificates; the
    /// system's trust store when unset.
    pub ca_file: Option<PathBuf>,
    /// Client certificate and key (PEM) for brokers that require mutual TLS.
    pub certificate_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
    pub key_password: Secret,
    /// Check that the broker's certificate names the host we connected to.
    pub verify_hostname: bool,
}

impl Default for KafkaSecurity {
    fn default() -> Self {
        Self {
            protocol: SecurityProtocol::Plaintext,
            sasl_mechanism: None,
            sasl_username: String::new(),
            sasl_password: Secret::default(),
            ca_file: None,
            certificate_file: None,
            key_file: None,
            key_password: Secret::default(),
            verify_hostname: true,
        }
    }
}

/// A problem when `path` is not a readable file.
pub(crate) fn unreadable_file(field: &str, path: &Path) -> Option<FieldProblem> {
    match std::fs::File::open(path) {
        Ok(_) if path.is_file() => None,
        Ok(_) => Some(FieldProblem::new(field, format!("{} is not a file", path.display()))),
        Err(error) => Some(FieldProblem::new(field, format!("cannot read {}: {error}", path.display()))),
    }
}

impl KafkaSecurity {
    /// Problems, with fields relative to this section.
    pub fn validate(&self) -> Vec<FieldProblem> {
        let mut problems = Vec::new();
        let protocol = self.protocol.as_str();
        if self.protocol.uses_sasl() {
            match self.sasl_mechanism {
                None => problems.push(FieldProblem::new(
                    "sasl_mechanism",
                    format!("is required with {protocol} (SCRAM-SHA-256, SCRAM-SHA-512 or PLAIN)"),
                )),
                // PLAIN sends the password itself; only over TLS.
                Some(SaslMechanism::Plain) if !self.protocol.uses_tls() => {
                    problems.push(FieldProblem::new("sasl_mechanism", "PLAIN sends the password in clear; use it with sasl_ssl only"));
                }
                Some(_) => {}
            }
            if self.sasl_username.trim().is_empty() {
                problems.push(FieldProblem::new("sasl_username", format!("is required with {protocol}")));
            }
            if self.sasl_password.is_empty() {
                problems.push(FieldProblem::new("sasl_password", format!("is required with {protocol}")));
            }
        } else if self.sasl_mechanism.is_some() || !self.sasl_username.is_empty() || !self.sasl_password.is_empty() {
            problems.push(FieldProblem::new("protocol", format!("is {protocol}, so the sasl_* settings would be ignored; use sasl_ssl")));
        }
        let files = [("ca_file", &self.ca_file), ("certificate_file", &self.certificate_file), ("key_file", &self.key_file)];
        if self.protocol.uses_tls() {
            problems.extend(files.iter().filter_map(|(field, path)| path.as_deref().and_then(|p| unreadable_file(field, p))));
            if self.certificate_file.is_some() != self.key_file.is_some() {
                problems.push(FieldProblem::new("certificate_file", "certificate_file and key_file go together (mutual TLS)"));
            }
        } else if files.iter().any(|(_, path)| path.is_some()) || !self.key_password.is_empty() {
            problems.push(FieldProblem::new("protocol", format!("is {protocol}, so the TLS files would be ignored; use ssl or sasl_ssl")));
        }
        problems
    }
}
