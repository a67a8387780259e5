//! The live tail of a tenant's events as Server-Sent Events
//! (`GET /v1/events/stream`).
//!
//! Promises, and why they hold:
//! - **Only the caller's tenant.** Every record is decoded and its envelope's
//!   `tenant_id` compared with the caller's before it becomes a frame; the
//!   record key (also the tenant id) is only a cheap pre-filter.
//! - **No shared state in Kafka.** Each connection has its own consumer with a
//!   unique `group.id`, partitions `assign`ed explicitly and no commits, so a
//!   tail never moves any consumer group's offsets.
//! - **Bounded memory.** The consumer feeds the response through a bounded
//!   channel; a slow client blocks the consumer instead of growing a buffer.
//! - **Stops with the client.** When the response stream is dropped the
//!   channel closes, the consumer thread sees it and drops the consumer.
//! - **Only while the credential holds.** The stream re-checks its API key
//!   or the person's membership every `api_keys.cache_ttl_secs` and ends at
//!   the access token's expiry, with a last `signalops:stream-closed` frame
//!   that says why ([`recheck`]).
//! - **Bounded streams.** A stream needs a slot of [`limits`] (per tenant and
//!   per instance) before its consumer is created; the consumer thread holds
//!   the slot until it stops, so a disconnect frees it.

pub(crate) mod auth;
mod frame;
pub mod limits;
mod position;
mod reader;
pub mod recheck;
pub mod routes;
