#![allow(clippy::result_large_err)] // figment::Jail fixes the closure error type
use figment::Jail;
use serde::Deserialize;

use super::*;

#[derive(Debug, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
struct Sample {
    kafka: KafkaSettings,
    database: DatabaseSettings,
    consumer: ConsumerSettings,
}

impl Validate for Sample {
    fn validate(&self) -> Vec<FieldProblem> {
        let mut problems = validate::nested("kafka", self.kafka.validate());
        problems.extend(validate::nested("database", self.database.validate()));
        problems.extend(validate::nested("consumer", self.consumer.validate()));
        problems
    }
}

#[test]
fn env_overrides_file_and_aliases_fill_nested_fields() {
    Jail::expect_with(|jail| {
        jail.clear_env();
        jail.create_dir("config")?;
        jail.create_file("config/sample.toml", "[kafka]\nbrokers = \"file:1\"\npartitions = 6\n[consumer]\ngroup_id = \"g\"\n")?;
        jail.set_env("SIGNALOPS_KAFKA__PARTITIONS", "24");
        jail.set_env("SIGNALOPS_KAFKA_BROKERS", "127.0.0.1:9092");
        jail.set_env("SIGNALOPS_DATABASE_URL", "postgres://app:pw@127.0.0.1:5432/db");
        let config: Sample = load("sample").expect("valid");
        assert_eq!(config.kafka.partitions, 24);
        assert_eq!(config.kafka.brokers, "127.0.0.1:9092");
        assert_eq!(config.consumer.group_id, "g");
        Ok(())
    });
}

#[test]
fn every_wrong_field_is_named_and_secrets_are_not_echoed() {
    Jail::expect_with(|jail| {
        jail.clear_env();
        jail.set_env("SIGNALOPS_KAFKA__BROKERS", "nonsense");
        jail.set_env("SIGNALOPS_DATABASE__URL", "mysql://root:hunter2@x");
        jail.set_env("SIGNALOPS_CONSUMER__DRAIN_TIMEOUT_MS", "90000");
        let err = load::<Sample>("sample").expect_err("invalid").to_string();
        assert!(err.contains("kafka.brokers"), "{err}");
        assert!(err.contains("database.url"), "{err}");
        assert!(err.contains("consumer.group_id"), "{err}");
        assert!(err.contains("consumer.drain_timeout_ms"), "{err}");
        assert!(!err.contains("hunter2"), "secret leaked: {err}");
        Ok(())
    });
}

#[test]
fn wrong_types_name_the_key() {
    Jail::expect_with(|jail| {
        jail.clear_env();
        jail.set_env("SIGNALOPS_KAFKA__PARTITIONS", "many");
        let err = load::<Sample>("sample").expect_err("invalid").to_string();
        assert!(err.contains("kafka.partitions"), "{err}");
        Ok(())
    });
}

#[test]
fn secret_debug_is_redacted() {
    assert_eq!(format!("{:?}", Secret::new("hunter2")), "Secret(***)");
}

#[test]
fn nested_variables_win_over_aliases_and_typos_inside_a_section_are_errors() {
    Jail::expect_with(|jail| {
        jail.clear_env();
        jail.set_env("SIGNALOPS_KAFKA_BROKERS", "127.0.0.1:1");
        jail.set_env("SIGNALOPS_KAFKA__BROKERS", "127.0.0.1:2");
        jail.set_env("SIGNALOPS_CONSUMER__GROUP_ID", "g");
        jail.set_env("SIGNALOPS_DATABASE_URL", "postgres://app:pw@127.0.0.1:5432/db");
        let config: Sample = load("sample").expect("valid");
        assert_eq!(config.kafka.brokers, "127.0.0.1:2");

        jail.set_env("SIGNALOPS_KAFKA__BROKRES", "x:1");
        let err = load::<Sample>("sample").expect_err("typo").to_string();
        assert!(err.contains("brokres"), "{err}");
        Ok(())
    });
}

#[test]
fn numeric_looking_values_stay_text_in_string_fields_and_numbers_still_parse() {
    Jail::expect_with(|jail| {
        jail.clear_env();
        jail.set_env("SIGNALOPS_CONSUMER__GROUP_ID", "007");
        jail.set_env("SIGNALOPS_CONSUMER__INSTANCE_ID", "42");
        jail.set_env("SIGNALOPS_CONSUMER__BATCH_MAX_RECORDS", "250");
        jail.set_env("SIGNALOPS_DATABASE__URL", "postgres://app:123@127.0.0.1:5432/db");
        let config: Sample = load("sample").expect("valid");
        assert_eq!(config.consumer.group_id, "007");
        assert_eq!(config.consumer.instance_id.as_deref(), Some("42"));
        assert_eq!(config.consumer.batch_max_records, 250);
        Ok(())
    });
}

