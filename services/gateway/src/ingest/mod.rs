//! Ingestion: backends append events over HTTP; the receipt is sent only
//! after Kafka acknowledged the append (`acks=all`).
//!
//! Built so far: one JSON event or a JSON array (batch), CloudEvents 1.0
//! (structured, batch, binary), client ids deduplicated per tenant, per-key
//! rate limits. NDJSON streams are still to come (issue 4).

pub mod cloudevents;
pub mod event_input;
pub mod idempotency;
pub mod pipeline;
pub mod rate_limit;
pub mod routes;
