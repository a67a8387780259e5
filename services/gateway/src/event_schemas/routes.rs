//! `/v1/event-schemas`: register, read and remove the JSON Schema of an
//! event type's data.

use actix_web::{HttpRequest, HttpResponse, delete, get, put, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use signalops_platform::postgres::begin_tenant_tx;
use utoipa::ToSchema;

use super::SchemaRegistry;
use crate::audit::{self, AuditEntry, user_actor};
use crate::extract::{JsonBody, Principal};
use crate::ingest::event_input::valid_type;
use crate::pagination::{Page, PageQuery};
use crate::problem::{ApiError, ApiResult, Problem};
use crate::roles::{Permission, authorize};
use crate::state::AppState;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PutSchema {
    /// A JSON Schema (draft 2020-12 unless `$schema` says otherwise).
    #[schema(schema_with = json_schema)]
    pub schema: serde_json::Value,
}

/// A JSON Schema is an object or, per draft 2020-12, `true` (accepts every
/// value) or `false` (accepts none); the registry compiles all three.
fn json_schema() -> utoipa::openapi::schema::Object {
    use utoipa::openapi::schema::{ObjectBuilder, SchemaType, Type};
    ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([Type::Object, Type::Boolean]))
        .description(Some("A JSON Schema: an object, or `true`/`false`"))
        .build()
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EventSchemaView {
    pub event_type: String,
    pub version: i32,
    #[schema(schema_with = json_schema)]
    pub schema: serde_json::Value,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

fn view(row: &tokio_postgres::Row) -> Result<EventSchemaView, tokio_postgres::Error> {
    Ok(EventSchemaView {
        event_type: row.try_get(0)?,
        version: row.try_get(1)?,
        schema: row.try_get(2)?,
        created_at: row.try_get(3)?,
        updated_at: row.try_get(4)?,
    })
}

const COLUMNS: &str = "event_type, version, schema, created_at, updated_at";

/// Whether any key or string in `value` holds U+0000.
fn contains_nul(value: &serde_json::Value) -> bool {
    match value {
        serde_json::Value::String(text) => text.contains('\0'),
        serde_json::Value::Array(items) => items.iter().any(contains_nul),
        serde_json::Value::Object(fields) => fields.iter().any(|(key, value)| key.contains('\0') || contains_nul(value)),
        _ => false,
    }
}

fn checked_type(event_type: &str) -> Result<(), ApiError> {
    if valid_type(event_type) { Ok(()) } else { Err(ApiError::field("event_type", "must match ^[a-z0-9]+([._-][a-z0-9]+)*$")) }
}

/// Registers or replaces the schema of an event type; ingest enforces it
/// from then on (on every gateway within a few seconds).
#[utoipa::path(tag = "events", request_body = PutSchema, params(("event_type" = String, Path)), responses((status = 200, body = EventSchemaView), (status = 403, body = Problem), (status = 422, body = Problem)), security(("bearer" = [])))]
#[put("/event-schemas/{event_type}")]
pub async fn put_schema(
    state: web::Data<AppState>,
    principal: Principal,
    request: HttpRequest,
    event_type: web::Path<String>,
    body: JsonBody<PutSchema>,
) -> ApiResult<web::Json<EventSchemaView>> {
    let event_type = event_type.into_inner();
    checked_type(&event_type)?;
    if contains_nul(&body.0.schema) {
        // Postgres' jsonb cannot hold U+0000; refuse it here instead of failing the insert.
        return Err(ApiError::field("schema", "must not contain the character U+0000"));
    }
    SchemaRegistry::compile(&body.0.schema)?;
    let mut client = state.pool.get().await?;
    let tx = begin_tenant_tx(&mut client, principal.tenant_id).await?;
    authorize(&tx, principal.user_id, Permission::ManageEventSchemas).await?;
    let row = tx
        .query_one(
            &format!(
                "INSERT INTO event_schemas (tenant_id, event_type, schema) VALUES ($1, $2, $3) \
                 ON CONFLICT (tenant_id, event_type) DO UPDATE SET schema = EXCLUDED.schema, version = event_schemas.version + 1, updated_at = now() \
                 RETURNING {COLUMNS}"
            ),
            &[&principal.tenant_id.as_uuid(), &event_type, &body.0.schema],
        )
        .await?;
    let saved = view(&row)?;
    let entry = AuditEntry {
        actor: user_actor(principal.user_id),
        action: "event_schema.saved",
        target: event_type.clone(),
        details: json!({"version": saved.version}),
    };
    audit::record(&tx, principal.tenant_id.as_uuid(), audit::request_id(&request).as_deref(), entry).await?;
    tx.commit().await?;
    state.schemas.forget(principal.tenant_id, &event_type).await;
    Ok(web::Json(saved))
}

#[utoipa::path(tag = "events", params(PageQuery), responses((status = 200, body = Page<EventSchemaView>), (status = 403, body = Problem), (status = 422, body = Problem, description = "`limit` out of range or `cursor` not one of ours")), security(("bearer" = [])))]
#[get("/event-schemas")]
pub async fn list_schemas(
    state: web::Data<AppState>,
    principal: Principal,
    query: web::Query<PageQuery>,
) -> ApiResult<web::Json<Page<EventSchemaView>>> {
    let limit = query.limit(state.config.api.max_page_size)?;
    let after: Option<String> = query.after()?;
    let mut client = state.pool.get().await?;
    let tx = begin_tenant_tx(&mut client, principal.tenant_id).await?;
    authorize(&tx, principal.user_id, Permission::ReadEvents).await?;
    let rows = tx
        .query(
            &format!("SELECT {COLUMNS} FROM event_schemas WHERE ($1::text IS NULL OR event_type > $1) ORDER BY event_type LIMIT $2"),
            &[&after, &(i64::from(limit) + 1)],
        )
        .await?;
    tx.commit().await?;
    let schemas = rows.iter().map(view).collect::<Result<Vec<_>, _>>()?;
    Ok(web::Json(Page::from_rows(schemas, limit, |s: &EventSchemaView| s.event_type.clone())))
}

#[utoipa::path(tag = "events", params(("event_type" = String, Path)), responses((status = 200, body = EventSchemaView), (status = 403, body = Problem), (status = 404, body = Problem)), security(("bearer" = [])))]
#[get("/event-schemas/{event_type}")]
pub async fn get_schema(
    state: web::Data<AppState>,
    principal: Principal,
    event_type: web::Path<String>,
) -> ApiResult<web::Json<EventSchemaView>> {
    checked_type(&event_type)?;
    let mut client = state.pool.get().await?;
    let tx = begin_tenant_tx(&mut client, principal.tenant_id).await?;
    authorize(&tx, principal.user_id, Permission::ReadEvents).await?;
    let row = tx.query_opt(&format!("SELECT {COLUMNS} FROM event_schemas WHERE event_type = $1"), &[&event_type.as_str()]).await?;
    tx.commit().await?;
    row.map(|r| view(&r)).transpose()?.map(web::Json).ok_or(ApiError::NotFound)
}

#[utoipa::path(tag = "events", params(("event_type" = String, Path)), responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem)), security(("bearer" = [])))]
#[delete("/event-schemas/{event_type}")]
pub async fn delete_schema(
    state: web::Data<AppState>,
    principal: Principal,
    request: HttpRequest,
    event_type: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let event_type = event_type.into_inner();
    checked_type(&event_type)?;
    let mut client = state.pool.get().await?;
    let tx = begin_tenant_tx(&mut client, principal.tenant_id).await?;
    authorize(&tx, principal.user_id, Permission::ManageEventSchemas).await?;
    let deleted = tx.execute("DELETE FROM event_schemas WHERE event_type = $1", &[&event_type]).await?;
    if deleted == 0 {
        return Err(ApiError::NotFound);
    }
    let entry =
        AuditEntry { actor: user_actor(principal.user_id), action: "event_schema.deleted", target: event_type.clone(), details: json!({}) };
    audit::record(&tx, principal.tenant_id.as_uuid(), audit::request_id(&request).as_deref(), entry).await?;
    tx.commit().await?;
    state.schemas.forget(principal.tenant_id, &event_type).await;
    Ok(HttpResponse::NoContent().finish())
}

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(list_schemas).service(get_schema).service(put_schema).service(delete_schema);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nul_anywhere_in_a_schema_is_found() {
        assert!(contains_nul(&json!({"properties": {"a": {"const": "x\u{0}"}}})));
        assert!(contains_nul(&json!({"enum": [1, "\u{0}"]})));
        assert!(contains_nul(&json!({"a\u{0}": true})));
        assert!(!contains_nul(&json!({"type": "object", "required": ["a"], "maximum": 0})));
    }
}
