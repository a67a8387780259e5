//! Starting a gateway for a test and talking to it.
#![allow(dead_code)] // each test file uses a different subset

use reqwest::{Method, Response, StatusCode};
use serde_json::{Value, json};
use signalops_gateway::{Application, GatewayConfig};
use signalops_platform::config::{ApiKeySettings, DatabaseSettings, LogFormat, Secret, TelemetrySettings};
use signalops_platform::shutdown::CancellationToken;
use signalops_testkit::{TestDatabase, TestStack};

pub const PEPPER: &str = "test-pepper-0123456789abcdef0123456789";
/// Sealing keys for channel credentials: `k1` seals, `k0` still opens.
pub const CHANNEL_KEYS: &str = "k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=,k0:HyAhIiMkJSYnKCkqKywtLi8wMTIzNDU2Nzg5Ojs8PT4=";
/// The webhook channel every tenant signed up here has, so the rules of the
/// tests (which notify `ops`) validate.
pub const OPS_CHANNEL: &str = "ops";
pub const JWT_KEYS: &str = "t1:test-jwt-secret-0123456789abcdef0123456789";
pub const PASSWORD: &str = "violet-harbour-lantern-42";

pub struct TestApp {
    pub address: String,
    pub db: TestDatabase,
    pub stack: TestStack,
    pub client: reqwest::Client,
    pub config: GatewayConfig,
    stop: CancellationToken,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// A person signed up through the API, with their tokens.
#[derive(Debug, Clone)]
pub struct Person {
    pub email: String,
    pub user_id: String,
    pub tenant_id: String,
    pub access_token: String,
    pub refresh_token: String,
}

pub fn test_config(stack: &TestStack, db: &TestDatabase) -> GatewayConfig {
    let mut auth = signalops_gateway::config::AuthSettings { jwt_keys: Secret::new(JWT_KEYS), ..Default::default() };
    // Fast hashing keeps the suite quick; the cost is a setting (default 12).
    auth.bcrypt_cost = 4;
    // Every test request comes from 127.0.0.1: the per-IP login budget is
    // tested on its own (auth.rs), not a limit for the suite.
    auth.login_attempts_per_minute_per_ip = 100_000;
    GatewayConfig {
        kafka: stack.kafka_settings(),
        database: DatabaseSettings { url: Secret::new(db.app_url.clone()), pool_max_size: 8, ..DatabaseSettings::default() },
        telemetry: TelemetrySettings { level: "warn".into(), format: LogFormat::Json, otlp_endpoint: None },
        auth,
        api_keys: ApiKeySettings {
            pepper: Secret::new(PEPPER),
            environment: "test".into(),
            cache_ttl_secs: 1,
            negative_cache_ttl_secs: 1,
            // Every test request comes from 127.0.0.1, as for sign-in: the
            // failure budget is tested on its own (api_keys.rs).
            failed_auth_per_minute_per_ip: 100_000,
        },
        channels: signalops_notify_store::settings::ChannelSettings {
            secret_keys: Secret::new(CHANNEL_KEYS),
            ..signalops_notify_store::settings::ChannelSettings::default()
        },
        ..GatewayConfig::default()
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

pub async fn spawn_app_with(adjust: impl FnOnce(&mut GatewayConfig)) -> TestApp {
    let stack = TestStack::attach();
    let db = stack.fresh_database().await.expect("database");
    let mut config = test_config(&stack, &db);
    config.http.port = 0;
    // System events go to a topic of this test's own.
    config.kafka.topics.events = stack.topic("events", 3).await.expect("events topic");
    adjust(&mut config);
    // Port 0 for this instance; remember the real settings for second_instance.
    let application = Application::build(config.clone()).await.expect("gateway builds");
    let address = format!("http://127.0.0.1:{}", application.port());
    let stop = CancellationToken::new();
    let stopped = stop.clone();
    tokio::spawn(async move { application.run_until_stopped(stopped).await });
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
    TestApp { address, db, stack, client, config, stop }
}

impl TestApp {
    /// Every record on this app's events topic (3 partitions), decoded.
    pub fn system_events(&self) -> Vec<signalops_proto::Event> {
        use rdkafka::consumer::{BaseConsumer, Consumer};
        use rdkafka::message::Message;
        use signalops_proto::Message as _;
        let topic = &self.config.kafka.topics.events;
        let consumer: BaseConsumer = rdkafka::ClientConfig::new()
            .set("bootstrap.servers", &self.stack.brokers)
            .set("group.id", format!("reader-{}", uuid::Uuid::new_v4().simple()))
            .create()
            .expect("reader");
        let mut tpl = rdkafka::TopicPartitionList::new();
        let mut expected = 0;
        for partition in 0..3 {
            let (low, high) = consumer.fetch_watermarks(topic, partition, std::time::Duration::from_secs(5)).expect("watermarks");
            expected += high - low;
            tpl.add_partition_offset(topic, partition, rdkafka::Offset::Beginning).expect("tpl");
        }
        consumer.assign(&tpl).expect("assign");
        let mut events = Vec::new();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while (events.len() as i64) < expected && std::time::Instant::now() < deadline {
            if let Some(Ok(message)) = consumer.poll(std::time::Duration::from_millis(200)) {
                events.push(signalops_proto::Event::decode(message.payload().unwrap_or_default()).expect("envelope"));
            }
        }
        events
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// A JSON request with an optional bearer token.
    pub async fn call(&self, method: Method, path: &str, token: Option<&str>, body: Option<Value>) -> Response {
        let mut request = self.client.request(method, self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        request.send().await.expect("request sent")
    }

    pub async fn signup(&self, email: &str, tenant_name: &str) -> Person {
        let response = self
            .call(Method::POST, "/v1/auth/signup", None, Some(json!({"email": email, "password": PASSWORD, "tenant_name": tenant_name})))
            .await;
        let (status, body) = status_and_json(response).await;
        assert_eq!(status, StatusCode::CREATED, "signup: {body}");
        let person = person_from(email, &body);
        let channel = json!({"id": OPS_CHANNEL, "kind": "webhook", "config": {"url": "http://127.0.0.1:9/ops"}});
        let (status, body) =
            status_and_json(self.call(Method::POST, "/v1/channels", Some(&person.access_token), Some(channel)).await).await;
        assert_eq!(status, StatusCode::CREATED, "the ops channel: {body}");
        person
    }

    /// Adds a person with `role` to a tenant directly in the database (as
    /// the superuser, bypassing the API) and signs them in.
    pub async fn add_member(&self, tenant_id: &str, role: &str) -> Person {
        let email = unique_email(role);
        let hash = bcrypt::hash(PASSWORD, 4).expect("hash");
        let user_id = uuid::Uuid::now_v7();
        let tenant: uuid::Uuid = tenant_id.parse().expect("tenant id");
        let db = self.db.superuser().await.expect("superuser");
        db.execute("INSERT INTO users (id, email, password_hash) VALUES ($1, $2, $3)", &[&user_id, &email, &hash]).await.expect("user");
        db.execute("INSERT INTO memberships (tenant_id, user_id, role) VALUES ($1, $2, $3)", &[&tenant, &user_id, &role])
            .await
            .expect("membership");
        self.login(&email, Some(tenant_id)).await
    }

    /// Another gateway instance on the same database and topics.
    pub async fn second_instance(&self) -> TestApp {
        let config = self.config.clone();
        let application = Application::build(config.clone()).await.expect("gateway builds");
        let address = format!("http://127.0.0.1:{}", application.port());
        let stop = CancellationToken::new();
        let stopped = stop.clone();
        tokio::spawn(async move { application.run_until_stopped(stopped).await });
        TestApp { address, db: self.db.clone(), stack: self.stack.clone(), client: self.client.clone(), config, stop }
    }

    pub async fn login(&self, email: &str, tenant_id: Option<&str>) -> Person {
        let mut body = json!({"email": email, "password": PASSWORD});
        if let Some(tenant) = tenant_id {
            body["tenant_id"] = json!(tenant);
        }
        let (status, body) = status_and_json(self.call(Method::POST, "/v1/auth/login", None, Some(body)).await).await;
        assert_eq!(status, StatusCode::OK, "login: {body}");
        person_from(email, &body)
    }
}

/// Reads the status and the JSON body (Null when the body is empty).
pub async fn status_and_json(response: Response) -> (StatusCode, Value) {
    let status = response.status();
    let bytes = response.bytes().await.expect("body");
    let value = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap_or(Value::String(String::from_utf8_lossy(&bytes).into_owned()))
    };
    (status, value)
}

/// Asserts a problem+json response with the given status and `type` slug.
pub async fn assert_problem(response: Response, status: StatusCode, slug: &str) -> Value {
    let content_type = response.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    let (actual, body) = status_and_json(response).await;
    assert_eq!(actual, status, "body: {body}");
    assert_eq!(content_type, "application/problem+json", "body: {body}");
    assert_eq!(body["type"], format!("https://signalops.dev/problems/{slug}"), "body: {body}");
    assert_eq!(body["status"], status.as_u16());
    body
}

pub fn person_from(email: &str, body: &Value) -> Person {
    let text = |key: &str| body[key].as_str().unwrap_or_else(|| panic!("{key} missing in {body}")).to_owned();
    Person {
        email: email.to_owned(),
        user_id: text("user_id"),
        tenant_id: text("tenant_id"),
        access_token: text("access_token"),
        refresh_token: text("refresh_token"),
    }
}

pub fn unique_email(name: &str) -> String {
    format!("{name}.{}@example.com", uuid::Uuid::new_v4().simple())
}
