//! Stored rules, shared by the gateway (which writes them) and the services
//! that read them.
//!
//! Promises, and why they hold:
//! - **Only the transaction's tenant.** Every function takes a transaction
//!   opened with `signalops_platform::postgres::begin_tenant_tx`; row-level
//!   security (FORCE) filters and checks every row against its tenant.
//! - **Versions are immutable.** Creating a rule writes version 1; an update
//!   writes the next version and moves `rules.current_version` in the same
//!   transaction (the rule's row lock orders concurrent updates). Nothing
//!   here updates or deletes a version.
//! - **Status is operational.** Pause and resume change `rules.status` only;
//!   the stored documents carry no status (see [`document`]).
//! - **Deletes are soft.** A deleted rule (`deleted_at`) is not found by any
//!   function here, but its versions and firings stay in their tables.
//! - **Rows are read with `try_get`** into [`StoreError`], never a panic.
//!
//! [`replay`] is the pure part: one compiled rule folded over events in
//! order with in-memory window and throttle states, the way a backtest (and
//! a dry run) computes firings.

pub mod document;
mod error;
pub mod firings;
pub mod records;
pub mod replay;
pub mod report;
pub mod rules;
pub mod versions;

pub use error::{StoreError, StoreResult};
pub use records::{FiringRecord, RuleRecord, VersionRecord};
pub use replay::{Replay, Step};
