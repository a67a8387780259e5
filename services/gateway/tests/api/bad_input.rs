//! Bad input on every endpoint that takes a body: always a 4xx
//! problem+json, never a 5xx, never a panic.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{Person, TestApp, spawn_app, status_and_json, unique_email};

/// Every endpoint with a JSON body, with the id placeholders filled in.
fn body_endpoints(person: &Person) -> Vec<(Method, String, Option<String>)> {
    let token = Some(person.access_token.clone());
    vec![
        (Method::POST, "/v1/auth/signup".into(), None),
        (Method::POST, "/v1/auth/login".into(), None),
        (Method::POST, "/v1/auth/refresh".into(), None),
        (Method::POST, "/v1/auth/logout".into(), None),
        (Method::POST, "/v1/api-keys".into(), token.clone()),
        (Method::POST, "/v1/invitations".into(), token.clone()),
        (Method::POST, "/v1/invitations/accept".into(), None),
        (Method::POST, "/v1/invitations/decline".into(), None),
        (Method::PATCH, format!("/v1/members/{}", person.user_id), token.clone()),
        (Method::POST, "/v1/rules".into(), token.clone()),
        (Method::PUT, format!("/v1/rules/{}", uuid::Uuid::now_v7()), token.clone()),
        (Method::POST, "/v1/rules/test".into(), token.clone()),
        (Method::POST, format!("/v1/rules/{}/backtest", uuid::Uuid::now_v7()), token),
    ]
}

