//! Channels: create, list, get, update, delete, rotate a webhook's secret,
//! enable a disabled channel.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, delete, get, patch, post, web};
use chrono::{DateTime, Utc};
use serde_json::Value;
use signalops_notify_store::channels::{self, NewChannel};
use signalops_notify_store::definition::{Credentials, check_config};
use signalops_platform::postgres::begin_tenant_tx;

use super::body::{ChannelChanges, NewChannelBody, problems};
use super::changes::{self, Change};
use super::views::{ChannelView, ChannelWithSecret};
use crate::extract::{JsonBody, Principal};
use crate::pagination::{Page, PageQuery};
use crate::problem::{ApiResult, Problem};
use crate::roles::{Permission, authorize};
use crate::state::AppState;

/// The tenant's channels, oldest first.
#[utoipa::path(
    tag = "channels",
    params(PageQuery),
    responses(
        (status = 200, body = Page<ChannelView>), (status = 403, body = Problem),
        (status = 422, body = Problem, description = "`limit` out of range or `cursor` not one of ours")
    ),
    security(("bearer" = []))
)]
#[get("/channels")]
#[tracing::instrument(skip_all, fields(tenant_id = %principal.tenant_id))]
pub async fn list_channels(
    state: web::Data<AppState>,
    principal: Principal,
    query: web::Query<PageQuery>,
) -> ApiResult<web::Json<Page<ChannelView>>> {
    let limit = query.limit(state.config.api.max_page_size)?;
    let after: Option<(DateTime<Utc>, String)> = query.after()?;
    let mut client = state.pool.get().await?;
    let tx = begin_tenant_tx(&mut client, principal.tenant_id).await?;
    authorize(&tx, principal.user_id, Permission::ReadChannels).await?;
    let found = channels::list(&tx, after, i64::from(limit) + 1).await?;
    tx.commit().await?;
    let views: Vec<ChannelView> = found.into_iter().map(ChannelView::from).collect();
    Ok(web::Json(Page::from_rows(views, limit, |c: &ChannelView| (c.created_at, c.id.clone()))))
}

/// Creates a channel. A webhook without a `secret` gets one generated; the
/// answer carries it this once.
#[utoipa::path(
    tag = "channels",
    request_body(content = serde_json::Value, description = "`{id, name, kind, config}`: see docs/api/channels.md"),
    responses(
        (status = 201, body = ChannelWithSecret, headers(("location" = String, description = "the channel's URL"))),
        (status = 403, body = Problem), (status = 409, body = Problem, description = "the tenant has a channel with this id"),
        (status = 422, body = Problem, description = "every problem of the body, each named by its JSON Pointer")
    ),
    security(("bearer" = []))
)]
#[post("/channels")]
#[tracing::instrument(skip_all, fields(tenant_id = %principal.tenant_id))]
pub async fn create_channel(
    state: web::Data<AppState>,
    principal: Principal,
    request: HttpRequest,
    body: JsonBody<Value>,
) -> ApiResult<HttpResponse> {
    let new = NewChannelBody::parse(&body.0)?;
    let config = &new.config;
    let mut client = state.pool.get().await?;
    let tx = begin_tenant_tx(&mut client, principal.tenant_id).await?;
    authorize(&tx, principal.user_id, Permission::ManageChannels).await?;
    let channel = NewChannel { id: &new.id, name: &new.name, kind: new.kind, config, created_by: Some(principal.user_id) };
    let record = channels::create(&tx, &state.channel_keys, principal.tenant_id, &channel).await?;
    changes::record(&tx, &principal, &request, Change::Created, &record).await?;
    tx.commit().await?;
    state.outbox.notify_one();
    let secret = match &config.credentials {
        Credentials::Webhook { secret, .. } => Some(secret.clone()),
        _ => None,
    };
    let location = format!("/v1/channels/{}", record.id);
    Ok(HttpResponse::Created().insert_header((header::LOCATION, location)).json(ChannelWithSecret { channel: record.into(), secret }))
}

/// One channel.
#[utoipa::path(
    tag = "channels",
    params(("id" = String, Path)),
    responses((status = 200, body = ChannelView), (status = 403, body = Problem), (status = 404, body = Problem)),
    security(("bearer" = []))
)]
#[get("/channels/{id}")]
#[tracing::instrument(skip_all, fields(tenant_id = %principal.tenant_id))]
pub async fn get_channel(state: web::Data<AppState>, principal: Principal, id: web::Path<String>) -> ApiResult<web::Json<ChannelView>> {
    let mut client = state.pool.get().await?;
    let tx = begin_tenant_tx(&mut client, principal.tenant_id).await?;
    authorize(&tx, principal.user_id, Permission::ReadChannels).await?;
    let record = channels::get(&tx, &id).await?;
    tx.commit().await?;
    Ok(web::Json(record.into()))
}

