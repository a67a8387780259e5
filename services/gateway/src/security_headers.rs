//! Security headers on every response. The API serves JSON only, so its
//! content security policy forbids everything; the Swagger UI pages under
//! `/docs` get a policy that lets them load their own scripts and styles.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::{DefaultHeaders, Next};

pub const API_CSP: &str = "default-src 'none'; frame-ancestors 'none'";
pub const DOCS_CSP: &str =
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; script-src 'self' 'unsafe-inline'; frame-ancestors 'none'";

/// Headers added when a handler did not set them itself.
pub fn security_headers() -> DefaultHeaders {
    DefaultHeaders::new()
        .add((HeaderName::from_static("x-content-type-options"), HeaderValue::from_static("nosniff")))
        .add((HeaderName::from_static("x-frame-options"), HeaderValue::from_static("DENY")))
        .add((HeaderName::from_static("referrer-policy"), HeaderValue::from_static("no-referrer")))
        .add((HeaderName::from_static("content-security-policy"), HeaderValue::from_static(API_CSP)))
        .add((HeaderName::from_static("strict-transport-security"), HeaderValue::from_static("max-age=63072000; includeSubDomains")))
        .add((HeaderName::from_static("cross-origin-opener-policy"), HeaderValue::from_static("same-origin")))
        .add((HeaderName::from_static("cross-origin-resource-policy"), HeaderValue::from_static("same-origin")))
        .add((HeaderName::from_static("permissions-policy"), HeaderValue::from_static("camera=(), microphone=(), geolocation=()")))
        .add((HeaderName::from_static("cache-control"), HeaderValue::from_static("no-store")))
}

/// Gives the documentation pages their own policy. Registered inside
/// `security_headers`, so it runs first and the API's defaults do not apply.
pub async fn docs_policy(
    request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let is_docs = request.path() == "/docs" || request.path().starts_with("/docs/");
    let mut response = next.call(request).await?;
    if is_docs {
        let headers = response.headers_mut();
        headers.insert(HeaderName::from_static("content-security-policy"), HeaderValue::from_static(DOCS_CSP));
        headers.insert(HeaderName::from_static("cache-control"), HeaderValue::from_static("public, max-age=300"));
    }
    Ok(response)
}
