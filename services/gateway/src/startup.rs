//! Building the gateway: bind first (port 0 picks a free port, recorded in
//! `port`) so tests can start it in-process, then serve.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_cors::Cors;
use actix_web::dev::Server;
use actix_web::{App, HttpResponse, HttpServer, middleware, web};
use anyhow::Context as _;
use signalops_platform::http::{KafkaReadiness, PostgresReadiness, Readiness, configure_health, request_telemetry};
use signalops_platform::kafka::EventProducer;
use signalops_platform::service;
use signalops_platform::shutdown::CancellationToken;
use signalops_platform::telemetry::{self, TelemetryGuard};
use utoipa::OpenApi;
use utoipa_actix_web::AppExt;
use utoipa_swagger_ui::SwaggerUi;

use crate::api_keys::ApiKeyVerifier;
use crate::auth::jwt::JwtKeys;
use crate::auth::rate_limit::LoginLimiter;
use crate::extract::JsonLimit;
use crate::openapi::ApiDoc;
use crate::problem::{ApiError, from_actix};
use crate::security_headers::{docs_policy, security_headers};
use crate::state::AppState;
use crate::{GatewayConfig, api_keys, audit, auth, channels, event_schemas, ingest, invitations, members, query, rules, tail, tenant};

pub struct Application {
    port: u16,
    server: Server,
    producer: EventProducer,
    _telemetry: TelemetryGuard,
}

impl Application {
    pub async fn build(config: GatewayConfig) -> anyhow::Result<Self> {
        let telemetry = telemetry::init("gateway", &config.telemetry)?;
        let pool = service::connect_checked_pool(&config.database).await?;
        signalops_platform::kafka::check_broker(&config.kafka, Duration::from_secs(10))
            .await
            .with_context(|| format!("cannot reach Kafka at {}; is the stack up? (make stack-up)", config.kafka.brokers))?;
        let producer = EventProducer::new(&config.kafka, "gateway")?;
        let listener = TcpListener::bind((config.http.host.as_str(), config.http.port))
            .with_context(|| format!("cannot listen on {}:{} (http.port)", config.http.host, config.http.port))?;
        let port = listener.local_addr()?.port();
        let jwt = web::Data::new(JwtKeys::from_settings(&config.auth)?);
        let channel_keys = config.channels.keyring().context("channels.secret_keys")?;
        let state = web::Data::new(AppState {
            channel_keys,
            pool: pool.clone(),
            producer: producer.clone(),
            login_limiter: LoginLimiter::new(config.auth.login_attempts_per_minute_per_email, config.auth.login_attempts_per_minute_per_ip),
            outbox: Arc::new(tokio::sync::Notify::new()),
            schemas: crate::event_schemas::SchemaRegistry::new(pool.clone(), Duration::from_secs(5)),
            ingest_limiter: crate::ingest::rate_limit::IngestLimiter::new(
                config.ingest.rate_limit_per_second,
                config.ingest.rate_limit_burst,
            ),
            tail_streams: crate::tail::limits::StreamLimits::new(config.ingest.tail_max_streams_per_tenant, config.ingest.tail_max_streams),
            config: Arc::new(config),
        });
        crate::system_events::spawn_relay(pool.clone(), producer.clone(), state.config.kafka.topics.events.clone(), state.outbox.clone());
        let verifier = web::Data::from(ApiKeyVerifier::start(pool.clone(), &state.config.api_keys));
        spawn_housekeeping(state.clone());
        let server = serve(listener, state, jwt, verifier)?;
        tracing::info!(port, "gateway listening");
        Ok(Self { port, server, producer, _telemetry: telemetry })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until `shutdown`, then stops accepting, finishes in-flight
    /// requests and flushes the producer.
    pub async fn run_until_stopped(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let handle = self.server.handle();
        let server = tokio::spawn(self.server);
        shutdown.cancelled().await;
        handle.stop(true).await;
        server.await.context("server task")?.context("server")?;
        let producer = self.producer;
        tokio::task::spawn_blocking(move || producer.flush(Duration::from_secs(10))).await.context("flush task")??;
        Ok(())
    }
}

fn spawn_housekeeping(state: web::Data<AppState>) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(60));
        loop {
            tick.tick().await;
            state.login_limiter.forget_idle();
            state.ingest_limiter.forget_idle();
        }
    });
}

