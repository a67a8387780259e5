//! What every handler can reach: the database, the producer, the config and
//! the long-lived auth machinery.

use std::sync::Arc;

use signalops_platform::kafka::EventProducer;
use signalops_platform::postgres::Pool;

use crate::GatewayConfig;
use crate::auth::rate_limit::LoginLimiter;

pub struct AppState {
    pub pool: Pool,
    pub producer: EventProducer,
    pub config: Arc<GatewayConfig>,
    pub login_limiter: LoginLimiter,
    pub ingest_limiter: crate::ingest::rate_limit::IngestLimiter,
    pub schemas: crate::event_schemas::SchemaRegistry,
    /// Open live-tail streams, bounded per tenant and per instance.
    pub tail_streams: crate::tail::limits::StreamLimits,
    /// Wakes the system-event relay after a commit that staged events.
    pub outbox: Arc<tokio::sync::Notify>,
    /// Seals and opens channel credentials.
    pub channel_keys: signalops_notify_store::sealing::Keyring,
}
