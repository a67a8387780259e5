//! `GET /v1/events/stream`: the caller's events as Server-Sent Events.

use std::convert::Infallible;
use std::time::Duration;

use actix_web::http::header::{self, ContentEncoding};
use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse, get, web};
use futures::Stream;
use futures::future::BoxFuture;
use serde::Deserialize;
use tokio::sync::mpsc;
use utoipa::IntoParams;

use super::auth::caller;
use super::frame::{HEARTBEAT, closed_frame};
use super::limits::RETRY_AFTER_SECS;
use super::position::StartRequest;
use super::reader::{self, CHANNEL_CAPACITY};
use super::recheck::{self, CloseReason};
use crate::api_keys::ApiKeyVerifier;
use crate::problem::{ApiError, ApiResult};
use crate::state::AppState;

/// Idle connections get a comment this often, below common proxy timeouts.
const HEARTBEAT_EVERY: Duration = Duration::from_secs(15);

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StreamQuery {
    /// `now` (default): only events appended after the stream opened; or an
    /// RFC 3339 time: events from then on (by Kafka record time).
    pub from: Option<String>,
    /// Per-partition start offsets, e.g. `0:120,1:0,2:55`; other partitions
    /// start at `from`.
    pub offsets: Option<String>,
}

/// One Server-Sent Event of the live tail, as an SSE client parses it
/// (`frame::event_frame` writes it). Documentation only.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct TailEvent {
    /// `<partition>:<offset>`; send the last one seen as `Last-Event-ID` to resume after it.
    #[schema(example = "2:55")]
    id: String,
    /// The event's type.
    #[schema(example = "invoice.paid")]
    event: String,
    /// The event as one line of JSON: `id`, `type`, `source`, `subject`,
    /// `time`, `received_at`, `partition`, `offset` and `data`.
    #[schema(content_media_type = "application/json")]
    data: String,
}

/// Streams the tenant's events as `text/event-stream`. Each frame has
/// `id: <partition>:<offset>`, `event: <type>` and a JSON `data:` line;
/// `: keep-alive` comments come every 15 s. Send the last seen id as
/// `Last-Event-ID` to resume right after it. The stream ends with a
/// `signalops:stream-closed` frame (`data: {"reason", "detail"}`) when the
/// key is revoked or expires, the person loses access, or the access token
/// expires.
#[utoipa::path(
    tag = "events",
    params(
        StreamQuery,
        ("Last-Event-ID" = Option<String>, Header, description = "`<partition>:<offset>` of the last event seen; resumes right after it")
    ),
    responses(
        (status = 200, content_type = "text/event-stream", body = TailEvent, description = "Server-Sent Events, until the client disconnects or the credential stops being valid; the schema is that of one event"),
        (status = 401, body = crate::problem::Problem),
        (status = 403, body = crate::problem::Problem, description = "the key lacks events:read, or the role may not read events"),
        (status = 422, body = crate::problem::Problem, description = "invalid from, offsets or Last-Event-ID"),
        (status = 429, body = crate::problem::Problem, description = "`too-many-streams`: the tenant (ingest.tail_max_streams_per_tenant) or this gateway instance (ingest.tail_max_streams) has as many open streams as allowed; `detail` says which",
            headers(("Retry-After" = u64, description = "seconds to wait before retrying"))),
        (status = 503, body = crate::problem::Problem, description = "Kafka is unavailable; retry")
    ),
    security(("api_key" = []), ("bearer" = []))
)]
#[get("/events/stream")]
#[tracing::instrument(skip_all, fields(tenant_id = tracing::field::Empty))]
pub async fn stream_events(request: HttpRequest, state: web::Data<AppState>, query: web::Query<StreamQuery>) -> ApiResult<HttpResponse> {
    let caller = caller(&request, &state).await?;
    let tenant = caller.tenant;
    tracing::Span::current().record("tenant_id", tracing::field::display(tenant));
    // A non-ASCII value parses as invalid (422), like any other malformed id.
    let last_event_id = request.headers().get("last-event-id").map(|v| v.to_str().unwrap_or(""));
    let start = StartRequest::parse(query.from.as_deref(), query.offsets.as_deref(), last_event_id)?;
    // Taken before the consumer exists, so a refused stream costs no broker
    // connection; returning early on any error below frees it again.
    let slot = state
        .tail_streams
        .acquire(tenant)
        .map_err(|hit| ApiError::TooManyStreams { detail: hit.to_string(), retry_after_secs: RETRY_AFTER_SECS })?;

    // Broker round trips block; the response starts only once the start
    // offsets are fixed, so nothing appended after this call is missed.
    let kafka = state.config.kafka.clone();
    let topic = state.config.kafka.topics.events.clone();
    let consumer = tokio::task::spawn_blocking(move || reader::open(&kafka, &topic, &start))
        .await
        .map_err(|error| ApiError::Internal(anyhow::anyhow!("tail setup task failed: {error}")))??;

    let verifier = request.app_data::<web::Data<ApiKeyVerifier>>().cloned();
    let invalid = Box::pin(recheck::until_invalid(caller.credential, tenant, state.clone(), verifier));

    let (frames, received) = mpsc::channel(CHANNEL_CAPACITY);
    tokio::task::spawn_blocking(move || {
        reader::pump(consumer, tenant, frames);
        // The consumer is gone once `pump` returns; only then is the slot free.
        drop(slot);
    });
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "text/event-stream"))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        // Compression would hold frames back until its buffer fills.
        .insert_header(ContentEncoding::Identity)
        // Tells nginx-style proxies not to buffer the stream either.
        .insert_header(("x-accel-buffering", "no"))
        .streaming(sse_body(received, invalid, tenant)))
}

/// What the body needs between two chunks; `invalid` is `None` once the
/// closing frame went out.
struct Body {
    received: mpsc::Receiver<Bytes>,
    heartbeat: tokio::time::Interval,
    invalid: Option<BoxFuture<'static, CloseReason>>,
}

/// Frames as they arrive, with a heartbeat comment at the start and every
/// `HEARTBEAT_EVERY`. Ends when the consumer thread stops, or after the
/// closing frame once `invalid` resolves; either way the body drops the
/// channel, which stops the consumer thread (as a client leaving does).
fn sse_body(
    received: mpsc::Receiver<Bytes>,
    invalid: BoxFuture<'static, CloseReason>,
    tenant: signalops_platform::TenantId,
) -> impl Stream<Item = Result<Bytes, Infallible>> {
    let body = Body { received, heartbeat: tokio::time::interval(HEARTBEAT_EVERY), invalid: Some(invalid) };
    futures::stream::unfold(body, move |mut body| async move {
        let invalid = body.invalid.as_mut()?;
        let chunk = tokio::select! {
            frame = body.received.recv() => frame?,
            _ = body.heartbeat.tick() => Bytes::from_static(HEARTBEAT),
            reason = invalid => {
                tracing::info!(tenant_id = %tenant, reason = reason.code(), "tail stream ended: the credential is no longer valid");
                body.invalid = None;
                Bytes::from(closed_frame(reason.code(), reason.detail()))
            }
        };
        Some((Ok(chunk), body))
    })
}

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(stream_events);
}
