//! `/livez` says the process is up and checks nothing external; `/readyz`
//! checks Kafka and Postgres; `/metrics` is the Prometheus exposition.

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
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

/// The checks `/readyz` runs.
#[derive(Clone, Default)]
pub struct Readiness {
    checks: Vec<Arc<dyn ReadinessCheck>>,
}

impl Readiness {
    pub fn new(checks: Vec<Arc<dyn ReadinessCheck>>) -> Self {
        Self { checks }
    }
}

async fn livez() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

async fn readyz(readiness: web::Data<Readiness>) -> HttpResponse {
    let results = futures::future::join_all(readiness.checks.iter().map(|c| async move {
        match tokio::time::timeout(Duration::from_secs(3), c.check()).await {
            Ok(Ok(())) => (c.name(), None),
            Ok(Err(error)) => (c.name(), Some(error)),
            Err(_) => (c.name(), Some("timed out".to_owned())),
        }
    }))
    .await;
    let ready = results.iter().all(|(_, e)| e.is_none());
    let checks: serde_json::Map<String, serde_json::Value> = results
        .into_iter()
        .map(|(name, error)| {
            let value = match error {
                None => json!({"status": "ok"}),
                Some(error) => {
                    tracing::warn!(check = name, %error, "readiness check failed");
                    json!({"status": "failing"})
                }
            };
            (name.to_owned(), value)
        })
        .collect();
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
