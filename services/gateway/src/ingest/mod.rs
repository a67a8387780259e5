//! Ingestion: backends append events over HTTP; the receipt is sent only
//! after Kafka acknowledged the append (`acks=all`).
//!
//! Body forms: one JSON event or a JSON array (batch), CloudEvents 1.0
//! (structured, batch, binary), client ids deduplicated per tenant, per-key
//! rate limits, and NDJSON uploads streamed with one result line per line.

pub mod cloudevents;
pub mod event_input;
pub mod idempotency;
pub mod ndjson;
pub mod pipeline;
pub mod rate_limit;
pub mod routes;
pub mod schema_check;
