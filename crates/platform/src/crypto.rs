//! The process's TLS crypto provider. Every TLS client here (Postgres,
//! Kafka-facing HTTP, OTLP export, deliveries) uses rustls on ring; an
//! HTTP client built without its own TLS configuration takes the process
//! default, so it is installed before any client is built.

/// Installs ring as the process default; harmless when one is installed.
pub fn install_default_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