/// Changes a channel's `name` and/or `config` (the whole configuration of
/// its kind; credentials left out are kept, a webhook's secret changes only
/// by rotation).
#[utoipa::path(
    tag = "channels",
    params(("id" = String, Path)),
    request_body(content = serde_json::Value, description = "`{name, config}`, both optional"),
    responses(
        (status = 200, body = ChannelView), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 422, body = Problem, description = "every problem of the body, each named by its JSON Pointer")
    ),
    security(("bearer" = []))
)]
#[patch("/channels/{id}")]
#[tracing::instrument(skip_all, fields(tenant_id = %principal.tenant_id))]
pub async fn update_channel(
    state: web::Data<AppState>,
    principal: Principal,
    request: HttpRequest,
    id: web::Path<String>,
    body: JsonBody<Value>,
) -> ApiResult<web::Json<ChannelView>> {
    let changes_asked = ChannelChanges::parse(&body.0)?;
    let mut client = state.pool.get().await?;
    let tx = begin_tenant_tx(&mut client, principal.tenant_id).await?;
    authorize(&tx, principal.user_id, Permission::ManageChannels).await?;
    let opened = channels::open_for_update(&tx, &state.channel_keys, &id).await?;
    let config = match &changes_asked.config {
        Some(given) => {
            let mut found = Vec::new();
            // A webhook's secret changes by rotation only, so the previous
            // one can keep signing beside the new one.
            if given.get("secret").is_some() && matches!(opened.credentials, Credentials::Webhook { .. }) {
                found.push(("/config/secret".to_owned(), "changes only by POST /v1/channels/{id}/rotate-secret".to_owned()));
            }
            let config = check_config(opened.record.kind, given, "/config", Some(&opened.credentials), &mut found);
            match config {
                Some(config) if found.is_empty() => Some(config),
                _ => return Err(problems(found)),
            }
        }
        None => None,
    };
    let record =
        channels::update(&tx, &state.channel_keys, principal.tenant_id, &id, changes_asked.name.as_deref(), config.as_ref()).await?;
    changes::record(&tx, &principal, &request, Change::Updated, &record).await?;
    tx.commit().await?;
    state.outbox.notify_one();
    Ok(web::Json(record.into()))
}

/// Deletes a channel. Rules that list it keep their documents; their
/// notifications skip to the next channel of the chain.
#[utoipa::path(
    tag = "channels",
    params(("id" = String, Path)),
    responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem)),
    security(("bearer" = []))
)]
#[delete("/channels/{id}")]
#[tracing::instrument(skip_all, fields(tenant_id = %principal.tenant_id))]
pub async fn delete_channel(
    state: web::Data<AppState>,
    principal: Principal,
    request: HttpRequest,
    id: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let mut client = state.pool.get().await?;
    let tx = begin_tenant_tx(&mut client, principal.tenant_id).await?;
    authorize(&tx, principal.user_id, Permission::ManageChannels).await?;
    let record = channels::get(&tx, &id).await?;
    channels::delete(&tx, &id).await?;
    changes::record(&tx, &principal, &request, Change::Deleted, &record).await?;
    tx.commit().await?;
    state.outbox.notify_one();
    Ok(HttpResponse::NoContent().finish())
}

/// Gives a webhook channel a new signing secret, answered this once. The
/// previous secret keeps signing beside it (both signatures are sent) for
/// `channels.rotation_overlap_hours` (24 by default).
#[utoipa::path(
    tag = "channels",
    params(("id" = String, Path)),
    responses(
        (status = 200, body = ChannelWithSecret), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem, description = "not a webhook channel")
    ),
    security(("bearer" = []))
)]
#[post("/channels/{id}/rotate-secret")]
#[tracing::instrument(skip_all, fields(tenant_id = %principal.tenant_id))]
pub async fn rotate_channel_secret(
    state: web::Data<AppState>,
    principal: Principal,
    request: HttpRequest,
    id: web::Path<String>,
) -> ApiResult<web::Json<ChannelWithSecret>> {
    let overlap = chrono::Duration::hours(i64::from(state.config.channels.rotation_overlap_hours));
    let mut client = state.pool.get().await?;
    let tx = begin_tenant_tx(&mut client, principal.tenant_id).await?;
    authorize(&tx, principal.user_id, Permission::ManageChannels).await?;
    let (record, secret) = channels::rotate_secret(&tx, &state.channel_keys, principal.tenant_id, &id, overlap).await?;
    changes::record(&tx, &principal, &request, Change::SecretRotated, &record).await?;
    tx.commit().await?;
    state.outbox.notify_one();
    Ok(web::Json(ChannelWithSecret { channel: record.into(), secret: Some(secret) }))
}

/// Makes a disabled channel active again (its failure streak forgotten).
#[utoipa::path(
    tag = "channels",
    params(("id" = String, Path)),
    responses((status = 200, body = ChannelView), (status = 403, body = Problem), (status = 404, body = Problem)),
    security(("bearer" = []))
)]
#[post("/channels/{id}/enable")]
#[tracing::instrument(skip_all, fields(tenant_id = %principal.tenant_id))]
pub async fn enable_channel(
    state: web::Data<AppState>,
    principal: Principal,
    request: HttpRequest,
    id: web::Path<String>,
) -> ApiResult<web::Json<ChannelView>> {
    let mut client = state.pool.get().await?;
    let tx = begin_tenant_tx(&mut client, principal.tenant_id).await?;
    authorize(&tx, principal.user_id, Permission::ManageChannels).await?;
    let record = channels::enable(&tx, &id).await?;
    changes::record(&tx, &principal, &request, Change::Enabled, &record).await?;
    tx.commit().await?;
    state.outbox.notify_one();
    Ok(web::Json(record.into()))
}
