//! `POST /v1/events`: one JSON event, appended to the events topic.

use actix_web::{HttpResponse, post, web};
use serde::Serialize;
use signalops_platform::kafka::{OutgoingRecord, ProduceError};
use signalops_proto::Message;
use utoipa::ToSchema;

use super::event_input::EventInput;
use crate::api_keys::ApiKeyAuth;
use crate::extract::JsonBody;
use crate::problem::{ApiError, ApiResult};
use crate::state::AppState;

/// Room for a 64 KiB `data` plus the envelope fields and JSON escaping.
const SINGLE_EVENT_LIMIT: usize = 256 * 1024;

/// The receipt: the event is durable in Kafka at this partition and offset.
#[derive(Debug, Serialize, ToSchema)]
pub struct Receipt {
    pub id: String,
    /// `accepted`.
    pub status: &'static str,
    pub partition: i32,
    pub offset: i64,
}

/// Appends one event. Answers 202 only after Kafka acknowledged the append
/// (`acks=all`); 503 with `Retry-After` when it could not.
#[utoipa::path(
    tag = "events",
    request_body = EventInput,
    responses(
        (status = 202, body = Receipt),
        (status = 401, body = crate::problem::Problem),
        (status = 403, body = crate::problem::Problem, description = "the key lacks events:write"),
        (status = 422, body = crate::problem::Problem),
        (status = 503, body = crate::problem::Problem, description = "Kafka did not acknowledge; retry")
    ),
    security(("api_key" = []))
)]
#[post("/events")]
#[tracing::instrument(skip_all, fields(tenant_id = %auth.0.tenant_id, event_type = tracing::field::Empty))]
pub async fn ingest_event(
    state: web::Data<AppState>,
    auth: ApiKeyAuth,
    body: JsonBody<EventInput, SINGLE_EVENT_LIMIT>,
) -> ApiResult<HttpResponse> {
    auth.0.require("events:write")?;
    let tenant = auth.0.tenant_id;
    let event = body.0.into_envelope(tenant, chrono::Utc::now(), &format!("/api-keys/{}", auth.0.prefix))?;
    tracing::Span::current().record("event_type", event.r#type.as_str());
    let headers = signalops_proto::headers::envelope_headers(&event).into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
    let record = OutgoingRecord {
        topic: state.config.kafka.topics.events.clone(),
        key: Some(tenant.to_string().into_bytes()),
        payload: event.encode_to_vec(),
        headers,
    };
    // Whatever the cause (broker down, topic missing), the event is not
    // durable: say so and let the client retry.
    let delivered = state.producer.send(record).await.map_err(|error: ProduceError| ApiError::Unavailable(error.to_string()))?;
    Ok(HttpResponse::Accepted().json(Receipt {
        id: event.id,
        status: "accepted",
        partition: delivered.partition,
        offset: delivered.offset,
    }))
}

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(ingest_event);
}