#[test]
fn a_missing_config_file_is_named() {
    Jail::expect_with(|jail| {
        jail.clear_env();
        jail.set_env("SIGNALOPS_CONFIG", "/nonexistent/signalops.toml");
        let err = load::<Sample>("sample").expect_err("missing file").to_string();
        assert!(err.contains("/nonexistent/signalops.toml"), "{err}");
        Ok(())
    });
}

#[test]
fn a_prefetch_below_64_kib_is_refused_with_its_key() {
    Jail::expect_with(|jail| {
        jail.clear_env();
        jail.set_env("SIGNALOPS_CONSUMER__GROUP_ID", "g");
        jail.set_env("SIGNALOPS_DATABASE__URL", "postgres://app:pw@127.0.0.1:5432/db");
        jail.set_env("SIGNALOPS_CONSUMER__PREFETCH_KBYTES", "8");
        let err = load::<Sample>("sample").expect_err("too small").to_string();
        assert!(err.contains("prefetch_kbytes"), "{err}");

        jail.set_env("SIGNALOPS_CONSUMER__PREFETCH_KBYTES", "4096");
        let config: Sample = load("sample").expect("valid");
        assert_eq!(config.consumer.prefetch_kbytes, 4096);
        Ok(())
    });
}

#[test]
fn a_fetch_backoff_of_zero_is_refused_with_its_key() {
    Jail::expect_with(|jail| {
        jail.clear_env();
        jail.set_env("SIGNALOPS_CONSUMER__GROUP_ID", "g");
        jail.set_env("SIGNALOPS_DATABASE__URL", "postgres://app:pw@127.0.0.1:5432/db");
        jail.set_env("SIGNALOPS_CONSUMER__FETCH_BACKOFF_MS", "0");
        let err = load::<Sample>("sample").expect_err("a busy loop").to_string();
        assert!(err.contains("fetch_backoff_ms"), "{err}");

        jail.set_env("SIGNALOPS_CONSUMER__FETCH_BACKOFF_MS", "50");
        let config: Sample = load("sample").expect("valid");
        assert_eq!(config.consumer.fetch_backoff_ms, 50);
        Ok(())
    });
}

#[test]
fn an_apply_concurrency_of_zero_is_refused_with_its_key() {
    Jail::expect_with(|jail| {
        jail.clear_env();
        jail.set_env("SIGNALOPS_CONSUMER__GROUP_ID", "g");
        jail.set_env("SIGNALOPS_DATABASE__URL", "postgres://app:pw@127.0.0.1:5432/db");
        jail.set_env("SIGNALOPS_CONSUMER__APPLY_CONCURRENCY", "0");
        let err = load::<Sample>("sample").expect_err("nothing could be applied").to_string();
        assert!(err.contains("apply_concurrency"), "{err}");

        jail.set_env("SIGNALOPS_CONSUMER__APPLY_CONCURRENCY", "8");
        let config: Sample = load("sample").expect("valid");
        assert_eq!(config.consumer.apply_concurrency, 8);
        Ok(())
    });
}

/// Every configured piece of TLS/SASL reaches the clients: librdkafka's
/// `ClientConfig` and the tokio-postgres config with its TLS mode.
#[test]
fn kafka_and_postgres_tls_settings_reach_the_clients() {
    let ca = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/tls/ca.pem");
    Jail::expect_with(|jail| {
        jail.clear_env();
        jail.set_env("SIGNALOPS_CONSUMER__GROUP_ID", "g");
        jail.set_env("SIGNALOPS_KAFKA__BROKERS", "b-1.kafka.example:9096");
        jail.set_env("SIGNALOPS_KAFKA__SECURITY__PROTOCOL", "sasl_ssl");
        jail.set_env("SIGNALOPS_KAFKA__SECURITY__SASL_MECHANISM", "SCRAM-SHA-512");
        jail.set_env("SIGNALOPS_KAFKA__SECURITY__SASL_USERNAME", "signalops");
        jail.set_env("SIGNALOPS_KAFKA__SECURITY__SASL_PASSWORD", "kafka-hunter2");
        jail.set_env("SIGNALOPS_KAFKA__SECURITY__CA_FILE", ca);
        jail.set_env(
            "SIGNALOPS_DATABASE__URL",
            format!("postgres://app:pw@db.example:5432/signalops?sslmode=verify-full&sslrootcert={ca}"),
        );
        let config: Sample = load("sample").expect("valid");
        assert!(!format!("{config:?}").contains("kafka-hunter2"), "the SASL password is a Secret");

        let kafka = crate::kafka::base_client_config(&config.kafka, "t");
        for (key, value) in [
            ("security.protocol", "sasl_ssl"),
            ("sasl.mechanism", "SCRAM-SHA-512"),
            ("sasl.username", "signalops"),
            ("sasl.password", "kafka-hunter2"),
            ("ssl.ca.location", ca),
            ("ssl.endpoint.identification.algorithm", "https"),
        ] {
            assert_eq!(kafka.get(key), Some(value), "{key}");
        }

        let postgres = crate::postgres::ConnectionSettings::parse(config.database.url.expose()).expect("url");
        assert_eq!(postgres.config.get_ssl_mode(), tokio_postgres::config::SslMode::Require);
        assert_eq!(postgres.config.get_hosts(), [tokio_postgres::config::Host::Tcp("db.example".into())]);
        assert_eq!(postgres.tls.mode, crate::postgres::SslMode::VerifyFull);
        assert_eq!(postgres.tls.root_cert.as_deref(), Some(std::path::Path::new(ca)));
        crate::postgres::connect_pool(&config.database).expect("a pool with the TLS connector");
        Ok(())
    });
}

