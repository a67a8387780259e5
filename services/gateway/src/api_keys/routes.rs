//! Managing API keys: list, create (the secret is shown once), revoke.

use actix_web::{HttpRequest, HttpResponse, delete, get, post, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use signalops_platform::api_keys::{ApiKey, SCOPES};
use signalops_platform::postgres::begin_tenant_tx;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{ApiKeyAuth, ApiKeyVerifier};
use crate::audit::{self, AuditEntry, user_actor};
use crate::extract::{JsonBody, Principal};
use crate::pagination::{Page, PageQuery};
use crate::problem::{ApiError, ApiResult, FieldError};
use crate::roles::{Permission, authorize};
use crate::state::AppState;
use crate::system_events;

/// An API key as listed: never its secret.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiKeyView {
    pub id: Uuid,
    /// The public part, e.g. `so_live_AbC123dEf456`; safe to show and log.
    pub prefix: String,
    pub label: String,
    pub scopes: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedApiKey {
    #[serde(flatten)]
    pub view: ApiKeyView,
    /// The secret key. Shown once; store it now.
    pub key: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateApiKey {
    #[serde(default)]
    pub label: String,
    /// At least one of `events:write`, `events:read`.
    #[schema(schema_with = scope_list)]
    pub scopes: Vec<String>,
    /// Days until the key expires; no expiry when absent.
    pub expires_in_days: Option<u32>,
}

/// `scopes` in the document: the scopes `SCOPES` names, so clients (and API
/// fuzzers) learn them from the document and it cannot drift from the code.
fn scope_list() -> utoipa::openapi::schema::Array {
    use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Type};
    ArrayBuilder::new()
        .items(ObjectBuilder::new().schema_type(Type::String).enum_values(Some(SCOPES.iter().copied())))
        .min_items(Some(1))
        .build()
}

impl CreateApiKey {
    fn validate(&self) -> Result<(), ApiError> {
        let mut errors = Vec::new();
        if self.label.chars().count() > 100 {
            errors.push(FieldError::new("label", "must be at most 100 characters"));
        }
        // Postgres text cannot hold U+0000, and no other control character belongs in a label.
        if self.label.chars().any(char::is_control) {
            errors.push(FieldError::new("label", "must not contain control characters"));
        }
        if self.scopes.is_empty() {
            errors.push(FieldError::new("scopes", format!("must name at least one of {}", SCOPES.join(", "))));
        }
        for (index, scope) in self.scopes.iter().enumerate() {
            if !SCOPES.contains(&scope.as_str()) {
                errors.push(FieldError::new(format!("scopes[{index}]"), format!("{scope:?} is not a scope ({})", SCOPES.join(", "))));
            }
        }
        if self.expires_in_days.is_some_and(|d| !(1..=3_650).contains(&d)) {
            errors.push(FieldError::new("expires_in_days", "must be between 1 and 3650"));
        }
        if errors.is_empty() { Ok(()) } else { Err(ApiError::Validation(errors)) }
    }
}

const COLUMNS: &str = "id, prefix, label, scopes, created_at, last_used_at, expires_at, revoked_at";

fn view(row: &tokio_postgres::Row) -> Result<ApiKeyView, tokio_postgres::Error> {
    Ok(ApiKeyView {
        id: row.try_get(0)?,
        prefix: row.try_get(1)?,
        label: row.try_get(2)?,
        scopes: row.try_get(3)?,
        created_at: row.try_get(4)?,
        last_used_at: row.try_get(5)?,
        expires_at: row.try_get(6)?,
        revoked_at: row.try_get(7)?,
    })
}

/// The tenant's API keys, newest first (revoked ones included).
#[utoipa::path(tag = "api-keys", params(PageQuery), responses((status = 200, body = Page<ApiKeyView>), (status = 403, body = crate::problem::Problem), (status = 422, body = crate::problem::Problem, description = "`limit` out of range or `cursor` not one of ours")), security(("bearer" = [])))]
#[get("/api-keys")]
#[tracing::instrument(skip_all, fields(tenant_id = %principal.tenant_id))]
pub async fn list_api_keys(
    state: web::Data<AppState>,
    principal: Principal,
    query: web::Query<PageQuery>,
) -> ApiResult<web::Json<Page<ApiKeyView>>> {
    let limit = query.limit(state.config.api.max_page_size)?;
    let after: Option<(DateTime<Utc>, Uuid)> = query.after()?;
    let (after_at, after_id) = after.map_or((None, None), |(at, id)| (Some(at), Some(id)));
    let mut client = state.pool.get().await?;
    let tx = begin_tenant_tx(&mut client, principal.tenant_id).await?;
    authorize(&tx, principal.user_id, Permission::ReadApiKeys).await?;
    let rows = tx
        .query(
            &format!(
                "SELECT {COLUMNS} FROM api_keys WHERE ($1::timestamptz IS NULL OR (created_at, id) < ($1, $2)) \
                 ORDER BY created_at DESC, id DESC LIMIT $3"
            ),
            &[&after_at, &after_id, &(i64::from(limit) + 1)],
        )
        .await?;
    tx.commit().await?;
    let keys = rows.iter().map(view).collect::<Result<Vec<_>, _>>()?;
    Ok(web::Json(Page::from_rows(keys, limit, |k: &ApiKeyView| (k.created_at, k.id))))
}

/// Creates a key. The response holds the secret, which is never shown again.
#[utoipa::path(tag = "api-keys", request_body = CreateApiKey, responses((status = 201, body = CreatedApiKey), (status = 403, body = crate::problem::Problem), (status = 422, body = crate::problem::Problem)), security(("bearer" = [])))]
#[post("/api-keys")]
#[tracing::instrument(skip_all, fields(tenant_id = %principal.tenant_id))]
pub async fn create_api_key(
    state: web::Data<AppState>,
    principal: Principal,
    request: HttpRequest,
    body: JsonBody<CreateApiKey>,
) -> ApiResult<HttpResponse> {
    let body = body.0;
    body.validate()?;
    let key = ApiKey::generate(&state.config.api_keys.environment);
    let expires_at = body.expires_in_days.map(|days| Utc::now() + chrono::Duration::days(i64::from(days)));
    let mut client = state.pool.get().await?;
    let tx = begin_tenant_tx(&mut client, principal.tenant_id).await?;
    authorize(&tx, principal.user_id, Permission::ManageApiKeys).await?;
    let row = tx
        .query_one(
            &format!("INSERT INTO api_keys (id, tenant_id, prefix, digest, label, scopes, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {COLUMNS}"),
            &[&Uuid::now_v7(), &principal.tenant_id.as_uuid(), &key.prefix(), &key.digest(&state.config.api_keys.pepper), &body.label, &body.scopes, &expires_at],
        )
        .await?;
    let created = view(&row)?;
    let entry = AuditEntry {
        actor: user_actor(principal.user_id),
        action: "api_key.created",
        target: created.prefix.clone(),
        details: json!({"scopes": created.scopes, "label": created.label}),
    };
    audit::record(&tx, principal.tenant_id.as_uuid(), audit::request_id(&request).as_deref(), entry).await?;
    let data = json!({"api_key_id": created.id, "prefix": created.prefix, "scopes": created.scopes, "created_by": principal.user_id});
    system_events::stage(&tx, principal.tenant_id, "signalops.api_key.created", &format!("api_key/{}", created.id), data).await?;
    tx.commit().await?;
    state.outbox.notify_one();
    Ok(HttpResponse::Created().json(CreatedApiKey { view: created, key: key.expose().to_owned() }))
}

/// Revokes a key: within `api_keys.cache_ttl_secs` it stops working on every
/// gateway. Revoking a revoked key changes nothing.
#[utoipa::path(tag = "api-keys", params(("id" = Uuid, Path)), responses((status = 204), (status = 403, body = crate::problem::Problem), (status = 404, body = crate::problem::Problem)), security(("bearer" = [])))]
#[delete("/api-keys/{id}")]
#[tracing::instrument(skip_all, fields(tenant_id = %principal.tenant_id))]
pub async fn revoke_api_key(
    state: web::Data<AppState>,
    verifier: web::Data<ApiKeyVerifier>,
    principal: Principal,
    request: HttpRequest,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let id = id.into_inner();
    let mut client = state.pool.get().await?;
    let tx = begin_tenant_tx(&mut client, principal.tenant_id).await?;
    authorize(&tx, principal.user_id, Permission::ManageApiKeys).await?;
    let row = tx
        .query_opt("UPDATE api_keys SET revoked_at = coalesce(revoked_at, now()) WHERE id = $1 RETURNING prefix, xmax = 0", &[&id])
        .await?
        .ok_or(ApiError::NotFound)?;
    let prefix: String = row.try_get(0)?;
    let entry = AuditEntry { actor: user_actor(principal.user_id), action: "api_key.revoked", target: prefix.clone(), details: json!({}) };
    audit::record(&tx, principal.tenant_id.as_uuid(), audit::request_id(&request).as_deref(), entry).await?;
    let data = json!({"api_key_id": id, "prefix": prefix});
    system_events::stage(&tx, principal.tenant_id, "signalops.api_key.revoked", &format!("api_key/{id}"), data).await?;
    tx.commit().await?;
    state.outbox.notify_one();
    verifier.invalidate(&prefix).await;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CurrentApiKey {
    pub id: Uuid,
    pub prefix: String,
    pub tenant_id: Uuid,
    pub scopes: Vec<String>,
}

/// The key the request was authenticated with: lets a backend check its
/// configuration before it sends events.
#[utoipa::path(tag = "api-keys", responses((status = 200, body = CurrentApiKey), (status = 401, body = crate::problem::Problem)), security(("api_key" = [])))]
#[get("/api-keys/current")]
pub async fn current_api_key(auth: ApiKeyAuth) -> web::Json<CurrentApiKey> {
    let identity = auth.0;
    web::Json(CurrentApiKey {
        id: identity.key_id,
        prefix: identity.prefix,
        tenant_id: identity.tenant_id.as_uuid(),
        scopes: identity.scopes,
    })
}

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(list_api_keys).service(create_api_key).service(current_api_key).service(revoke_api_key);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn create(label: &str) -> CreateApiKey {
        CreateApiKey { label: label.to_owned(), scopes: vec!["events:read".to_owned()], expires_in_days: None }
    }

    #[test]
    fn a_label_with_a_control_character_is_a_field_error() {
        for label in ["a\u{0}b", "line\nbreak", "\u{1b}[31m"] {
            let Err(ApiError::Validation(errors)) = create(label).validate() else { panic!("{label:?} was accepted") };
            assert_eq!(errors[0].field, "label", "{label:?}");
        }
        assert!(create("ingest — prod").validate().is_ok());
    }
}
