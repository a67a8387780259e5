//! Rules: create (version 1), list, get, update (a new version), pause and
//! resume (no version), delete (softly).

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, delete, get, post, put, web};
use chrono::{DateTime, Utc};
use serde_json::Value;
use signalops_platform::postgres::begin_tenant_tx;
use signalops_rule_engine::Status;
use signalops_rule_store::rules;
use uuid::Uuid;

use super::changes::{self, Change};
use super::validation::{tenant_channels, validated};
use super::views::RuleView;
use crate::extract::{JsonBody, Principal};
use crate::pagination::{Page, PageQuery};
use crate::problem::{ApiResult, Problem};
use crate::roles::{Permission, authorize};
use crate::state::AppState;

/// The tenant's rules (deleted ones left out), newest first.
#[utoipa::path(
    tag = "rules",
    params(PageQuery),
    responses(
        (status = 200, body = Page<RuleView>), (status = 403, body = Problem),
        (status = 422, body = Problem, description = "`limit` out of range or `cursor` not one of ours")
    ),
    security(("bearer" = []))
)]
#[get("/rules")]
#[tracing::instrument(skip_all, fields(tenant_id = %principal.tenant_id))]
pub async fn list_rules(
    state: web::Data<AppState>,
    principal: Principal,
    query: web::Query<PageQuery>,
) -> ApiResult<web::Json<Page<RuleView>>> {
    let limit = query.limit(state.config.api.max_page_size)?;
    let after: Option<(DateTime<Utc>, Uuid)> = query.after()?;
    let mut client = state.pool.get().await?;
    let tx = begin_tenant_tx(&mut client, principal.tenant_id).await?;
    authorize(&tx, principal.user_id, Permission::ReadRules).await?;
    let found = rules::list(&tx, after, i64::from(limit) + 1).await?;
    tx.commit().await?;
    let views: Vec<RuleView> = found.into_iter().map(RuleView::from).collect();
    Ok(web::Json(Page::from_rows(views, limit, |r: &RuleView| (r.created_at, r.id))))
}

/// Creates a rule (version 1) from a rule document. The document is
/// validated fully: a 422 lists every problem by its JSON Pointer.
#[utoipa::path(
    tag = "rules",
    request_body(content = serde_json::Value, description = "A rule document: see `GET /v1/rules/schema` and docs/rules.md"),
    responses(
        (status = 201, body = RuleView, headers(("location" = String, description = "the rule's URL"))),
        (status = 403, body = Problem), (status = 422, body = Problem, description = "every problem of the document, each named by its JSON Pointer")
    ),
    security(("bearer" = []))
)]
#[post("/rules")]
#[tracing::instrument(skip_all, fields(tenant_id = %principal.tenant_id))]
pub async fn create_rule(
    state: web::Data<AppState>,
    principal: Principal,
    request: HttpRequest,
    body: JsonBody<Value>,
) -> ApiResult<HttpResponse> {
    let id = Uuid::now_v7();
    let mut client = state.pool.get().await?;
    let tx = begin_tenant_tx(&mut client, principal.tenant_id).await?;
    authorize(&tx, principal.user_id, Permission::ManageRules).await?;
    let version = validated(&body.0, "", &tenant_channels(&tx).await?)?;
    let rule = rules::create(&tx, principal.tenant_id, id, &version, version.status, Some(principal.user_id)).await?;
    changes::record(&tx, &principal, &request, Change::Created, &rule).await?;
    tx.commit().await?;
    state.outbox.notify_one();
    Ok(HttpResponse::Created().insert_header((header::LOCATION, format!("/v1/rules/{id}"))).json(RuleView::from(rule)))
}

/// One rule with its current version.
#[utoipa::path(
    tag = "rules",
    params(("id" = Uuid, Path)),
    responses((status = 200, body = RuleView), (status = 403, body = Problem), (status = 404, body = Problem)),
    security(("bearer" = []))
)]
#[get("/rules/{id}")]
#[tracing::instrument(skip_all, fields(tenant_id = %principal.tenant_id))]
pub async fn get_rule(state: web::Data<AppState>, principal: Principal, id: web::Path<Uuid>) -> ApiResult<web::Json<RuleView>> {
    let mut client = state.pool.get().await?;
    let tx = begin_tenant_tx(&mut client, principal.tenant_id).await?;
    authorize(&tx, principal.user_id, Permission::ReadRules).await?;
    let rule = rules::get(&tx, id.into_inner()).await?;
    tx.commit().await?;
    Ok(web::Json(rule.into()))
}

