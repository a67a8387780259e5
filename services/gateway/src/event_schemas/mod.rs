//! Per-tenant JSON Schemas for the data of event types: registered through
//! `/v1/event-schemas`, enforced on ingest.

pub mod registry;
pub mod routes;

pub use registry::SchemaRegistry;
