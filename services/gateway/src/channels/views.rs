//! What the channels API answers, and how store errors become problems.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use signalops_notify_store::StoreError;
use signalops_notify_store::channels::ChannelRecord;
use utoipa::ToSchema;

use crate::problem::ApiError;

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NotFound => ApiError::NotFound,
            StoreError::Conflict => ApiError::Conflict("the tenant already has a channel with this id".into()),
            StoreError::NotAWebhook => ApiError::Conflict("only webhook channels have a signing secret".into()),
            StoreError::Postgres(e) => e.into(),
            other @ (StoreError::Sealing(_) | StoreError::Corrupt { .. }) => ApiError::Internal(other.into()),
        }
    }
}

/// A channel. Credentials (signing secrets, tokens, Slack URLs, extra
/// header values) are never part of it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChannelView {
    /// The tenant's name for the channel, the one rules list.
    pub id: String,
    pub name: String,
    /// `webhook`, `email`, `slack`, `telegram` or `whatsapp`.
    pub kind: String,
    /// What may be shown of the configuration: a webhook's URL and header
    /// names, an email's recipients, a chat id, a phone-number id.
    #[schema(value_type = Object)]
    pub settings: Value,
    /// `active` or `disabled`.
    pub status: String,
    /// Why the channel was disabled, when it is.
    pub disabled_reason: Option<String>,
    pub disabled_at: Option<DateTime<Utc>>,
    /// Since when every delivery attempt failed; absent while healthy.
    pub failing_since: Option<DateTime<Utc>>,
    /// After a rotation: until when the previous secret signs beside the new one.
    pub previous_secret_until: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<ChannelRecord> for ChannelView {
    fn from(c: ChannelRecord) -> Self {
        ChannelView {
            id: c.id,
            name: c.name,
            kind: c.kind.as_str().to_owned(),
            settings: c.settings,
            status: c.status.as_str().to_owned(),
            disabled_reason: c.disabled_reason,
            disabled_at: c.disabled_at,
            failing_since: c.failing_since,
            previous_secret_until: c.previous_secret_until,
            created_at: c.created_at,
            updated_at: c.updated_at,
        }
    }
}

/// A channel as created or as its secret was rotated: with the webhook
/// signing secret, shown this once.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChannelWithSecret {
    #[serde(flatten)]
    pub channel: ChannelView,
    /// The Standard Webhooks secret (`whsec_…`); webhooks only. Store it now:
    /// it is never answered again.
    pub secret: Option<String>,
}
