//! Attaching to the running test stack.

use std::path::PathBuf;
use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use signalops_platform::config::{DatabaseSettings, KafkaSettings, Secret};
use signalops_platform::postgres;

/// Connection details of the running stack.
#[derive(Debug, Clone)]
pub struct TestStack {
    pub brokers: String,
    pub app_url: String,
    pub owner_url: String,
    pub superuser_url: String,
}

/// A database of its own for one test, already migrated.
#[derive(Debug, Clone)]
pub struct TestDatabase {
    pub name: String,
    pub app_url: String,
    pub owner_url: String,
    pub superuser_url: String,
}

impl TestStack {
    /// Reads the stack's connection details from the environment, or from the
    /// env file the stack script writes (`$SIGNALOPS_STACK_DIR/env`, default
    /// `.stack/test/env`).
    #[allow(clippy::panic)]
    pub fn attach() -> Self {
        // Tests build HTTP clients of their own.
        signalops_platform::crypto::install_default_provider();
        let file = env_file_values();
        let get = |key: &str| -> String {
            std::env::var(key).ok().or_else(|| file.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone())).unwrap_or_else(|| {
                panic!(
                    "{key} is not set and no stack env file was found: start the test stack with `make test-stack-up` (or run `make test`)"
                )
            })
        };
        Self {
            brokers: get("SIGNALOPS_KAFKA_BROKERS"),
            app_url: get("SIGNALOPS_DATABASE_URL"),
            owner_url: get("SIGNALOPS_DATABASE_OWNER_URL"),
            superuser_url: get("SIGNALOPS_DATABASE_SUPERUSER_URL"),
        }
    }

    pub fn kafka_settings(&self) -> KafkaSettings {
        KafkaSettings { brokers: self.brokers.clone(), ..KafkaSettings::default() }
    }

    /// Creates and migrates a new database owned by the owner role.
    pub async fn fresh_database(&self) -> anyhow::Result<TestDatabase> {
        let database = self.empty_database().await?;
        postgres::migrate(&database.owner_url).await?;
        Ok(database)
    }

    /// Creates a new, empty database (for migration tests).
    pub async fn empty_database(&self) -> anyhow::Result<TestDatabase> {
        let name = format!("signalops_test_{}", uuid::Uuid::new_v4().simple());
        let owner = postgres::connect_one(&self.owner_url).await?;
        owner.batch_execute(&format!("CREATE DATABASE {name}")).await?;
        Ok(TestDatabase {
            app_url: with_database(&self.app_url, &name),
            owner_url: with_database(&self.owner_url, &name),
            superuser_url: with_database(&self.superuser_url, &name),
            name,
        })
    }

    /// Creates a topic with a random name.
    pub async fn topic(&self, prefix: &str, partitions: i32) -> anyhow::Result<String> {
        let name = format!("test.{prefix}.{}", uuid::Uuid::new_v4().simple());
        self.create_topic(&name, partitions).await?;
        Ok(name)
    }

    /// Creates the topic `name` (for a test that first runs without it).
    pub async fn create_topic(&self, name: &str, partitions: i32) -> anyhow::Result<()> {
        let admin: AdminClient<DefaultClientContext> = rdkafka::ClientConfig::new().set("bootstrap.servers", &self.brokers).create()?;
        let topic = NewTopic::new(name, partitions, TopicReplication::Fixed(1));
        let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
        for result in admin.create_topics([&topic], &options).await? {
            result.map_err(|(topic, code)| anyhow::anyhow!("creating topic {topic}: {code}"))?;
        }
        Ok(())
    }
}

impl TestDatabase {
    pub fn settings(&self) -> DatabaseSettings {
        DatabaseSettings { url: Secret::new(self.app_url.clone()), pool_max_size: 8, ..DatabaseSettings::default() }
    }

    pub async fn owner(&self) -> anyhow::Result<tokio_postgres::Client> {
        Ok(postgres::connect_one(&self.owner_url).await?)
    }

    pub async fn superuser(&self) -> anyhow::Result<tokio_postgres::Client> {
        Ok(postgres::connect_one(&self.superuser_url).await?)
    }

    pub async fn app(&self) -> anyhow::Result<tokio_postgres::Client> {
        Ok(postgres::connect_one(&self.app_url).await?)
    }
}

fn with_database(url: &str, database: &str) -> String {
    match url.rsplit_once('/') {
        Some((base, _)) => format!("{base}/{database}"),
        None => url.to_owned(),
    }
}

fn env_file_values() -> Vec<(String, String)> {
    let dir = std::env::var_os("SIGNALOPS_STACK_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.stack/test"));
    let Ok(text) = std::fs::read_to_string(dir.join("env")) else { return Vec::new() };
    text.lines()
        .filter_map(|line| line.trim().strip_prefix("export "))
        .filter_map(|assignment| assignment.split_once('='))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().trim_matches(|c| c == '"' || c == '\'').to_owned()))
        .collect()
}
