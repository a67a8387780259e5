//! The audit log: every control-plane change, written in the same
//! transaction as the change, readable by owners and admins.

use actix_web::{HttpMessage, HttpRequest, get, web};
use chrono::{DateTime, Utc};
use serde::Serialize;
use signalops_platform::http::RequestId;
use signalops_platform::postgres::begin_tenant_tx;
use tokio_postgres::GenericClient;
use utoipa::ToSchema;

use crate::extract::Principal;
use crate::pagination::{Page, PageQuery};
use crate::problem::ApiResult;
use crate::roles::{Permission, authorize};
use crate::state::AppState;

/// One change to record.
pub struct AuditEntry<'a> {
    pub actor: String,
    pub action: &'a str,
    pub target: String,
    pub details: serde_json::Value,
}

/// Who did it: a user id, `signalctl`, or `system`.
pub fn user_actor(user_id: uuid::Uuid) -> String {
    format!("user:{user_id}")
}

pub fn request_id(request: &HttpRequest) -> Option<String> {
    request.extensions().get::<RequestId>().map(|r| r.0.clone())
}

/// Appends to the audit log of the transaction's tenant.
pub async fn record<C: GenericClient>(
    client: &C,
    tenant_id: uuid::Uuid,
    request_id: Option<&str>,
    entry: AuditEntry<'_>,
) -> Result<(), tokio_postgres::Error> {
    client
        .execute(
            "INSERT INTO audit_log (tenant_id, actor, action, target, request_id, details) VALUES ($1, $2, $3, $4, $5, $6)",
            &[&tenant_id, &entry.actor, &entry.action, &entry.target, &request_id, &entry.details],
        )
        .await?;
    Ok(())
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditRecord {
    pub id: i64,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub request_id: Option<String>,
    pub details: serde_json::Value,
    pub at: DateTime<Utc>,
}

/// The tenant's audit log, newest first.
#[utoipa::path(
    tag = "audit",
    params(PageQuery),
    responses((status = 200, body = Page<AuditRecord>), (status = 401, body = crate::problem::Problem), (status = 403, body = crate::problem::Problem), (status = 422, body = crate::problem::Problem, description = "`limit` out of range or `cursor` not one of ours")),
    security(("bearer" = []))
)]
#[get("/audit-log")]
pub async fn list_audit_log(
    state: web::Data<AppState>,
    principal: Principal,
    query: web::Query<PageQuery>,
) -> ApiResult<web::Json<Page<AuditRecord>>> {
    let limit = query.limit(state.config.api.max_page_size)?;
    let after: Option<i64> = query.after()?;
    let mut client = state.pool.get().await?;
    let tx = begin_tenant_tx(&mut client, principal.tenant_id).await?;
    authorize(&tx, principal.user_id, Permission::ReadAuditLog).await?;
    let rows = tx
        .query(
            "SELECT id, actor, action, target, request_id, details, at FROM audit_log \
             WHERE ($1::bigint IS NULL OR id < $1) ORDER BY id DESC LIMIT $2",
            &[&after, &(i64::from(limit) + 1)],
        )
        .await?;
    tx.commit().await?;
    let records = rows
        .iter()
        .map(|r| {
            Ok(AuditRecord {
                id: r.try_get(0)?,
                actor: r.try_get(1)?,
                action: r.try_get(2)?,
                target: r.try_get(3)?,
                request_id: r.try_get(4)?,
                details: r.try_get(5)?,
                at: r.try_get(6)?,
            })
        })
        .collect::<Result<Vec<_>, tokio_postgres::Error>>()?;
    Ok(web::Json(Page::from_rows(records, limit, |r: &AuditRecord| r.id)))
}
