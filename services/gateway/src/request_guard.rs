//! Two guards around every handler, so no request ends in a dropped
//! connection or a database error:
//! - `catch_panics`: a handler that panics answers 500 problem+json (the
//!   panic is logged) instead of taking the connection down with it;
//! - `refuse_nul_in_url`: a path or query that decodes to a NUL character
//!   is refused (400) before any handler runs. No parameter may hold one:
//!   Postgres text cannot store it, so it could only ever fail in SQL.

use std::panic::AssertUnwindSafe;

use actix_web::ResponseError;
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use futures::FutureExt as _;

use crate::problem::ApiError;

pub async fn catch_panics(
    request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    // The request cannot be kept (routing needs it unshared), so the panic
    // becomes an error, which actix answers with the error's own response.
    // Both clones share the request's buffers: nothing is copied unless it panics.
    let (method, uri) = (request.method().clone(), request.uri().clone());
    match AssertUnwindSafe(next.call(request)).catch_unwind().await {
        Ok(result) => result.map(ServiceResponse::map_into_boxed_body),
        Err(panic) => {
            let message = panic_message(panic.as_ref());
            Err(ApiError::Internal(anyhow::anyhow!("the handler of {method} {} panicked: {message}", uri.path())).into())
        }
    }
}

pub fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic.downcast_ref::<&str>().map(|s| (*s).to_owned()).or_else(|| panic.downcast_ref::<String>().cloned()).unwrap_or_default()
}

pub async fn refuse_nul_in_url(
    request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    if let Some(parameter) = nul_parameter(request.uri().path(), request.query_string()) {
        let error = ApiError::Malformed(format!("{parameter} contains a NUL character (%00), which no parameter may hold"));
        let (http_request, _) = request.into_parts();
        return Ok(ServiceResponse::new(http_request, error.error_response()));
    }
    next.call(request).await.map(ServiceResponse::map_into_boxed_body)
}

/// Which part of the URL decodes to a NUL: `the path` or `query parameter \`x\``.
fn nul_parameter(path: &str, query: &str) -> Option<String> {
    let decodes_to_nul = |raw: &str| percent_encoding::percent_decode_str(raw).any(|b| b == 0);
    if decodes_to_nul(path) {
        return Some("the path".to_owned());
    }
    query.split('&').find(|pair| decodes_to_nul(pair)).map(|pair| {
        let name = pair.split('=').next().unwrap_or("");
        let name = String::from_utf8_lossy(&percent_encoding::percent_decode_str(name).collect::<Vec<u8>>()).replace('\0', "\\0");
        format!("query parameter `{name}`")
    })
}

#[cfg(test)]
mod tests {
    use actix_web::test::{TestRequest, call_service, init_service, try_call_service};
    use actix_web::{App, HttpResponse, middleware, web};

    use super::*;

    async fn boom() -> HttpResponse {
        panic!("row could not be read")
    }

    #[actix_web::test]
    async fn a_panicking_handler_answers_500_problem_json_and_the_server_goes_on() {
        let app = init_service(
            App::new()
                .wrap(middleware::from_fn(catch_panics))
                .route("/boom", web::get().to(boom))
                .route("/fine", web::get().to(|| async { HttpResponse::Ok().finish() })),
        )
        .await;
        // The server answers an error with its response, as here.
        let error = try_call_service(&app, TestRequest::get().uri("/boom").to_request()).await.expect_err("the panic became an error");
        let response = error.error_response();
        assert_eq!(response.status(), 500);
        assert_eq!(response.headers().get("content-type").map(|v| v.as_bytes()), Some(&b"application/problem+json"[..]));
        let bytes = actix_web::body::to_bytes(response.into_body()).await.expect("body");
        let body: serde_json::Value = serde_json::from_slice(&bytes).expect("problem+json");
        assert_eq!(body["type"], "https://signalops.dev/problems/internal");
        assert!(body.get("detail").is_none(), "nothing internal reaches the client: {body}");
        let response = call_service(&app, TestRequest::get().uri("/fine").to_request()).await;
        assert_eq!(response.status(), 200);
    }

    #[test]
    fn nul_is_found_in_the_path_and_named_in_the_query() {
        assert_eq!(nul_parameter("/v1/events/%00abc", "").as_deref(), Some("the path"));
        assert_eq!(nul_parameter("/v1/events", "limit=5&subject=a%00b").as_deref(), Some("query parameter `subject`"));
        assert_eq!(nul_parameter("/v1/events/a%20b", "subject=%2500"), None, "an encoded percent sign is not a NUL");
    }
}
