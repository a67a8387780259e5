//! Who may tail: a machine with an API key carrying `events:read`, or a
//! person (the dashboard) whose role allows reading events.

use actix_web::{HttpRequest, web};
use signalops_platform::TenantId;
use signalops_platform::postgres::begin_tenant_tx;

use crate::api_keys::ApiKeyVerifier;
use crate::api_keys::verifier::presented_key;
use crate::auth::jwt::JwtKeys;
use crate::problem::ApiError;
use crate::roles::{Permission, authorize};
use crate::state::AppState;

/// Every API key starts with this; access tokens (JWTs) never do.
const API_KEY_PREFIX: &str = "so_";

/// The tenant whose events the caller may read.
pub async fn caller_tenant(request: &HttpRequest, state: &AppState) -> Result<TenantId, ApiError> {
    let presented =
        presented_key(request).ok_or(ApiError::Unauthorized("send an API key (x-api-key or Authorization: Bearer) or an access token"))?;
    let sent_as_key = request.headers().contains_key("x-api-key");
    if sent_as_key || presented.starts_with(API_KEY_PREFIX) {
        tenant_of_key(request, &presented).await
    } else {
        tenant_of_person(request, state, &presented).await
    }
}

async fn tenant_of_key(request: &HttpRequest, presented: &str) -> Result<TenantId, ApiError> {
    let verifier = request
        .app_data::<web::Data<ApiKeyVerifier>>()
        .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("ApiKeyVerifier not registered")))?;
    let identity = verifier.verify(presented).await?;
    identity.require("events:read")?;
    Ok(identity.tenant_id)
}

/// The role is read from the database, as for every person's request, so a
/// removed member cannot open a tail with a still-valid token.
async fn tenant_of_person(request: &HttpRequest, state: &AppState, token: &str) -> Result<TenantId, ApiError> {
    let keys = request.app_data::<web::Data<JwtKeys>>().ok_or_else(|| ApiError::Internal(anyhow::anyhow!("JwtKeys not registered")))?;
    let claims = keys.verify(token).map_err(|_| ApiError::Unauthorized("the access token is invalid or expired"))?;
    let tenant = TenantId::from_uuid(claims.tid);
    let mut client = state.pool.get().await?;
    let tx = begin_tenant_tx(&mut client, tenant).await?;
    authorize(&tx, claims.sub, Permission::ReadEvents).await?;
    tx.commit().await?;
    Ok(tenant)
}
