//! API keys over HTTP: issue, list, use, revoke, expire — across instances.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use signalops_testkit::eventually;

use crate::helpers::{TestApp, assert_problem, spawn_app, spawn_app_with, status_and_json, unique_email};

async fn create_key(app: &TestApp, token: &str, scopes: &[&str]) -> Value {
    let (status, body) =
        status_and_json(app.call(Method::POST, "/v1/api-keys", Some(token), Some(json!({"label": "ci", "scopes": scopes}))).await).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body
}

async fn use_key(app: &TestApp, key: &str) -> StatusCode {
    app.client.get(app.url("/v1/api-keys/current")).header("x-api-key", key).send().await.expect("request").status()
}

#[tokio::test]
async fn a_key_is_shown_once_listed_without_its_secret_and_usable_both_ways() {
    let app = spawn_app().await;
    let owner = app.signup(&unique_email("owner"), "acme").await;
    let created = create_key(&app, &owner.access_token, &["events:write", "events:read"]).await;
    let key = created["key"].as_str().expect("key").to_owned();
    assert!(key.starts_with("so_test_") && key.starts_with(created["prefix"].as_str().expect("prefix")));

    let (status, list) = status_and_json(app.call(Method::GET, "/v1/api-keys", Some(&owner.access_token), None).await).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["items"].as_array().map(Vec::len), Some(1));
    assert!(!list.to_string().contains(&key[20..]), "the secret never appears in a list: {list}");
    assert_eq!(list["items"][0]["scopes"], json!(["events:write", "events:read"]));

    let (status, current) =
        status_and_json(app.client.get(app.url("/v1/api-keys/current")).bearer_auth(&key).send().await.expect("request")).await;
    assert_eq!(status, StatusCode::OK, "{current}");
    assert_eq!(current["tenant_id"], json!(owner.tenant_id));
    assert_eq!(use_key(&app, &key).await, StatusCode::OK, "x-api-key works too");

    // last_used_at is written in the background, not on the request path.
    let used = eventually(Duration::from_secs(10), || async {
        let (_, list) = status_and_json(app.call(Method::GET, "/v1/api-keys", Some(&owner.access_token), None).await).await;
        list["items"][0]["last_used_at"].as_str().map(str::to_owned)
    })
    .await;
    assert!(used.is_some(), "last_used_at recorded");

    // The change's system event was staged with it and relayed to Kafka.
    let relayed =
        eventually(Duration::from_secs(10), || async { app.system_events().into_iter().find(|e| e.r#type == "signalops.api_key.created") })
            .await
            .expect("signalops.api_key.created on the events topic");
    assert_eq!(relayed.tenant_id, owner.tenant_id);
    assert_eq!(relayed.source, "/signalops/control-plane");
    let data: Value = serde_json::from_slice(&relayed.data).expect("json data");
    assert_eq!(data["prefix"], created["prefix"]);
}

#[tokio::test]
async fn a_revoked_key_stops_working_on_every_instance_within_the_cache_ttl() {
    let app = spawn_app().await;
    let other = app.second_instance().await;
    let owner = app.signup(&unique_email("owner"), "acme").await;
    let created = create_key(&app, &owner.access_token, &["events:write"]).await;
    let key = created["key"].as_str().expect("key");
    assert_eq!(use_key(&other, key).await, StatusCode::OK, "cached on the other instance");

    let id = created["id"].as_str().expect("id");
    let response = app.call(Method::DELETE, &format!("/v1/api-keys/{id}"), Some(&owner.access_token), None).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(use_key(&app, key).await, StatusCode::UNAUTHORIZED, "at once where it was revoked");
    // cache_ttl_secs is 1 in tests.
    let refused =
        eventually(Duration::from_secs(5), || async { (use_key(&other, key).await == StatusCode::UNAUTHORIZED).then_some(()) }).await;
    assert!(refused.is_some(), "refused on the other instance after the TTL");

    let again = app.call(Method::DELETE, &format!("/v1/api-keys/{id}"), Some(&owner.access_token), None).await;
    assert_eq!(again.status(), StatusCode::NO_CONTENT, "revoking twice is harmless");
}

#[tokio::test]
async fn an_expired_key_is_refused() {
    let app = spawn_app().await;
    let owner = app.signup(&unique_email("owner"), "acme").await;
    let created = create_key(&app, &owner.access_token, &["events:write"]).await;
    let id: uuid::Uuid = created["id"].as_str().expect("id").parse().expect("uuid");
    let db = app.db.superuser().await.expect("superuser");
    db.execute("UPDATE api_keys SET expires_at = now() - interval '1 minute' WHERE id = $1", &[&id]).await.expect("expire");
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    assert_eq!(use_key(&app, created["key"].as_str().expect("key")).await, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn typos_unknown_keys_and_missing_keys_are_401_problems() {
    let app = spawn_app().await;
    let owner = app.signup(&unique_email("owner"), "acme").await;
    let created = create_key(&app, &owner.access_token, &["events:write"]).await;
    let key = created["key"].as_str().expect("key");
    let mut typo = key.to_owned().into_bytes();
    let last = typo.len() - 1;
    typo[last] = if typo[last] == b'a' { b'b' } else { b'a' };
    let typo = String::from_utf8(typo).expect("ascii");
    let unknown = signalops_platform::api_keys::ApiKey::generate("test");
    for presented in [typo.as_str(), "so_test_nonsense", unknown.expose()] {
        let response = app.client.get(app.url("/v1/api-keys/current")).header("x-api-key", presented).send().await.expect("request");
        assert_problem(response, StatusCode::UNAUTHORIZED, "unauthorized").await;
    }
    assert_problem(app.call(Method::GET, "/v1/api-keys/current", None, None).await, StatusCode::UNAUTHORIZED, "unauthorized").await;
}

#[tokio::test]
async fn scopes_and_inputs_are_validated_field_by_field() {
    let app = spawn_app().await;
    let owner = app.signup(&unique_email("owner"), "acme").await;
    let body = assert_problem(
        app.call(
            Method::POST,
            "/v1/api-keys",
            Some(&owner.access_token),
            Some(json!({"scopes": ["events:write", "root"], "expires_in_days": 0})),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation-failed",
    )
    .await;
    let fields: Vec<&str> = body["errors"].as_array().into_iter().flatten().filter_map(|e| e["field"].as_str()).collect();
    assert!(fields.contains(&"scopes[1]") && fields.contains(&"expires_in_days"), "{body}");
    assert_problem(
        app.call(Method::POST, "/v1/api-keys", Some(&owner.access_token), Some(json!({"scopes": []}))).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation-failed",
    )
    .await;
    assert_problem(
        app.call(Method::POST, "/v1/api-keys", Some(&owner.access_token), Some(json!({"scopes": ["events:read"], "owner": true}))).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation-failed",
    )
    .await;
}

#[tokio::test]
async fn members_may_list_keys_but_only_admins_create_and_viewers_see_none() {
    let app = spawn_app().await;
    let owner = app.signup(&unique_email("owner"), "acme").await;
    let member = app.add_member(&owner.tenant_id, "member").await;
    let viewer = app.add_member(&owner.tenant_id, "viewer").await;
    let admin = app.add_member(&owner.tenant_id, "admin").await;
    assert_eq!(app.call(Method::GET, "/v1/api-keys", Some(&member.access_token), None).await.status(), StatusCode::OK);
    assert_problem(app.call(Method::GET, "/v1/api-keys", Some(&viewer.access_token), None).await, StatusCode::FORBIDDEN, "forbidden").await;
    assert_problem(
        app.call(Method::POST, "/v1/api-keys", Some(&member.access_token), Some(json!({"scopes": ["events:read"]}))).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    create_key(&app, &admin.access_token, &["events:read"]).await;
}

#[tokio::test]
async fn another_tenants_key_is_not_found() {
    let app = spawn_app().await;
    let a = app.signup(&unique_email("a"), "a").await;
    let b = app.signup(&unique_email("b"), "b").await;
    let b_key = create_key(&app, &b.access_token, &["events:write"]).await;
    let id = b_key["id"].as_str().expect("id");
    assert_problem(
        app.call(Method::DELETE, &format!("/v1/api-keys/{id}"), Some(&a.access_token), None).await,
        StatusCode::NOT_FOUND,
        "not-found",
    )
    .await;
    let (_, a_list) = status_and_json(app.call(Method::GET, "/v1/api-keys", Some(&a.access_token), None).await).await;
    assert_eq!(a_list["items"].as_array().map(Vec::len), Some(0));
    assert_eq!(use_key(&app, b_key["key"].as_str().expect("key")).await, StatusCode::OK, "b's key still works");
}

/// Failed authentications are limited per client address: past the budget
/// the address gets 429 problem+json with Retry-After for every key that
/// would need a lookup, while a key already verified (in memory) still works.
#[tokio::test]
async fn too_many_failed_authentications_from_one_address_get_429_with_retry_after() {
    let app = spawn_app_with(|c| c.api_keys.failed_auth_per_minute_per_ip = 3).await;
    let owner = app.signup(&unique_email("owner"), "acme").await;
    let known = create_key(&app, &owner.access_token, &["events:write"]).await;
    let known = known["key"].as_str().expect("key");
    assert_eq!(use_key(&app, known).await, StatusCode::OK, "verified once, now in memory");
    let unseen = create_key(&app, &owner.access_token, &["events:write"]).await;
    let unseen = unseen["key"].as_str().expect("key");

    for _ in 0..3 {
        let invented = signalops_platform::api_keys::ApiKey::generate("test");
        assert_eq!(use_key(&app, invented.expose()).await, StatusCode::UNAUTHORIZED, "within the budget");
    }
    let invented = signalops_platform::api_keys::ApiKey::generate("test");
    let refused = app.client.get(app.url("/v1/api-keys/current")).header("x-api-key", invented.expose()).send().await.expect("request");
    let retry_after: u64 = refused.headers()["retry-after"].to_str().expect("ascii").parse().expect("seconds");
    assert!((1..=20).contains(&retry_after), "{retry_after}");
    assert_problem(refused, StatusCode::TOO_MANY_REQUESTS, "rate-limited").await;

    assert_eq!(use_key(&app, unseen).await, StatusCode::TOO_MANY_REQUESTS, "a key that needs a lookup waits too");
    assert_eq!(use_key(&app, known).await, StatusCode::OK, "a key already in memory keeps working");
}
