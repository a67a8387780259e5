//! Building the gateway: bind first (port 0 picks a free port, recorded in
//! `port`) so tests can start it in-process, then serve.

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::{App, HttpServer, middleware, web};
use anyhow::Context as _;
use signalops_platform::http::{KafkaReadiness, PostgresReadiness, Readiness, configure_health, request_telemetry};
use signalops_platform::postgres::Pool;
use signalops_platform::service;
use signalops_platform::shutdown::CancellationToken;
use signalops_platform::telemetry::{self, TelemetryGuard};

use crate::GatewayConfig;

pub struct Application {
    port: u16,
    server: Server,
    _telemetry: TelemetryGuard,
}

impl Application {
    pub async fn build(config: GatewayConfig) -> anyhow::Result<Self> {
        let telemetry = telemetry::init("gateway", &config.telemetry)?;
        let pool = service::connect_checked_pool(&config.database).await?;
        signalops_platform::kafka::check_broker(&config.kafka, std::time::Duration::from_secs(10))
            .await
            .with_context(|| format!("cannot reach Kafka at {}; is the stack up? (make stack-up)", config.kafka.brokers))?;
        let listener = TcpListener::bind((config.http.host.as_str(), config.http.port))
            .with_context(|| format!("cannot listen on {}:{} (http.port)", config.http.host, config.http.port))?;
        let port = listener.local_addr()?.port();
        let server = serve(listener, pool, &config)?;
        tracing::info!(port, "gateway listening");
        Ok(Self { port, server, _telemetry: telemetry })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until `shutdown`, then stops accepting and finishes in-flight requests.
    pub async fn run_until_stopped(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let handle = self.server.handle();
        let server = tokio::spawn(self.server);
        shutdown.cancelled().await;
        handle.stop(true).await;
        server.await.context("server task")?.context("server")?;
        Ok(())
    }
}

fn serve(listener: TcpListener, pool: Pool, config: &GatewayConfig) -> anyhow::Result<Server> {
    let readiness = Readiness::new(vec![Arc::new(PostgresReadiness(pool.clone())), Arc::new(KafkaReadiness(config.kafka.clone()))]);
    let pool = web::Data::new(pool);
    let server = HttpServer::new(move || {
        App::new()
            .wrap(middleware::from_fn(request_telemetry))
            .wrap(middleware::Compress::default())
            .app_data(pool.clone())
            .configure(configure_health(readiness.clone()))
    })
    .disable_signals()
    .listen(listener)?
    .run();
    Ok(server)
}
