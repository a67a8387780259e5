//! Sending one message through one channel, shared by the notifier (which
//! delivers) and the gateway (which sends a channel's test message): the
//! HTTP clients (one guarded by the address policy for URLs tenants chose,
//! one for the platform's own provider APIs), the providers' request shapes
//! and what their answers mean. Pure of Postgres: callers hold the channel,
//! opened, and record the attempt.

pub mod guarded_client;
pub mod http_client;
pub mod message;
pub mod providers;
pub mod sent;

pub use message::Message;
pub use providers::{ProviderSettings, Providers};
pub use sent::Sent;
