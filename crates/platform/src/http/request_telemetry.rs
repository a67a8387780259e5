//! One span and one set of RED metrics per HTTP request.
//!
//! The span continues the caller's W3C trace (`traceparent` header) and
//! carries a request id (the caller's `x-request-id` when it is sane, a new
//! UUIDv7 otherwise), which is echoed in the response.

use std::time::Instant;

use actix_web::HttpMessage;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::{metrics, trace_context};

pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// The request's id, available to handlers (`web::ReqData<RequestId>` or
/// `HttpRequest::extensions`), e.g. for the audit log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(pub String);

/// Use with `actix_web::middleware::from_fn(request_telemetry)`.
pub async fn request_telemetry(
    request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let route = request.match_pattern().unwrap_or_else(|| "unmatched".to_owned());
    let method = request.method().clone();
    let request_id = request
        .headers()
        .get(REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 128 && v.bytes().all(|b| b.is_ascii_graphic()))
        .map_or_else(|| uuid::Uuid::now_v7().to_string(), str::to_owned);
    let span = tracing::info_span!("http.request", http.method = %method, http.route = %route, request_id = %request_id, http.status_code = tracing::field::Empty, tenant_id = tracing::field::Empty);
    // Most callers send no trace context: build the carrier only when one does.
    if request.headers().contains_key("traceparent") {
        let carried: Vec<(String, Vec<u8>)> = ["traceparent", "tracestate", "baggage"]
            .iter()
            .filter_map(|name| request.headers().get(*name).map(|v| ((*name).to_owned(), v.as_bytes().to_vec())))
            .collect();
        let _ = span.set_parent(trace_context::extract(&carried));
    }

    request.extensions_mut().insert(RequestId(request_id.clone()));
    let mut response = next.call(request).instrument(span.clone()).await?;
    let status = response.status().as_u16();
    span.record("http.status_code", status);
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert(HeaderName::from_static(REQUEST_ID_HEADER), value);
    }
    let http = metrics::http();
    http.requests.with_label_values(&[method.as_str(), &route, response.status().as_str()]).inc();
    http.duration.with_label_values(&[method.as_str(), &route]).observe(started.elapsed().as_secs_f64());
    Ok(response)
}
