//! `POST /v1/events`: one event (JSON object) or a batch (JSON array).

use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, post, web};
use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use signalops_platform::TenantId;
use utoipa::ToSchema;

use super::cloudevents::{self, CloudEvent};
use super::event_input::EventInput;
use super::idempotency::{self, Keyed};
use super::pipeline::{self, Candidate, ItemOutcome};
use super::rate_limit::Budget;
use super::{ndjson, schema_check};
use crate::api_keys::ApiKeyAuth;
use crate::extract::json::{parse, read_limited};
use crate::problem::{ApiError, ApiResult, FieldError, Problem};
use crate::state::AppState;

/// The receipt of a single event: durable in Kafka at this partition and offset.
#[derive(Debug, Serialize, ToSchema)]
pub struct Receipt {
    pub id: String,
    /// `accepted`, or `duplicate` when this event id was appended before.
    pub status: &'static str,
    pub partition: i32,
    pub offset: i64,
}

/// One line of a batch receipt.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum BatchItem {
    Appended { id: String, status: &'static str, partition: i32, offset: i64 },
    Rejected { index: usize, status: &'static str, error: Problem },
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BatchReceipt {
    pub results: Vec<BatchItem>,
    pub accepted: usize,
    pub duplicates: usize,
    pub rejected: usize,
}

/// The 202 body: a `Receipt` for one event, a `BatchReceipt` for an array.
/// Documentation only (the handler serialises either directly).
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
#[allow(dead_code)]
pub enum IngestReceipt {
    Single(Receipt),
    Batch(BatchReceipt),
}

/// Appends one event or a batch. Answers 202 only for events Kafka
/// acknowledged (`acks=all`); a client `id` (or `Idempotency-Key` for a single
/// event) is deduplicated per tenant: a repeat is reported as `duplicate`
/// with the original partition and offset and is not appended again.
#[utoipa::path(
    tag = "events",
    request_body(content = EventInput, description = "One event, or a JSON array of up to 1000 events"),
    params(("Idempotency-Key" = Option<String>, Header, description = "Dedupe key for a single event without an id")),
    responses(
        (status = 200, description = "application/x-ndjson: one result line per input line, streamed", content_type = "application/x-ndjson"),
        (status = 202, description = "Single event: a Receipt; batch: a BatchReceipt", body = IngestReceipt),
        (status = 400, body = Problem, description = "the body is not valid JSON"),
        (status = 401, body = Problem),
        (status = 403, body = Problem, description = "the key lacks events:write"),
        (status = 409, body = Problem, description = "idempotency-conflict: the id was used with different content"),
        (status = 413, body = Problem),
        (status = 415, body = Problem, description = "a content type this endpoint does not read"),
        (status = 422, body = Problem),
        (status = 429, body = Problem),
        (status = 503, body = Problem, description = "Kafka did not acknowledge; retry")
    ),
    security(("api_key" = []))
)]
#[post("/events")]
pub async fn ingest_events(
    state: web::Data<AppState>,
    auth: ApiKeyAuth,
    request: HttpRequest,
    payload: web::Payload,
) -> ApiResult<HttpResponse> {
    ingest(state, auth, request, payload).await
}

/// The seed prototype's ingest path (`x-api-key`, `idempotency-key`), so
/// its clients can switch by changing the host: the same endpoint as
/// `POST /v1/events`, with the same answers.
#[utoipa::path(
    tag = "events",
    operation_id = "ingest_events_prototype_path",
    request_body(content = EventInput, description = "One event, or a JSON array of up to 1000 events"),
    params(("Idempotency-Key" = Option<String>, Header, description = "Dedupe key for a single event without an id")),
    responses(
        (status = 200, description = "application/x-ndjson: one result line per input line, streamed", content_type = "application/x-ndjson"),
        (status = 202, description = "Single event: a Receipt; batch: a BatchReceipt", body = IngestReceipt),
        (status = 400, body = Problem, description = "the body is not valid JSON"),
        (status = 401, body = Problem),
        (status = 403, body = Problem, description = "the key lacks events:write"),
        (status = 409, body = Problem, description = "idempotency-conflict: the id was used with different content"),
        (status = 413, body = Problem),
        (status = 415, body = Problem, description = "a content type this endpoint does not read"),
        (status = 422, body = Problem),
        (status = 429, body = Problem),
        (status = 503, body = Problem, description = "Kafka did not acknowledge; retry")
    ),
    security(("api_key" = []))
)]
#[post("/api/events")]
pub async fn ingest_events_prototype_path(
    state: web::Data<AppState>,
    auth: ApiKeyAuth,
    request: HttpRequest,
    payload: web::Payload,
) -> ApiResult<HttpResponse> {
    ingest(state, auth, request, payload).await
}

