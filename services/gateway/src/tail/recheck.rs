//! An open stream keeps checking the credential it was opened with, so
//! revoking a key, removing a member or letting a token expire also ends
//! the streams already open:
//!
//! - an API key is looked up in Postgres (not in the verifier's memory)
//!   every `api_keys.cache_ttl_secs`, so a revocation on any instance ends
//!   the stream within that time;
//! - a person's membership and role are read every `api_keys.cache_ttl_secs`
//!   too, and the stream ends when the access token expires (its `exp`; the
//!   client refreshes the token and reconnects with `Last-Event-ID`).
//!
//! A check that cannot be made (Postgres unreachable) ends the stream as
//! well: a credential nobody can confirm is not trusted, and the client's
//! reconnect is refused or admitted by the same rules as any new stream.

use std::time::Duration;

use chrono::Utc;
use signalops_platform::TenantId;

use super::auth::{Credential, may_read_events};
use crate::api_keys::{ApiKeyVerifier, KeyStatus};
use crate::problem::ApiError;
use crate::state::AppState;

/// Why a stream was ended by the gateway; sent to the client in the last frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    ApiKeyRevoked,
    ApiKeyExpired,
    ApiKeyInvalid,
    AccessRemoved,
    TokenExpired,
    CheckFailed,
}

impl CloseReason {
    pub fn code(self) -> &'static str {
        match self {
            Self::ApiKeyRevoked => "api-key-revoked",
            Self::ApiKeyExpired => "api-key-expired",
            Self::ApiKeyInvalid => "api-key-invalid",
            Self::AccessRemoved => "access-removed",
            Self::TokenExpired => "token-expired",
            Self::CheckFailed => "check-failed",
        }
    }

    pub fn detail(self) -> &'static str {
        match self {
            Self::ApiKeyRevoked => "the API key was revoked",
            Self::ApiKeyExpired => "the API key has expired",
            Self::ApiKeyInvalid => "the API key no longer exists",
            Self::AccessRemoved => "you are no longer a member of this tenant, or your role no longer allows reading events",
            Self::TokenExpired => "the access token expired; refresh it and reconnect with Last-Event-ID",
            Self::CheckFailed => "the credential could not be re-checked; reconnect with Last-Event-ID",
        }
    }
}

/// Resolves when `credential` stops being good for reading `tenant`'s events.
pub async fn until_invalid(
    credential: Credential,
    tenant: TenantId,
    state: actix_web::web::Data<AppState>,
    verifier: Option<actix_web::web::Data<ApiKeyVerifier>>,
) -> CloseReason {
    let every = Duration::from_secs(state.config.api_keys.cache_ttl_secs.max(1));
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let expiry = match &credential {
        Credential::Person { expires_at, .. } => {
            let left = expires_at.saturating_sub(Utc::now().timestamp()).max(0);
            Some(tokio::time::Instant::now() + Duration::from_secs(u64::try_from(left).unwrap_or(0)))
        }
        Credential::ApiKey { .. } => None,
    };
    let token_expired = async move {
        match expiry {
            Some(at) => tokio::time::sleep_until(at).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(token_expired);
    loop {
        tokio::select! {
            () = &mut token_expired => return CloseReason::TokenExpired,
            _ = tick.tick() => {
                if let Some(reason) = check(&credential, tenant, &state, verifier.as_ref().map(|data| data.get_ref())).await {
                    return reason;
                }
            }
        }
    }
}

async fn check(credential: &Credential, tenant: TenantId, state: &AppState, verifier: Option<&ApiKeyVerifier>) -> Option<CloseReason> {
    match credential {
        Credential::ApiKey { presented } => {
            let Some(verifier) = verifier else { return Some(CloseReason::CheckFailed) };
            match verifier.status_now(presented).await {
                Ok(KeyStatus::Valid) => None,
                Ok(KeyStatus::Revoked) => Some(CloseReason::ApiKeyRevoked),
                Ok(KeyStatus::Expired) => Some(CloseReason::ApiKeyExpired),
                Ok(KeyStatus::Unknown) => Some(CloseReason::ApiKeyInvalid),
                Err(error) => failed(&error),
            }
        }
        Credential::Person { user_id, .. } => match may_read_events(state, tenant, *user_id).await {
            Ok(()) => None,
            Err(ApiError::Unauthorized(_) | ApiError::Forbidden(_)) => Some(CloseReason::AccessRemoved),
            Err(error) => failed(&error),
        },
    }
}

fn failed(error: &ApiError) -> Option<CloseReason> {
    tracing::warn!(%error, "tail credential re-check failed; ending the stream");
    Some(CloseReason::CheckFailed)
}
