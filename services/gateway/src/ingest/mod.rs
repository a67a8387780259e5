//! Ingestion: backends append events over HTTP; the receipt is sent only
//! after Kafka acknowledged the append (`acks=all`).
//!
//! Built so far: one JSON event per request. Batches, CloudEvents, NDJSON
//! streams, idempotent client ids, rate limits and the live tail are issue 4.

pub mod event_input;
pub mod routes;