async fn ingest(state: web::Data<AppState>, auth: ApiKeyAuth, request: HttpRequest, mut payload: web::Payload) -> ApiResult<HttpResponse> {
    auth.0.require("events:write")?;
    let content_type = request.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    if content_type.split(';').next().is_some_and(|media| media.trim().eq_ignore_ascii_case("application/x-ndjson")) {
        let uploader = ndjson::Uploader { tenant: auth.0.tenant_id, key_id: auth.0.key_id, source: format!("/api-keys/{}", auth.0.prefix) };
        return Ok(HttpResponse::Ok().content_type("application/x-ndjson").streaming(ndjson::process(state, uploader, payload)));
    }
    let declared = request.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok());
    let limits = &state.config.ingest;
    let body = read_limited(&mut payload, declared, limits.max_batch_bytes).await?;
    let (items, is_batch) = parse_body(&content_type, request.headers(), &body)?;
    if is_batch && items.len() > limits.max_batch_events {
        return Err(ApiError::PayloadTooLarge { limit: limits.max_batch_bytes });
    }
    let budget = match state.ingest_limiter.spend(auth.0.key_id, u32::try_from(items.len()).unwrap_or(u32::MAX)) {
        Ok(budget) => budget,
        Err(retry_after_secs) => return Err(ApiError::RateLimited { retry_after_secs }),
    };
    let header_key =
        if is_batch { None } else { request.headers().get("idempotency-key").and_then(|v| v.to_str().ok()).map(str::to_owned) };
    let source = format!("/api-keys/{}", auth.0.prefix);
    let (candidates, mut rejected) = validate(items, auth.0.tenant_id, &source, header_key, is_batch)?;
    let (candidates, mut off_schema) = schema_check::enforce(&state, auth.0.tenant_id, candidates, is_batch).await?;
    rejected.append(&mut off_schema);
    let mut outcomes = pipeline::append(&state, auth.0.tenant_id, candidates).await?;
    outcomes.append(&mut rejected);
    outcomes.sort_by_key(|(index, _)| *index);
    let mut response = if is_batch { batch_response(outcomes) } else { single_response(outcomes)? };
    rate_limit_headers(&mut response, budget);
    Ok(response)
}

/// One parsed input: the event and its extra headers, or why it is invalid.
pub(super) type Item = Result<CloudEvent, ApiError>;

/// Reads the body in the form its content type names; `true` for batches.
fn parse_body(content_type: &str, headers: &actix_web::http::header::HeaderMap, body: &[u8]) -> Result<(Vec<Item>, bool), ApiError> {
    let media = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    match media.as_str() {
        "application/cloudevents+json" => {
            let object: Map<String, Value> = parse(body)?;
            Ok((vec![cloudevents::from_structured(&object)], false))
        }
        "application/cloudevents-batch+json" => {
            let objects: Vec<Map<String, Value>> = parse(body)?;
            Ok((objects.iter().map(cloudevents::from_structured).collect(), true))
        }
        // HTTP binding: any other content type with CloudEvents headers is
        // binary mode, and the body is the data.
        _ if headers.contains_key("ce-specversion") && !media.starts_with("application/cloudevents") => {
            Ok((vec![cloudevents::from_binary(headers, content_type, body)], false))
        }
        _ if cloudevents::is_json(&media) => {
            let raw: Box<RawValue> = parse(body)?;
            if raw.get().trim_start().starts_with('[') {
                let items: Vec<Box<RawValue>> = parse(raw.get().as_bytes())?;
                Ok((items.iter().map(|item| plain(item.get().as_bytes())).collect(), true))
            } else {
                Ok((vec![plain(raw.get().as_bytes())], false))
            }
        }
        _ => Err(ApiError::UnsupportedMediaType(
            "send application/json, application/x-ndjson, application/cloudevents+json, application/cloudevents-batch+json, or a binary-mode CloudEvent (ce-* headers)"
                .to_owned(),
        )),
    }
}

fn plain(bytes: &[u8]) -> Item {
    parse::<EventInput>(bytes).map(|input| CloudEvent { input, extensions: Vec::new() })
}

pub(super) type Validated = (Vec<Candidate>, Vec<(usize, ItemOutcome)>);

