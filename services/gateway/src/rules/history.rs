//! A rule's past: its immutable versions and the firings the rules group
//! recorded for it.

use actix_web::{get, web};
use signalops_platform::postgres::begin_tenant_tx;
use signalops_rule_store::{firings, versions};
use uuid::Uuid;

use super::views::{FiringView, VersionView};
use crate::extract::Principal;
use crate::pagination::{Page, PageQuery};
use crate::problem::{ApiResult, Problem};
use crate::roles::{Permission, authorize};
use crate::state::AppState;

/// The versions of a rule, newest first.
#[utoipa::path(
    tag = "rules",
    params(("id" = Uuid, Path), PageQuery),
    responses(
        (status = 200, body = Page<VersionView>), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 422, body = Problem, description = "`limit` out of range or `cursor` not one of ours")
    ),
    security(("bearer" = []))
)]
#[get("/rules/{id}/versions")]
#[tracing::instrument(skip_all, fields(tenant_id = %principal.tenant_id))]
pub async fn list_versions(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<Uuid>,
    query: web::Query<PageQuery>,
) -> ApiResult<web::Json<Page<VersionView>>> {
    let limit = query.limit(state.config.api.max_page_size)?;
    let before: Option<i64> = query.after()?;
    // A version number outside u32 cannot be one of ours: start after the newest.
    let before = before.map(|v| u32::try_from(v).unwrap_or(0));
    let mut client = state.pool.get().await?;
    let tx = begin_tenant_tx(&mut client, principal.tenant_id).await?;
    authorize(&tx, principal.user_id, Permission::ReadRules).await?;
    let found = versions::list(&tx, id.into_inner(), before, i64::from(limit) + 1).await?;
    tx.commit().await?;
    let views: Vec<VersionView> = found.into_iter().map(VersionView::from).collect();
    Ok(web::Json(Page::from_rows(views, limit, |v: &VersionView| i64::from(v.version))))
}

/// One version of a rule.
#[utoipa::path(
    tag = "rules",
    params(("id" = Uuid, Path), ("version" = u32, Path, description = "1, 2, …")),
    responses((status = 200, body = VersionView), (status = 403, body = Problem), (status = 404, body = Problem)),
    security(("bearer" = []))
)]
#[get("/rules/{id}/versions/{version}")]
#[tracing::instrument(skip_all, fields(tenant_id = %principal.tenant_id))]
pub async fn get_version(
    state: web::Data<AppState>,
    principal: Principal,
    path: web::Path<(Uuid, u32)>,
) -> ApiResult<web::Json<VersionView>> {
    let (id, version) = path.into_inner();
    let mut client = state.pool.get().await?;
    let tx = begin_tenant_tx(&mut client, principal.tenant_id).await?;
    authorize(&tx, principal.user_id, Permission::ReadRules).await?;
    let found = versions::get(&tx, id, version).await?;
    tx.commit().await?;
    Ok(web::Json(found.into()))
}

/// What the rule decided for events it matched (fired or suppressed), as
/// the rules group recorded it, newest first, every version.
#[utoipa::path(
    tag = "rules",
    params(("id" = Uuid, Path), PageQuery),
    responses(
        (status = 200, body = Page<FiringView>), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 422, body = Problem, description = "`limit` out of range or `cursor` not one of ours")
    ),
    security(("bearer" = []))
)]
#[get("/rules/{id}/firings")]
#[tracing::instrument(skip_all, fields(tenant_id = %principal.tenant_id))]
pub async fn list_firings(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<Uuid>,
    query: web::Query<PageQuery>,
) -> ApiResult<web::Json<Page<FiringView>>> {
    let limit = query.limit(state.config.api.max_page_size)?;
    let after: Option<firings::FiringKey> = query.after()?;
    let mut client = state.pool.get().await?;
    let tx = begin_tenant_tx(&mut client, principal.tenant_id).await?;
    authorize(&tx, principal.user_id, Permission::ReadRules).await?;
    let found = firings::list(&tx, id.into_inner(), after, i64::from(limit) + 1).await?;
    tx.commit().await?;
    let views = found.into_iter().map(FiringView::try_from).collect::<Result<Vec<_>, _>>()?;
    Ok(web::Json(Page::from_rows(views, limit, |f: &FiringView| ((f.received_at, f.event_id.clone()), i64::from(f.version)))))
}