#[test]
fn tls_settings_that_cannot_work_are_refused_with_their_keys() {
    Jail::expect_with(|jail| {
        jail.clear_env();
        jail.set_env("SIGNALOPS_CONSUMER__GROUP_ID", "g");
        // SASL without credentials, a CA file that does not exist.
        jail.set_env("SIGNALOPS_KAFKA__SECURITY__PROTOCOL", "sasl_ssl");
        jail.set_env("SIGNALOPS_KAFKA__SECURITY__SASL_MECHANISM", "SCRAM-SHA-256");
        jail.set_env("SIGNALOPS_KAFKA__SECURITY__CA_FILE", "/nonexistent/ca.pem");
        // verify-full needs a CA file.
        jail.set_env("SIGNALOPS_DATABASE__URL", "postgres://app:pg-hunter2@db.example/signalops?sslmode=verify-full");
        let err = load::<Sample>("sample").expect_err("invalid").to_string();
        for key in ["kafka.security.sasl_username", "kafka.security.sasl_password", "kafka.security.ca_file", "database.url"] {
            assert!(err.contains(key), "{key} missing: {err}");
        }
        assert!(err.contains("SIGNALOPS_KAFKA__SECURITY__SASL_USERNAME"), "{err}");
        assert!(err.contains("sslrootcert"), "{err}");
        assert!(!err.contains("pg-hunter2"), "secret leaked: {err}");

        // PLAIN only over TLS; an unknown mechanism is a parse error naming the key.
        jail.set_env("SIGNALOPS_KAFKA__SECURITY__PROTOCOL", "sasl_plaintext");
        jail.set_env("SIGNALOPS_KAFKA__SECURITY__SASL_MECHANISM", "PLAIN");
        let err = load::<Sample>("sample").expect_err("invalid").to_string();
        assert!(err.contains("kafka.security.sasl_mechanism"), "{err}");
        jail.set_env("SIGNALOPS_KAFKA__SECURITY__SASL_MECHANISM", "GSSAPI");
        let err = load::<Sample>("sample").expect_err("invalid").to_string();
        assert!(err.contains("sasl_mechanism"), "{err}");
        Ok(())
    });
}

#[derive(Debug, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
struct KeysSample {
    api_keys: ApiKeySettings,
}

impl Validate for KeysSample {
    fn validate(&self) -> Vec<FieldProblem> {
        validate::nested("api_keys", self.api_keys.validate())
    }
}

#[test]
fn the_compose_development_pepper_is_refused_outside_dev() {
    Jail::expect_with(|jail| {
        jail.clear_env();
        jail.set_env("SIGNALOPS_API_KEYS__PEPPER", dev_defaults::DEV_PEPPER);
        jail.set_env("SIGNALOPS_API_KEYS__ENVIRONMENT", "dev");
        load::<KeysSample>("sample").expect("dev may use it");

        jail.set_env("SIGNALOPS_API_KEYS__ENVIRONMENT", "live");
        let err = load::<KeysSample>("sample").expect_err("refused").to_string();
        assert!(err.contains("api_keys.pepper") && err.contains("development default"), "{err}");
        assert!(!err.contains(dev_defaults::DEV_PEPPER), "never echo the secret: {err}");

        // The default environment is live, so leaving it unset refuses too.
        jail.clear_env();
        jail.set_env("SIGNALOPS_API_KEYS__PEPPER", dev_defaults::DEV_PEPPER);
        assert!(load::<KeysSample>("sample").is_err());
        Ok(())
    });
}

/// The constants are the values the compose file really ships.
#[test]
fn the_refused_defaults_are_the_ones_docker_compose_ships() {
    let compose = include_str!("../../../../docker-compose.kafka.yml");
    assert!(compose.contains(&format!("SIGNALOPS_API_KEYS__PEPPER:-{}}}", dev_defaults::DEV_PEPPER)));
    assert!(compose.contains(&format!(":{}}}", dev_defaults::DEV_JWT_SECRET)));
    assert!(compose.contains("SIGNALOPS_API_KEYS__ENVIRONMENT:-dev}"));
}