/// Validates each item; a single event fails the request, a batch reports
/// invalid items one by one.
pub(super) fn validate(
    items: Vec<Item>,
    tenant: TenantId,
    source: &str,
    header_key: Option<String>,
    is_batch: bool,
) -> Result<Validated, ApiError> {
    let now = chrono::Utc::now();
    let mut candidates = Vec::with_capacity(items.len());
    let mut rejected = Vec::new();
    for (index, item) in items.into_iter().enumerate() {
        let candidate = item.and_then(|CloudEvent { input, extensions }| {
            // Events without a client key skip hashing and the dedupe store.
            let dedupe_key = input.id.clone().or_else(|| header_key.clone());
            let hash = dedupe_key.as_ref().map(|_| {
                let mut parts = vec![
                    input.event_type.as_bytes(),
                    input.source.as_deref().unwrap_or("").as_bytes(),
                    input.subject.as_deref().unwrap_or("").as_bytes(),
                    input.time.as_deref().unwrap_or("").as_bytes(),
                ];
                // Plain JSON data hashes as it always has; typed or byte data
                // adds its type and bytes, so other bytes under one id conflict.
                match (&input.data_content_type, &input.data_bytes) {
                    (None, None) => parts.push(input.data.as_ref().map_or("null", |d| d.get()).as_bytes()),
                    (content_type, bytes) => {
                        parts.push(content_type.as_deref().unwrap_or("").as_bytes());
                        parts.push(bytes.as_deref().unwrap_or_else(|| input.data.as_ref().map_or("null", |d| d.get()).as_bytes()));
                    }
                }
                idempotency::content_hash(&parts)
            });
            let event = input.into_envelope(tenant, now, source)?;
            // With an Idempotency-Key header the event keeps its generated id;
            // a repeat is answered with the id of the first append.
            let dedupe = dedupe_key.zip(hash).map(|(key, content_hash)| Keyed { key, content_hash, event_id: event.id.clone() });
            Ok(Candidate { index, event, dedupe, extra_headers: extensions })
        });
        match candidate {
            Ok(candidate) => candidates.push(candidate),
            Err(error) if !is_batch => return Err(error),
            Err(error) => rejected.push((index, ItemOutcome::Rejected { index, error: prefix_fields(error, index) })),
        }
    }
    Ok((candidates, rejected))
}

/// `type` becomes `[3].type` in a batch.
fn prefix_fields(error: ApiError, index: usize) -> ApiError {
    match error {
        ApiError::Validation(errors) => {
            ApiError::Validation(errors.into_iter().map(|e| FieldError::new(format!("[{index}].{}", e.field), e.message)).collect())
        }
        other => other,
    }
}

fn single_response(mut outcomes: Vec<(usize, ItemOutcome)>) -> ApiResult<HttpResponse> {
    match outcomes.pop().map(|(_, o)| o) {
        Some(ItemOutcome::Accepted { id, partition, offset }) => {
            Ok(HttpResponse::Accepted().json(Receipt { id, status: "accepted", partition, offset }))
        }
        Some(ItemOutcome::Duplicate { id, partition, offset }) => {
            Ok(HttpResponse::Accepted().json(Receipt { id, status: "duplicate", partition, offset }))
        }
        Some(ItemOutcome::Rejected { error, .. }) => Err(error),
        None => Err(ApiError::Internal(anyhow::anyhow!("no outcome for a single event"))),
    }
}

fn batch_response(outcomes: Vec<(usize, ItemOutcome)>) -> HttpResponse {
    let (mut accepted, mut duplicates, mut rejected) = (0, 0, 0);
    let results = outcomes
        .into_iter()
        .map(|(_, outcome)| match outcome {
            ItemOutcome::Accepted { id, partition, offset } => {
                accepted += 1;
                BatchItem::Appended { id, status: "accepted", partition, offset }
            }
            ItemOutcome::Duplicate { id, partition, offset } => {
                duplicates += 1;
                BatchItem::Appended { id, status: "duplicate", partition, offset }
            }
            ItemOutcome::Rejected { index, error } => {
                rejected += 1;
                BatchItem::Rejected { index, status: "rejected", error: error.problem() }
            }
        })
        .collect();
    HttpResponse::Accepted().json(BatchReceipt { results, accepted, duplicates, rejected })
}

fn rate_limit_headers(response: &mut HttpResponse, budget: Budget) {
    let headers = response.headers_mut();
    for (name, value) in
        [("ratelimit-limit", budget.limit as u64), ("ratelimit-remaining", budget.remaining as u64), ("ratelimit-reset", budget.reset_secs)]
    {
        headers.insert(HeaderName::from_static(name), HeaderValue::from(value));
    }
}

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(ingest_events);
}
