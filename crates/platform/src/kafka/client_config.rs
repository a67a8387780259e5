use rdkafka::ClientConfig;

use crate::config::{KafkaSecurity, KafkaSettings};

/// Settings every client shares: where the brokers are, who we are, and how
/// we authenticate and encrypt (`kafka.security`).
pub fn base_client_config(settings: &KafkaSettings, client_id: &str) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", &settings.brokers)
        .set("client.id", client_id)
        // librdkafka logs through our tracing subscriber, not stderr.
        .set("log_level", "4")
        .set("socket.keepalive.enable", "true");
    apply_security(&mut config, &settings.security);
    config
}

/// librdkafka's `security.protocol`, `ssl.*` and `sasl.*` settings. Its
/// `Debug` output redacts the passwords.
fn apply_security(config: &mut ClientConfig, security: &KafkaSecurity) {
    config.set("security.protocol", security.protocol.as_str());
    if security.protocol.uses_tls() {
        let files = [
            ("ssl.ca.location", &security.ca_file),
            ("ssl.certificate.location", &security.certificate_file),
            ("ssl.key.location", &security.key_file),
        ];
        for (key, path) in files {
            if let Some(path) = path {
                config.set(key, path.display().to_string());
            }
        }
        if !security.key_password.is_empty() {
            config.set("ssl.key.password", security.key_password.expose());
        }
        config.set("ssl.endpoint.identification.algorithm", if security.verify_hostname { "https" } else { "none" });
    }
    if security.protocol.uses_sasl() {
        if let Some(mechanism) = security.sasl_mechanism {
            config.set("sasl.mechanism", mechanism.as_str());
        }
        config.set("sasl.username", &security.sasl_username).set("sasl.password", security.sasl_password.expose());
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::config::{SaslMechanism, Secret, SecurityProtocol};

    #[test]
    fn plaintext_sets_no_tls_or_sasl_keys() {
        let config = base_client_config(&KafkaSettings::default(), "t");
        assert_eq!(config.get("security.protocol"), Some("plaintext"));
        for key in ["ssl.ca.location", "sasl.mechanism", "sasl.username", "sasl.password", "ssl.endpoint.identification.algorithm"] {
            assert_eq!(config.get(key), None, "{key}");
        }
    }

    #[test]
    fn sasl_ssl_with_scram_and_a_client_certificate_reaches_librdkafka() {
        let settings = KafkaSettings {
            security: KafkaSecurity {
                protocol: SecurityProtocol::SaslSsl,
                sasl_mechanism: Some(SaslMechanism::ScramSha512),
                sasl_username: "signalops".into(),
                sasl_password: Secret::new("hunter2"),
                ca_file: Some(PathBuf::from("/etc/kafka/ca.pem")),
                certificate_file: Some(PathBuf::from("/etc/kafka/client.pem")),
                key_file: Some(PathBuf::from("/etc/kafka/client.key")),
                key_password: Secret::new("keypass"),
                verify_hostname: true,
            },
            ..KafkaSettings::default()
        };
        let config = base_client_config(&settings, "t");
        for (key, value) in [
            ("security.protocol", "sasl_ssl"),
            ("sasl.mechanism", "SCRAM-SHA-512"),
            ("sasl.username", "signalops"),
            ("sasl.password", "hunter2"),
            ("ssl.ca.location", "/etc/kafka/ca.pem"),
            ("ssl.certificate.location", "/etc/kafka/client.pem"),
            ("ssl.key.location", "/etc/kafka/client.key"),
            ("ssl.key.password", "keypass"),
            ("ssl.endpoint.identification.algorithm", "https"),
        ] {
            assert_eq!(config.get(key), Some(value), "{key}");
        }
        assert!(!format!("{config:?}").contains("hunter2"), "the password is redacted in Debug output");
    }

    /// librdkafka itself accepts the settings: creating a client fails on
    /// an unknown key or a build without SSL/SCRAM support.
    #[test]
    fn librdkafka_is_built_with_tls_and_scram() {
        let settings = KafkaSettings {
            security: KafkaSecurity {
                protocol: SecurityProtocol::SaslSsl,
                sasl_mechanism: Some(SaslMechanism::ScramSha256),
                sasl_username: "u".into(),
                sasl_password: Secret::new("p"),
                ..KafkaSecurity::default()
            },
            ..KafkaSettings::default()
        };
        let producer: Result<rdkafka::producer::BaseProducer, _> = base_client_config(&settings, "t").create();
        assert!(producer.is_ok(), "{:?}", producer.err());
    }
}
