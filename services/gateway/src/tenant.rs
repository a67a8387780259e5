//! The caller's tenant.

use actix_web::{get, web};
use chrono::{DateTime, Utc};
use serde::Serialize;
use signalops_platform::postgres::begin_tenant_tx;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::extract::Principal;
use crate::problem::{ApiError, ApiResult};
use crate::roles::{Permission, Role, authorize};
use crate::state::AppState;

#[derive(Debug, Serialize, ToSchema)]
pub struct TenantView {
    pub id: Uuid,
    pub name: String,
    pub created_at: DateTime<Utc>,
    /// The caller's role in this tenant.
    pub role: Role,
}

#[utoipa::path(
    tag = "tenant",
    responses((status = 200, body = TenantView), (status = 401, body = crate::problem::Problem)),
    security(("bearer" = []))
)]
#[get("/tenant")]
pub async fn get_tenant(state: web::Data<AppState>, principal: Principal) -> ApiResult<web::Json<TenantView>> {
    let mut client = state.pool.get().await?;
    let tx = begin_tenant_tx(&mut client, principal.tenant_id).await?;
    let role = authorize(&tx, principal.user_id, Permission::ReadTenant).await?;
    let row = tx.query_opt("SELECT id, name, created_at FROM tenants WHERE id = $1", &[&principal.tenant_id.as_uuid()]).await?;
    tx.commit().await?;
    let row = row.ok_or(ApiError::NotFound)?;
    Ok(web::Json(TenantView { id: row.try_get(0)?, name: row.try_get(1)?, created_at: row.try_get(2)?, role }))
}

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(get_tenant);
}
