//! An open live tail re-checks its credential: a revoked key, a removed
//! member and an expired access token each end the stream with a last
//! `signalops:stream-closed` frame saying why. `api_keys.cache_ttl_secs` is
//! 1 in the test config, so a re-check comes every second.

use std::time::Duration;

use reqwest::{Method, Response, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Person, TestApp, spawn_app, spawn_app_with, status_and_json, unique_email};
use crate::tail::streams_shared;

/// A client reading one stream block by block.
struct Reader {
    response: Response,
    text: String,
}

const WITHIN: Duration = Duration::from_secs(15);

impl Reader {
    /// The next frame or comment, or `None` when the body ended.
    async fn next_block(&mut self) -> Option<String> {
        let deadline = tokio::time::Instant::now() + WITHIN;
        loop {
            if let Some(end) = self.text.find("\n\n") {
                return Some(self.text.drain(..end + 2).collect());
            }
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match tokio::time::timeout(left, self.response.chunk()).await {
                Ok(Ok(Some(chunk))) => self.text.push_str(std::str::from_utf8(&chunk).expect("utf-8")),
                Ok(Ok(None)) => return None,
                Ok(Err(error)) => panic!("stream broke: {error}"),
                Err(_) => panic!("nothing arrived within {WITHIN:?}"),
            }
        }
    }

    /// Reads until a frame of `event_type` arrived.
    async fn wait_for(&mut self, event_type: &str) {
        let wanted = format!("event: {event_type}\n");
        while let Some(block) = self.next_block().await {
            assert!(!block.contains("signalops:stream-closed"), "closed early: {block}");
            if block.contains(&wanted) {
                return;
            }
        }
        panic!("the stream ended before {event_type}");
    }

    /// Reads until the closing frame, checks that the body ends right after
    /// it, and returns its `data` and when it arrived.
    async fn until_closed(mut self) -> (Value, tokio::time::Instant) {
        loop {
            let block = self.next_block().await.expect("the stream ended without a closing frame");
            if !block.contains("event: signalops:stream-closed\n") {
                continue;
            }
            let at = tokio::time::Instant::now();
            assert!(!block.lines().any(|l| l.starts_with("id:")), "the closing frame has no id: {block}");
            let data = block.lines().find_map(|l| l.strip_prefix("data: ")).expect("data");
            let closed: Value = serde_json::from_str(data).expect("json");
            assert!(closed["detail"].as_str().is_some_and(|d| !d.is_empty()), "{closed}");
            assert_eq!(self.next_block().await, None, "nothing after the closing frame");
            return (closed, at);
        }
    }
}

async fn create_key(app: &TestApp, owner: &Person, scopes: &[&str]) -> Value {
    let response = app.call(Method::POST, "/v1/api-keys", Some(&owner.access_token), Some(json!({"scopes": scopes}))).await;
    let (status, body) = status_and_json(response).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body
}

async fn open_stream(app: &TestApp, header: (&str, &str)) -> Reader {
    let response = app.client.get(app.url("/v1/events/stream")).header(header.0, header.1).send().await.expect("stream opened");
    assert_eq!(response.status(), StatusCode::OK);
    Reader { response, text: String::new() }
}

async fn send(app: &TestApp, key: &str, event_type: &str) {
    let response = app
        .client
        .post(app.url("/v1/events"))
        .header("x-api-key", key)
        .json(&json!({"type": event_type, "payload": {}}))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), StatusCode::ACCEPTED);
}

/// Revoked on another instance, so the stream's gateway learns it only
/// from its own re-check, not from a local cache invalidation.
#[tokio::test]
async fn a_stream_whose_key_is_revoked_elsewhere_ends_within_the_cache_ttl() {
    let _streams = streams_shared().await;
    let app = spawn_app().await;
    let other = app.second_instance().await;
    let owner = app.signup(&unique_email("owner"), "acme").await;
    let created = create_key(&app, &owner, &["events:read", "events:write"]).await;
    let key = created["key"].as_str().expect("key").to_owned();
    let mut stream = open_stream(&app, ("x-api-key", &key)).await;
    send(&app, &key, "before.revocation").await;
    stream.wait_for("before.revocation").await;

    let id = created["id"].as_str().expect("id");
    let revoked_at = tokio::time::Instant::now();
    let response = other.call(Method::DELETE, &format!("/v1/api-keys/{id}"), Some(&owner.access_token), None).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);

    let (closed, at) = stream.until_closed().await;
    assert_eq!(closed["reason"], "api-key-revoked", "{closed}");
    // Re-checked every cache_ttl_secs (1 s); the rest is slack for a busy machine.
    let took = at - revoked_at;
    assert!(took < Duration::from_secs(4), "ended {took:?} after the revocation");
}

#[tokio::test]
async fn a_removed_members_stream_ends() {
    let _streams = streams_shared().await;
    let app = spawn_app().await;
    let owner = app.signup(&unique_email("owner"), "acme").await;
    let member = app.add_member(&owner.tenant_id, "viewer").await;
    let bearer = format!("Bearer {}", member.access_token);
    let stream = open_stream(&app, ("authorization", &bearer)).await;

    let removed_at = tokio::time::Instant::now();
    let response = app.call(Method::DELETE, &format!("/v1/members/{}", member.user_id), Some(&owner.access_token), None).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);

    let (closed, at) = stream.until_closed().await;
    assert_eq!(closed["reason"], "access-removed", "{closed}");
    let took = at - removed_at;
    assert!(took < Duration::from_secs(4), "ended {took:?} after the removal");
    // The owner's stream is unaffected: it still opens.
    drop(open_stream(&app, ("authorization", &format!("Bearer {}", owner.access_token))).await);
}

#[tokio::test]
async fn a_stream_ends_when_its_access_token_expires() {
    let _streams = streams_shared().await;
    let app = spawn_app_with(|c| c.auth.access_token_ttl_secs = 4).await;
    let owner = app.signup(&unique_email("owner"), "acme").await;
    let issued_at = tokio::time::Instant::now();
    let created = create_key(&app, &owner, &["events:write"]).await;
    let key = created["key"].as_str().expect("key");
    let mut stream = open_stream(&app, ("authorization", &format!("Bearer {}", owner.access_token))).await;
    send(&app, key, "while.valid").await;
    stream.wait_for("while.valid").await;

    let (closed, at) = stream.until_closed().await;
    assert_eq!(closed["reason"], "token-expired", "{closed}");
    // `exp` is in whole seconds: 3-4 s after issue, plus slack.
    let lived = at - issued_at;
    assert!(lived >= Duration::from_secs(1) && lived < Duration::from_secs(7), "lived {lived:?}");
}
