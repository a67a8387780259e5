//! `/livez` says the process is up and checks nothing external; `/readyz`
//! checks Kafka and Postgres; `/metrics` is the Prometheus exposition.

use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use actix_web::dev::ServerHandle;
use actix_web::{App, HttpResponse, HttpServer, web};
use async_trait::async_trait;
use deadpool_postgres::Pool;
use serde_json::json;

use crate::config::{HttpSettings, KafkaSettings};
use crate::kafka::check_broker;
use crate::metrics;

#[async_trait]
pub trait ReadinessCheck: Send + Sync {
    fn name(&self) -> &'static str;
    async fn check(&self) -> Result<(), String>;
    /// Whether a failure's message may appear in the `/readyz` body; by
    /// default it goes to the log only (it may name hosts or users).
    fn public_detail(&self) -> bool {
        false
    }
}

pub struct PostgresReadiness(pub Pool);

#[async_trait]
impl ReadinessCheck for PostgresReadiness {
    fn name(&self) -> &'static str {
        "postgres"
    }

    async fn check(&self) -> Result<(), String> {
        let client = self.0.get().await.map_err(|e| e.to_string())?;
        client.simple_query("SELECT 1").await.map(|_| ()).map_err(|e| e.to_string())
    }
}

pub struct KafkaReadiness(pub KafkaSettings);

#[async_trait]
impl ReadinessCheck for KafkaReadiness {
    fn name(&self) -> &'static str {
        "kafka"
    }

    async fn check(&self) -> Result<(), String> {
        check_broker(&self.0, Duration::from_secs(2)).await.map(|_| ()).map_err(|e| e.to_string())
    }
}

/// The checks `/readyz` runs. Consumer services add one per running
/// consumer group member, and take it away when the member stops.
#[derive(Clone, Default)]
pub struct Readiness {
    checks: Arc<RwLock<Vec<Arc<dyn ReadinessCheck>>>>,
}

impl Readiness {
    pub fn new(checks: Vec<Arc<dyn ReadinessCheck>>) -> Self {
        Self { checks: Arc::new(RwLock::new(checks)) }
    }

    pub fn add(&self, check: Arc<dyn ReadinessCheck>) {
        self.checks.write().unwrap_or_else(std::sync::PoisonError::into_inner).push(check);
    }

    pub fn remove(&self, check: &Arc<dyn ReadinessCheck>) {
        self.checks.write().unwrap_or_else(std::sync::PoisonError::into_inner).retain(|c| !Arc::ptr_eq(c, check));
    }

    fn current(&self) -> Vec<Arc<dyn ReadinessCheck>> {
        self.checks.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }
}

async fn livez() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

async fn readyz(readiness: web::Data<Readiness>) -> HttpResponse {
    let checks = readiness.current();
    let results = futures::future::join_all(checks.iter().map(|c| async move {
        match tokio::time::timeout(Duration::from_secs(3), c.check()).await {
            Ok(Ok(())) => (c, None),
            Ok(Err(error)) => (c, Some(error)),
            Err(_) => (c, Some("timed out".to_owned())),
        }
    }))
    .await;
    let ready = results.iter().all(|(_, e)| e.is_none());
    let mut checks = serde_json::Map::new();
    for (check, error) in results {
        let value = match error {
            None => json!({"status": "ok"}),
            Some(error) => {
                tracing::warn!(check = check.name(), %error, "readiness check failed");
                if check.public_detail() { json!({"status": "failing", "detail": error}) } else { json!({"status": "failing"}) }
            }
        };
        // Several members of one kind (consumer groups) report under one name.
        match checks.get_mut(check.name()) {
            Some(existing) if existing["status"] == "ok" => *existing = value,
            Some(existing) => {
                if let (Some(detail), Some(more)) =
                    (existing.get("detail").and_then(|d| d.as_str()), value.get("detail").and_then(|d| d.as_str()))
                {
                    existing["detail"] = json!(format!("{detail}; {more}"));
                }
            }
            None => {
                checks.insert(check.name().to_owned(), value);
            }
        }
    }
    let body = json!({"status": if ready { "ok" } else { "failing" }, "checks": checks});
    if ready { HttpResponse::Ok().json(body) } else { HttpResponse::ServiceUnavailable().json(body) }
}

async fn metrics_text() -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain; version=0.0.4").body(metrics::render())
}

/// Mounts the three endpoints on an app (the gateway serves them on its API port).
pub fn configure_health(readiness: Readiness) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        cfg.app_data(web::Data::new(readiness))
            .route("/livez", web::get().to(livez))
            .route("/readyz", web::get().to(readyz))
            .route("/metrics", web::get().to(metrics_text));
    }
}

/// A small server with only the health endpoints (consumer services).
pub struct HealthServer {
    pub local_addr: SocketAddr,
    handle: ServerHandle,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl HealthServer {
    pub async fn stop(self) {
        self.handle.stop(true).await;
        let _ = self.task.await;
    }
}

/// Binds first (port 0 gives a free port, recorded in `local_addr`), then serves.
pub fn start_health_server(settings: &HttpSettings, readiness: Readiness) -> std::io::Result<HealthServer> {
    let listener = TcpListener::bind((settings.host.as_str(), settings.port))?;
    let local_addr = listener.local_addr()?;
    let server = HttpServer::new(move || {
        App::new().wrap(actix_web::middleware::from_fn(super::request_telemetry)).configure(configure_health(readiness.clone()))
    })
    .workers(1)
    .disable_signals()
    .listen(listener)?
    .run();
    let handle = server.handle();
    let task = tokio::spawn(server);
    Ok(HealthServer { local_addr, handle, task })
}
