//! What every SignalOps service stands on: configuration, telemetry,
//! Postgres (pool, tenant transactions, migrations, RLS safety check), Kafka
//! (producer, topics), the consumer runtime, health endpoints and shutdown.

pub mod api_keys;
pub mod config;
pub mod consumer;
pub mod crypto;
pub mod email;
pub mod http;
pub mod ids;
pub mod kafka;
pub mod metrics;
pub mod postgres;
pub mod read_models;
pub mod service;
pub mod shutdown;
pub mod system_events;
pub mod telemetry;
pub mod trace_context;

pub use ids::TenantId;
