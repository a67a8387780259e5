//! Members of the caller's tenant: list, change a role, remove (or leave).

use actix_web::{HttpRequest, HttpResponse, delete, get, patch, web};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::json;
use signalops_platform::postgres::begin_tenant_tx;
use utoipa::ToSchema;
use uuid::Uuid;

use super::owner_rules::{check_removal, check_role_change};
use super::store::{self, Change, MemberView};
use crate::audit::{self, user_actor};
use crate::extract::{JsonBody, Principal};
use crate::pagination::{Page, PageQuery};
use crate::problem::{ApiResult, Problem};
use crate::roles::{Permission, Role, authorize, current_role};
use crate::state::AppState;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeRole {
    pub role: Role,
}

/// The tenant's members, in the order they joined.
#[utoipa::path(
    tag = "members",
    params(PageQuery),
    responses(
        (status = 200, body = Page<MemberView>),
        (status = 401, body = Problem),
        (status = 403, body = Problem),
        (status = 422, body = Problem)
    ),
    security(("bearer" = []))
)]
#[get("/members")]
#[tracing::instrument(skip_all, fields(tenant_id = %principal.tenant_id))]
pub async fn list_members(
    state: web::Data<AppState>,
    principal: Principal,
    query: web::Query<PageQuery>,
) -> ApiResult<web::Json<Page<MemberView>>> {
    let limit = query.limit(state.config.api.max_page_size)?;
    let after: Option<(DateTime<Utc>, Uuid)> = query.after()?;
    let mut client = state.pool.get().await?;
    let tx = begin_tenant_tx(&mut client, principal.tenant_id).await?;
    authorize(&tx, principal.user_id, Permission::ReadMembers).await?;
    let members = store::list(&tx, after, limit).await?;
    tx.commit().await?;
    Ok(web::Json(Page::from_rows(members, limit, |m: &MemberView| (m.joined_at, m.user_id))))
}

/// Changes a member's role. Only an owner may grant the owner role or change
/// an owner's role; the last owner cannot be demoted.
#[utoipa::path(
    tag = "members",
    params(("user_id" = Uuid, Path)),
    request_body = ChangeRole,
    responses(
        (status = 200, body = MemberView),
        (status = 401, body = Problem),
        (status = 403, description = "Lacks members:manage, or an owner rule needs an owner", body = Problem),
        (status = 404, description = "Not a member of this tenant", body = Problem),
        (status = 409, description = "Would demote the last owner", body = Problem),
        (status = 422, body = Problem)
    ),
    security(("bearer" = []))
)]
#[patch("/members/{user_id}")]
#[tracing::instrument(skip_all, fields(tenant_id = %principal.tenant_id, member_id = %user_id))]
pub async fn change_member_role(
    state: web::Data<AppState>,
    principal: Principal,
    request: HttpRequest,
    user_id: web::Path<Uuid>,
    body: JsonBody<ChangeRole>,
) -> ApiResult<web::Json<MemberView>> {
    let (user_id, new_role) = (user_id.into_inner(), body.0.role);
    let mut client = state.pool.get().await?;
    let tx = begin_tenant_tx(&mut client, principal.tenant_id).await?;
    // Owners are locked before the caller's role is read, so a caller who
    // was demoted while waiting is judged by their new role.
    let owners = store::lock_owners(&tx).await?;
    let caller_role = authorize(&tx, principal.user_id, Permission::ManageMembers).await?;
    let mut member = store::lock_member(&tx, user_id).await?;
    check_role_change(caller_role, member.role, new_role, owners.len())?;
    if member.role == new_role {
        // Nothing changes, so nothing is recorded.
        tx.commit().await?;
        return Ok(web::Json(member));
    }
    store::set_role(&tx, user_id, new_role).await?;
    let request_id = audit::request_id(&request);
    let change = Change {
        tenant_id: principal.tenant_id,
        actor: user_actor(principal.user_id),
        request_id: request_id.as_deref(),
        what: "role_changed",
        user_id,
        details: json!({"from": member.role, "to": new_role}),
    };
    store::record(&tx, change).await?;
    tx.commit().await?;
    state.outbox.notify_one();
    member.role = new_role;
    Ok(web::Json(member))
}

/// Removes a member from the tenant; anyone may remove themselves (leave).
/// Only an owner may remove an owner; the last owner cannot be removed. The
/// removed person's tokens stop working for this tenant at once.
#[utoipa::path(
    tag = "members",
    params(("user_id" = Uuid, Path)),
    responses(
        (status = 204, description = "Removed"),
        (status = 401, body = Problem),
        (status = 403, description = "Lacks members:manage, or removes an owner without being one", body = Problem),
        (status = 404, description = "Not a member of this tenant", body = Problem),
        (status = 409, description = "Would remove the last owner", body = Problem)
    ),
    security(("bearer" = []))
)]
#[delete("/members/{user_id}")]
#[tracing::instrument(skip_all, fields(tenant_id = %principal.tenant_id, member_id = %user_id))]
pub async fn remove_member(
    state: web::Data<AppState>,
    principal: Principal,
    request: HttpRequest,
    user_id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let user_id = user_id.into_inner();
    let leaving = user_id == principal.user_id;
    let mut client = state.pool.get().await?;
    let tx = begin_tenant_tx(&mut client, principal.tenant_id).await?;
    let owners = store::lock_owners(&tx).await?;
    // Not `authorize`: leaving needs no permission, removing others is
    // judged by `check_removal` with the rest of the rules.
    let caller_role = current_role(&tx, principal.user_id).await?;
    let member = store::lock_member(&tx, user_id).await?;
    check_removal(caller_role, leaving, member.role, owners.len())?;
    store::remove(&tx, user_id).await?;
    let request_id = audit::request_id(&request);
    let change = Change {
        tenant_id: principal.tenant_id,
        actor: user_actor(principal.user_id),
        request_id: request_id.as_deref(),
        what: "removed",
        user_id,
        details: json!({"role": member.role, "left": leaving}),
    };
    store::record(&tx, change).await?;
    tx.commit().await?;
    state.outbox.notify_one();
    Ok(HttpResponse::NoContent().finish())
}

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(list_members).service(change_member_role).service(remove_member);
}
