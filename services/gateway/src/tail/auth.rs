//! Who may tail: a machine with an API key carrying `events:read`, or a
//! person (the dashboard) whose role allows reading events. The credential
//! is kept with the stream, which re-checks it while it is open
//! ([`recheck`](super::recheck)).

use actix_web::{HttpRequest, web};
use signalops_platform::TenantId;
use signalops_platform::postgres::begin_tenant_tx;
use uuid::Uuid;

use crate::api_keys::ApiKeyVerifier;
use crate::api_keys::verifier::presented_key;
use crate::auth::jwt::JwtKeys;
use crate::problem::ApiError;
use crate::roles::{Permission, authorize};
use crate::state::AppState;

/// Every API key starts with this; access tokens (JWTs) never do.
const API_KEY_PREFIX: &str = "so_";

/// What a stream was opened with.
pub enum Credential {
    ApiKey {
        presented: String,
    },
    /// A person's access token: who, and when the token expires (Unix seconds).
    Person {
        user_id: Uuid,
        expires_at: i64,
    },
}

/// The tenant whose events the caller may read, and with what.
pub struct Caller {
    pub tenant: TenantId,
    pub credential: Credential,
}

/// The tenant whose events the caller may read (the event queries use it).
pub async fn caller_tenant(request: &HttpRequest, state: &AppState) -> Result<TenantId, ApiError> {
    caller(request, state).await.map(|caller| caller.tenant)
}

pub async fn caller(request: &HttpRequest, state: &AppState) -> Result<Caller, ApiError> {
    let presented =
        presented_key(request).ok_or(ApiError::Unauthorized("send an API key (x-api-key or Authorization: Bearer) or an access token"))?;
    let sent_as_key = request.headers().contains_key("x-api-key");
    if sent_as_key || presented.starts_with(API_KEY_PREFIX) {
        let tenant = tenant_of_key(request, &presented).await?;
        Ok(Caller { tenant, credential: Credential::ApiKey { presented } })
    } else {
        person(request, state, &presented).await
    }
}

async fn tenant_of_key(request: &HttpRequest, presented: &str) -> Result<TenantId, ApiError> {
    let verifier = request
        .app_data::<web::Data<ApiKeyVerifier>>()
        .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("ApiKeyVerifier not registered")))?;
    let identity = verifier.verify_from(request.peer_addr().map(|peer| peer.ip()), presented).await?;
    identity.require("events:read")?;
    Ok(identity.tenant_id)
}

/// The role is read from the database, as for every person's request, so a
/// removed member cannot open a tail with a still-valid token.
async fn person(request: &HttpRequest, state: &AppState, token: &str) -> Result<Caller, ApiError> {
    let keys = request.app_data::<web::Data<JwtKeys>>().ok_or_else(|| ApiError::Internal(anyhow::anyhow!("JwtKeys not registered")))?;
    let claims = keys.verify(token).map_err(|_| ApiError::Unauthorized("the access token is invalid or expired"))?;
    let tenant = TenantId::from_uuid(claims.tid);
    may_read_events(state, tenant, claims.sub).await?;
    Ok(Caller { tenant, credential: Credential::Person { user_id: claims.sub, expires_at: claims.exp } })
}

/// 401 when `user` is no longer a member of `tenant`, 403 when their role
/// does not allow reading events.
pub async fn may_read_events(state: &AppState, tenant: TenantId, user: Uuid) -> Result<(), ApiError> {
    let mut client = state.pool.get().await?;
    let tx = begin_tenant_tx(&mut client, tenant).await?;
    authorize(&tx, user, Permission::ReadEvents).await?;
    tx.commit().await?;
    Ok(())
}