fn cors(origins: &[String]) -> Cors {
    let mut cors = Cors::default()
        .allowed_methods(["GET", "POST", "PATCH", "PUT", "DELETE"])
        .allowed_headers(["authorization", "content-type", "x-api-key", "x-request-id", "idempotency-key"])
        .expose_headers(["x-request-id", "retry-after", "ratelimit-limit", "ratelimit-remaining", "ratelimit-reset"])
        .max_age(600);
    for origin in origins {
        cors = if origin == "*" { cors.allow_any_origin() } else { cors.allowed_origin(origin) };
    }
    cors
}

fn serve(
    listener: TcpListener,
    state: web::Data<AppState>,
    jwt: web::Data<JwtKeys>,
    verifier: web::Data<ApiKeyVerifier>,
) -> anyhow::Result<Server> {
    let readiness =
        Readiness::new(vec![Arc::new(PostgresReadiness(state.pool.clone())), Arc::new(KafkaReadiness(state.config.kafka.clone()))]);
    let origins = state.config.api.cors_origin_list();
    let json_limit = web::Data::new(JsonLimit(state.config.api.json_body_limit));
    let server = HttpServer::new(move || {
        let (app, api) = App::new()
            .into_utoipa_app()
            .openapi(ApiDoc::openapi())
            .app_data(state.clone())
            .app_data(jwt.clone())
            .app_data(verifier.clone())
            .app_data(json_limit.clone())
            .app_data(web::PathConfig::default().error_handler(|e, _| from_actix(e)))
            .app_data(web::QueryConfig::default().error_handler(|e, _| from_actix(e)))
            .service(utoipa_actix_web::scope::scope("/v1").configure(configure_v1))
            .service(ingest::routes::ingest_events_prototype_path)
            .split_for_parts();
        let api = crate::openapi::finish(api);
        let spec = web::Data::new(api.clone());
        app.wrap(middleware::from_fn(crate::request_guard::catch_panics))
            .wrap(middleware::from_fn(crate::request_guard::refuse_nul_in_url))
            .wrap(middleware::from_fn(docs_policy))
            .wrap(cors(&origins))
            .wrap(security_headers())
            .wrap(middleware::Compress::default())
            .wrap(middleware::from_fn(request_telemetry))
            .configure(configure_health(readiness.clone()))
            .app_data(spec)
            .route("/openapi.json", web::get().to(openapi_json))
            .service(SwaggerUi::new("/docs/{_:.*}").url("/docs/openapi.json", api))
            .default_service(web::to(not_found))
    })
    // A client that closes its side is gone: without this, actix keeps
    // serving a streaming response (the live tail) until a write fails, up
    // to two heartbeats later, and the stream's consumer and slot with it.
    .h1_allow_half_closed(false)
    .disable_signals()
    .listen(listener)?
    .run();
    Ok(server)
}

/// Every operation under `/v1`, in the order actix tries them.
pub(crate) fn configure_v1(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    // Ingest first: actix tries resources in order, and every pattern with a
    // `{param}` ahead of it costs a regex match on the hottest path.
    cfg.configure(ingest::routes::configure)
        .configure(auth::routes::configure)
        .configure(tenant::configure)
        .configure(members::routes::configure)
        .configure(invitations::routes::configure)
        .configure(api_keys::routes::configure)
        .configure(event_schemas::routes::configure)
        .configure(rules::configure)
        .configure(channels::configure)
        .configure(tail::routes::configure)
        // After the tail: `/events/stream` must win over `/events/{id}`.
        .configure(query::configure)
        .service(audit::list_audit_log);
}

async fn openapi_json(spec: web::Data<utoipa::openapi::OpenApi>) -> HttpResponse {
    HttpResponse::Ok().content_type("application/json").body(spec.to_pretty_json().unwrap_or_default())
}

async fn not_found() -> Result<HttpResponse, ApiError> {
    Err(ApiError::NotFound)
}
