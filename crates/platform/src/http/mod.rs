//! HTTP pieces every service shares: `/livez`, `/readyz`, `/metrics`.

mod health;

pub use health::{HealthServer, KafkaReadiness, PostgresReadiness, Readiness, ReadinessCheck, configure_health, start_health_server};
