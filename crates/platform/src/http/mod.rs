//! HTTP pieces every service shares: `/livez`, `/readyz`, `/metrics`.

mod health;
mod request_telemetry;

pub use health::{HealthServer, KafkaReadiness, PostgresReadiness, Readiness, ReadinessCheck, configure_health, start_health_server};
pub use request_telemetry::{REQUEST_ID_HEADER, RequestId, request_telemetry};