async fn send_raw(
    app: &TestApp,
    method: &Method,
    path: &str,
    token: Option<&str>,
    content_type: &str,
    body: Vec<u8>,
) -> (StatusCode, String, serde_json::Value) {
    let mut request = app.client.request(method.clone(), app.url(path)).header("content-type", content_type).body(body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("request");
    let content_type = response.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    let (status, body) = status_and_json(response).await;
    (status, content_type, body)
}

#[tokio::test]
async fn malformed_wrong_typed_oversized_and_mistyped_bodies_are_4xx_problems() {
    let app = spawn_app().await;
    let person = app.signup(&unique_email("owner"), "acme").await;
    // Over every admin limit, also the dry run's 1 MiB.
    let oversized = format!("{{\"email\": \"{}\"}}", "a".repeat(1100 * 1024)).into_bytes();
    // (case, content type, body, acceptable statuses)
    let cases: Vec<(&str, &str, Vec<u8>, &[StatusCode])> = vec![
        ("malformed JSON", "application/json", b"{".to_vec(), &[StatusCode::BAD_REQUEST]),
        ("not JSON at all", "application/json", b"email=a@b.c".to_vec(), &[StatusCode::BAD_REQUEST]),
        // serde reads a one-field struct from a one-element array, so the
        // extra elements may surface as a syntax error (400) or a type error (422).
        (
            "an array instead of an object",
            "application/json",
            b"[1, 2, 3]".to_vec(),
            &[StatusCode::BAD_REQUEST, StatusCode::UNPROCESSABLE_ENTITY],
        ),
        (
            "wrong field types",
            "application/json",
            br#"{"email": 42, "password": [], "token": {}, "refresh_token": 7, "scopes": "x", "role": 1}"#.to_vec(),
            &[StatusCode::UNPROCESSABLE_ENTITY],
        ),
        ("wrong content type", "text/plain", b"{}".to_vec(), &[StatusCode::UNSUPPORTED_MEDIA_TYPE]),
        ("oversized body", "application/json", oversized, &[StatusCode::PAYLOAD_TOO_LARGE]),
    ];
    for (method, path, token) in body_endpoints(&person) {
        for (case, content_type, body, expected) in &cases {
            let (status, response_type, problem) = send_raw(&app, &method, &path, token.as_deref(), content_type, body.clone()).await;
            assert!(expected.contains(&status), "{method} {path}, {case}: {status} {problem}");
            assert_eq!(response_type, "application/problem+json", "{method} {path}, {case}");
            assert!(problem["type"].as_str().is_some_and(|t| t.starts_with("https://signalops.dev/problems/")), "{problem}");
        }
        let unknown = send_raw(&app, &method, &path, token.as_deref(), "application/json", br#"{"unexpected_field": true}"#.to_vec()).await;
        assert_eq!(unknown.0, StatusCode::UNPROCESSABLE_ENTITY, "{method} {path}, unknown field: {}", unknown.2);
    }
}

#[tokio::test]
async fn bad_path_and_query_parameters_are_4xx_problems() {
    let app = spawn_app().await;
    let person = app.signup(&unique_email("owner"), "acme").await;
    let token = Some(person.access_token.as_str());
    for (method, path) in [
        (Method::DELETE, "/v1/api-keys/not-a-uuid"),
        (Method::PATCH, "/v1/members/not-a-uuid"),
        (Method::GET, "/v1/invitations/not-a-uuid"),
        (Method::GET, "/v1/api-keys?limit=0"),
        (Method::GET, "/v1/api-keys?limit=abc"),
        (Method::GET, "/v1/api-keys?cursor=%%%"),
        (Method::GET, "/v1/members?limit=100000"),
        (Method::GET, "/v1/audit-log?cursor=bm9wZQ"),
    ] {
        let body = if method == Method::PATCH { Some(json!({"role": "viewer"})) } else { None };
        let response = app.call(method.clone(), path, token, body).await;
        let status = response.status();
        let (_, problem) = status_and_json(response).await;
        assert!(status.is_client_error(), "{method} {path}: {status} {problem}");
        assert!(problem["type"].as_str().is_some(), "{method} {path}: {problem}");
    }
}

/// A cursor that decodes to `json` (cursors are base64url of JSON).
fn forged_cursor(json: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json)
}

#[tokio::test]
async fn nul_characters_and_forged_cursors_are_refused_on_every_route_before_sql() {
    let app = spawn_app().await;
    let person = app.signup(&unique_email("owner"), "acme").await;
    let (status, key) = status_and_json(
        app.call(Method::POST, "/v1/api-keys", Some(&person.access_token), Some(json!({"scopes": ["events:read", "events:write"]}))).await,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let key = key["key"].as_str().expect("key").to_owned();
    let nul_time = forged_cursor(r#"["2026-12-01T00:00:00Z", "a\u0000b"]"#);
    let ancient = forged_cursor(r#"["-200000-01-01T00:00:00Z", "e1"]"#);
    let nul_text = forged_cursor(r#""a\u0000""#);
    let uuid_cursor = forged_cursor(r#"["-200000-01-01T00:00:00Z", "00000000-0000-0000-0000-000000000000"]"#);
    let paths = vec![
        (Method::GET, "/v1/events/%00abc".to_owned()),
        (Method::GET, "/v1/events?subject=a%00b".to_owned()),
        (Method::GET, "/v1/events?type=a%00".to_owned()),
        (Method::GET, "/v1/events?type_prefix=%00".to_owned()),
        (Method::GET, format!("/v1/events?cursor={nul_time}")),
        (Method::GET, format!("/v1/events?cursor={ancient}")),
        (Method::GET, "/v1/events?from=0000-01-01T00:00:00Z&to=%2B10000-01-01T00:00:00Z".to_owned()),
        (Method::GET, "/v1/stats/event-types?from=%00".to_owned()),
        (Method::GET, "/v1/events/stream?from=%00".to_owned()),
        (Method::GET, "/v1/event-schemas/%00".to_owned()),
        (Method::GET, "/v1/event-schemas/a%20b".to_owned()),
        (Method::DELETE, "/v1/event-schemas/%00".to_owned()),
        (Method::GET, format!("/v1/event-schemas?cursor={nul_text}")),
        (Method::GET, format!("/v1/api-keys?cursor={uuid_cursor}")),
        (Method::GET, format!("/v1/members?cursor={uuid_cursor}")),
        (Method::GET, format!("/v1/invitations?cursor={uuid_cursor}")),
        (Method::GET, "/v1/audit-log?cursor=%00".to_owned()),
        (Method::DELETE, "/v1/api-keys/%00".to_owned()),
        (Method::GET, "/v1/invitations/%00".to_owned()),
        (Method::GET, "/v1/tenant?x=%00".to_owned()),
        (Method::GET, "/v1/rules/%00".to_owned()),
        (Method::GET, format!("/v1/rules?cursor={uuid_cursor}")),
        (Method::GET, format!("/v1/rules/{}/versions?cursor={nul_text}", uuid::Uuid::nil())),
        (Method::GET, format!("/v1/rules/{}/firings?cursor={nul_time}", uuid::Uuid::nil())),
        (Method::POST, "/v1/rules/%00/pause".to_owned()),
    ];
    for (method, path) in paths {
        for auth in ["token", "key"] {
            let mut request = app.client.request(method.clone(), app.url(&path));
            request = if auth == "token" { request.bearer_auth(&person.access_token) } else { request.header("x-api-key", &key) };
            let response = request.send().await.expect("answered");
            let (status, problem) = status_and_json(response).await;
            assert!(status.is_client_error(), "{method} {path} ({auth}): {status} {problem}");
            assert!(problem["type"].as_str().is_some(), "{method} {path}: {problem}");
        }
    }
    // Bodies that reach text and jsonb columns.
    for (method, path, body) in [
        (
            Method::POST,
            "/v1/auth/signup",
            json!({"email": unique_email("nul"), "password": "violet-harbour-lantern-42", "tenant_name": "a\u{0}b"}),
        ),
        (Method::POST, "/v1/api-keys", json!({"scopes": ["events:read"], "label": "a\u{0}"})),
        (Method::POST, "/v1/invitations", json!({"email": "a\u{0}@example.com", "role": "viewer"})),
        (Method::PUT, "/v1/event-schemas/invoice.paid", json!({"schema": {"description": "\u{0}"}})),
        (
            Method::POST,
            "/v1/rules",
            json!({"name": "a\u{0}", "event_types": ["a."], "when": {"path": "type", "op": "exists"}, "actions": []}),
        ),
        (Method::POST, "/v1/rules/test", json!({"rule": {"name": "x"}, "events": [{"type": "a", "data": {"k": "\u{0}"}}]})),
    ] {
        let response = app.call(method.clone(), path, Some(&person.access_token), Some(body)).await;
        let (status, problem) = status_and_json(response).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{method} {path}: {problem}");
    }
}
