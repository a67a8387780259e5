//! Ingestion: backends append events over HTTP; the receipt is sent only
//! after Kafka acknowledged the append (`acks=all`).
//!
//! Built so far: one JSON event or a JSON array (batch), client ids
//! deduplicated per tenant, per-key rate limits. CloudEvents and NDJSON
//! bodies are still to come (issue 4).

pub mod event_input;
pub mod idempotency;
pub mod pipeline;
pub mod rate_limit;
pub mod routes;
