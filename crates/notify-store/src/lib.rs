//! Notification channels, shared by the gateway (people manage them) and
//! the notifier (which sends through them), and the rules of delivering to
//! them: [`signing`] (Standard Webhooks), [`address_policy`] (where a
//! delivery may connect) and [`retry`] (when to try again, and what an
//! answer means).
//!
//! Promises, and why they hold:
//! - **Only the transaction's tenant.** Every function takes a transaction
//!   opened with `signalops_platform::postgres::begin_tenant_tx` (or the
//!   notifier's, which declares itself); row-level security (FORCE) filters
//!   and checks every row.
//! - **Credentials never leave sealed, except to send.** Signing secrets,
//!   extra headers, tokens and Slack URLs are sealed with an AEAD key from
//!   configuration ([`sealing`]), bound to their tenant and channel id;
//!   [`channels::ChannelRecord`], what the API shows, has no field for them,
//!   and [`definition::Credentials`] prints as redacted.
//! - **Checked at the edge.** [`definition`] refuses what could not be sent
//!   (bad URLs, reserved headers, malformed tokens), naming each problem by
//!   its JSON Pointer.
//! - **Rows are read with `try_get`** into [`StoreError`], never a panic.

pub mod address_policy;
pub mod channels;
pub mod definition;
mod error;
pub mod retry;
pub mod sealing;
pub mod settings;
pub mod signing;

pub use error::{StoreError, StoreResult};