/// Saves a new version of a rule: the id stays, `current_version` goes up
/// by one, earlier versions stay readable. `status` in the document, when
/// present, sets the rule's status too; without it the status is kept.
#[utoipa::path(
    tag = "rules",
    params(("id" = Uuid, Path)),
    request_body(content = serde_json::Value, description = "A rule document: see `GET /v1/rules/schema` and docs/rules.md"),
    responses(
        (status = 200, body = RuleView), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 422, body = Problem, description = "every problem of the document, each named by its JSON Pointer")
    ),
    security(("bearer" = []))
)]
#[put("/rules/{id}")]
#[tracing::instrument(skip_all, fields(tenant_id = %principal.tenant_id))]
pub async fn update_rule(
    state: web::Data<AppState>,
    principal: Principal,
    request: HttpRequest,
    id: web::Path<Uuid>,
    body: JsonBody<Value>,
) -> ApiResult<web::Json<RuleView>> {
    let mut client = state.pool.get().await?;
    let tx = begin_tenant_tx(&mut client, principal.tenant_id).await?;
    authorize(&tx, principal.user_id, Permission::ManageRules).await?;
    let version = validated(&body.0, "", &tenant_channels(&tx).await?)?;
    let status = body.0.get("status").map(|_| version.status);
    let rule = rules::update(&tx, principal.tenant_id, id.into_inner(), &version, status, Some(principal.user_id)).await?;
    changes::record(&tx, &principal, &request, Change::Updated, &rule).await?;
    tx.commit().await?;
    state.outbox.notify_one();
    Ok(web::Json(rule.into()))
}

/// Pauses a rule: it stops running. No new version; pausing a paused rule
/// changes nothing (and records nothing).
#[utoipa::path(
    tag = "rules",
    params(("id" = Uuid, Path)),
    responses((status = 200, body = RuleView), (status = 403, body = Problem), (status = 404, body = Problem)),
    security(("bearer" = []))
)]
#[post("/rules/{id}/pause")]
#[tracing::instrument(skip_all, fields(tenant_id = %principal.tenant_id))]
pub async fn pause_rule(
    state: web::Data<AppState>,
    principal: Principal,
    request: HttpRequest,
    id: web::Path<Uuid>,
) -> ApiResult<web::Json<RuleView>> {
    set_status(&state, &principal, &request, id.into_inner(), Status::Paused).await
}

/// Resumes a paused rule. No new version; resuming an active rule changes
/// nothing (and records nothing).
#[utoipa::path(
    tag = "rules",
    params(("id" = Uuid, Path)),
    responses((status = 200, body = RuleView), (status = 403, body = Problem), (status = 404, body = Problem)),
    security(("bearer" = []))
)]
#[post("/rules/{id}/resume")]
#[tracing::instrument(skip_all, fields(tenant_id = %principal.tenant_id))]
pub async fn resume_rule(
    state: web::Data<AppState>,
    principal: Principal,
    request: HttpRequest,
    id: web::Path<Uuid>,
) -> ApiResult<web::Json<RuleView>> {
    set_status(&state, &principal, &request, id.into_inner(), Status::Active).await
}

async fn set_status(
    state: &AppState,
    principal: &Principal,
    request: &HttpRequest,
    id: Uuid,
    status: Status,
) -> ApiResult<web::Json<RuleView>> {
    let mut client = state.pool.get().await?;
    let tx = begin_tenant_tx(&mut client, principal.tenant_id).await?;
    authorize(&tx, principal.user_id, Permission::ManageRules).await?;
    let (rule, changed) = rules::set_status(&tx, id, status).await?;
    if changed {
        let change = if status == Status::Paused { Change::Paused } else { Change::Resumed };
        changes::record(&tx, principal, request, change, &rule).await?;
    }
    tx.commit().await?;
    if changed {
        state.outbox.notify_one();
    }
    Ok(web::Json(rule.into()))
}

/// Deletes a rule: it stops running and is no longer listed or found
/// (404). Its versions and firings are kept.
#[utoipa::path(
    tag = "rules",
    params(("id" = Uuid, Path)),
    responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem)),
    security(("bearer" = []))
)]
#[delete("/rules/{id}")]
#[tracing::instrument(skip_all, fields(tenant_id = %principal.tenant_id))]
pub async fn delete_rule(
    state: web::Data<AppState>,
    principal: Principal,
    request: HttpRequest,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let mut client = state.pool.get().await?;
    let tx = begin_tenant_tx(&mut client, principal.tenant_id).await?;
    authorize(&tx, principal.user_id, Permission::ManageRules).await?;
    let rule = rules::delete(&tx, id.into_inner()).await?;
    changes::record(&tx, &principal, &request, Change::Deleted, &rule).await?;
    tx.commit().await?;
    state.outbox.notify_one();
    Ok(HttpResponse::NoContent().finish())
}
