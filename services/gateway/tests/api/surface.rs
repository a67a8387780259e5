//! What every client sees regardless of endpoint: the OpenAPI document, the
//! offline Swagger UI, security headers, CORS, problem+json for unknown paths.

use reqwest::{Method, StatusCode};

use crate::helpers::{assert_problem, spawn_app, spawn_app_with, status_and_json};

#[tokio::test]
async fn openapi_document_is_served_and_describes_the_admin_api() {
    let app = spawn_app().await;
    let (status, spec) = status_and_json(app.call(Method::GET, "/openapi.json", None, None).await).await;
    assert_eq!(status, StatusCode::OK);
    assert!(spec["openapi"].as_str().is_some_and(|v| v.starts_with("3.1")), "{}", spec["openapi"]);
    let paths = spec["paths"].as_object().expect("paths");
    for path in ["/v1/tenant", "/v1/audit-log"] {
        assert!(paths.contains_key(path), "{path} missing from {:?}", paths.keys().collect::<Vec<_>>());
    }
    assert!(spec["components"]["securitySchemes"]["bearer"].is_object());
}

#[tokio::test]
async fn swagger_ui_works_offline_from_bundled_assets() {
    let app = spawn_app().await;
    let response = app.call(Method::GET, "/docs/", None, None).await;
    assert_eq!(response.status(), StatusCode::OK);
    let csp = response.headers().get("content-security-policy").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    let html = response.text().await.expect("html");
    assert!(html.contains("swagger-ui"), "{html}");
    assert!(!html.contains("://cdn") && !html.contains("unpkg.com") && !html.contains("jsdelivr"), "no CDN: {html}");
    assert!(csp.contains("script-src 'self'"), "docs CSP lets the bundled scripts run: {csp}");
    let script = app.call(Method::GET, "/docs/swagger-ui-bundle.js", None, None).await;
    assert_eq!(script.status(), StatusCode::OK, "bundled asset served");
    let (status, _) = status_and_json(app.call(Method::GET, "/docs/openapi.json", None, None).await).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn every_response_carries_security_headers_and_a_request_id() {
    let app = spawn_app().await;
    for path in ["/livez", "/v1/tenant", "/nowhere"] {
        let response = app.call(Method::GET, path, None, None).await;
        let header = |name: &str| response.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
        assert_eq!(header("x-content-type-options").as_deref(), Some("nosniff"), "{path}");
        assert_eq!(header("x-frame-options").as_deref(), Some("DENY"), "{path}");
        assert_eq!(header("referrer-policy").as_deref(), Some("no-referrer"), "{path}");
        assert!(header("content-security-policy").is_some_and(|v| v.contains("default-src 'none'")), "{path}");
        assert!(header("strict-transport-security").is_some(), "{path}");
        assert!(header("x-request-id").is_some_and(|v| !v.is_empty()), "{path}");
    }
}

#[tokio::test]
async fn unknown_paths_are_problem_json_404() {
    let app = spawn_app().await;
    assert_problem(app.call(Method::GET, "/v1/nothing-here", None, None).await, StatusCode::NOT_FOUND, "not-found").await;
    assert_problem(app.call(Method::DELETE, "/v2", None, None).await, StatusCode::NOT_FOUND, "not-found").await;
}

#[tokio::test]
async fn a_method_no_route_takes_is_a_problem_json_404() {
    // Routes are method-guarded, so an unsupported method finds no route.
    let app = spawn_app().await;
    assert_problem(app.call(Method::PUT, "/v1/tenant", None, None).await, StatusCode::NOT_FOUND, "not-found").await;
}

#[tokio::test]
async fn cors_allows_only_configured_origins() {
    let app = spawn_app_with(|c| c.api.cors_origins = "https://dashboard.example.com".into()).await;
    let preflight = |origin: &'static str| {
        app.client
            .request(Method::OPTIONS, app.url("/v1/tenant"))
            .header("origin", origin)
            .header("access-control-request-method", "GET")
            .header("access-control-request-headers", "authorization")
            .send()
    };
    let allowed = preflight("https://dashboard.example.com").await.expect("preflight");
    assert_eq!(allowed.headers().get("access-control-allow-origin").and_then(|v| v.to_str().ok()), Some("https://dashboard.example.com"));
    let denied = preflight("https://evil.example.com").await.expect("preflight");
    assert!(denied.headers().get("access-control-allow-origin").is_none());
}

#[tokio::test]
async fn the_tenant_endpoint_requires_a_token() {
    let app = spawn_app().await;
    let body = assert_problem(app.call(Method::GET, "/v1/tenant", None, None).await, StatusCode::UNAUTHORIZED, "unauthorized").await;
    assert!(body["detail"].as_str().is_some_and(|d| d.contains("Bearer")), "{body}");
}
