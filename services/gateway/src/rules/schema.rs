//! `GET /v1/rules/schema`: the rule language's JSON Schema, the same file
//! the engine's tests check documents against.

use actix_web::{HttpResponse, get};

const RULE_SCHEMA: &str = include_str!("../../../../schemas/rules/rule.schema.json");

/// The JSON Schema (2020-12) of a rule document. It checks the shape; saving
/// a rule also checks regexes, times, templates and limits (see docs/rules.md).
#[utoipa::path(
    tag = "rules",
    responses((status = 200, content_type = "application/schema+json", body = serde_json::Value, description = "the JSON Schema of a rule document"))
)]
#[get("/rules/schema")]
pub async fn rule_schema() -> HttpResponse {
    HttpResponse::Ok().content_type("application/schema+json").insert_header(("cache-control", "public, max-age=3600")).body(RULE_SCHEMA)
}
