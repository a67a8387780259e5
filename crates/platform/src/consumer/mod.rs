//! The consumer runtime: how every consumer group turns Kafka's at-least-once
//! delivery into an exactly-once *effect* in Postgres.
//!
//! Promises, and why they hold:
//! - **Exactly-once effect.** A batch's effect and the partition's
//!   `next_offset` are written in one Postgres transaction, which first locks
//!   the partition's offset row and skips records below the stored offset. A
//!   record's effect therefore commits at most once, whatever crashes,
//!   redeliveries, rebalances or zombie members do; and the runtime retries
//!   until it commits, so it commits at least once.
//! - **Resume where the effect stopped.** On assignment the runtime seeks each
//!   partition to the `next_offset` stored in Postgres (falling back to Kafka's
//!   committed offset, then `auto.offset.reset=earliest`).
//! - **True lag in Kafka tools.** Kafka offsets are committed only after the
//!   Postgres commit, so `kafka-consumer-groups --describe` never runs ahead;
//!   a commit the broker refuses is offered again until it is confirmed.
//! - **Poison records move aside.** A record the handler declares poison is
//!   written to the dead-letter topic with its original bytes, headers, group,
//!   partition, offset and error; the partition moves on.
//! - **Transient failures never skip.** A transient error rolls back, backs off
//!   and retries the same batch without advancing.
//! - **Order per partition.** Batches are applied while the poll thread
//!   keeps reading, several partitions at once, but never two batches of one
//!   partition: the fence skips records *below* the stored offset, so a batch
//!   that overtook its predecessor would hide it (ADR 0014).
//! - **Graceful drain.** On shutdown or revocation, buffered records are
//!   applied and offsets committed, within a deadline below the session timeout.

mod apply;
mod attempt;
mod backoff;
mod buffers;
mod context;
pub mod dead_letter;
mod error_class;
mod handler;
mod health;
mod in_flight;
mod kafka_commits;
pub mod offsets;
mod record;
mod redrive;
mod runtime;

pub use dead_letter::DeadLetterSink;
pub use deadpool_postgres::Transaction;
pub use error_class::ErrorClass;
pub use handler::{BatchHandler, HandlerError};
pub use health::ConsumerHealth;
pub use record::Record;
pub use runtime::{ConsumerRuntime, RuntimeError};
