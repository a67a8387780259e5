//! The live tail (`GET /v1/events/stream`) over real HTTP against the real
//! broker: only the caller's tenant, start positions, resume, auth, limits.

use std::time::Duration;

use reqwest::{Method, Response, StatusCode};
use serde_json::{Value, json};
use tokio::sync::{RwLock, RwLockReadGuard};

use crate::helpers::{Person, TestApp, assert_problem, spawn_app, spawn_app_with, status_and_json, unique_email};

/// The open-streams gauge counts every gateway in this test process. Tests
/// that open streams share this lock; the one that checks the gauge takes it
/// alone, so no other test's stream moves the value meanwhile.
pub(crate) static STREAMS: RwLock<()> = RwLock::const_new(());

pub(crate) async fn streams_shared() -> RwLockReadGuard<'static, ()> {
    STREAMS.read().await
}

/// A frame as a client sees it.
#[derive(Debug)]
struct Frame {
    id: String,
    event: String,
    data: Value,
}

/// A new tenant (its owner) and an API key of that tenant with `scopes`.
async fn tenant_with_key(app: &TestApp, scopes: &[&str]) -> (Person, String) {
    let owner = app.signup(&unique_email("owner"), "acme").await;
    let (status, body) =
        status_and_json(app.call(Method::POST, "/v1/api-keys", Some(&owner.access_token), Some(json!({"scopes": scopes}))).await).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    (owner, body["key"].as_str().expect("key").to_owned())
}

/// Sends one event and returns its (partition, offset).
async fn send(app: &TestApp, key: &str, event_type: &str, n: i64) -> (i64, i64) {
    let response = app
        .client
        .post(app.url("/v1/events"))
        .header("x-api-key", key)
        .json(&json!({"type": event_type, "payload": {"n": n}}))
        .send()
        .await
        .expect("request");
    let (status, receipt) = status_and_json(response).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{receipt}");
    (receipt["partition"].as_i64().expect("partition"), receipt["offset"].as_i64().expect("offset"))
}

async fn open(app: &TestApp, query: &str, headers: &[(&str, &str)]) -> Response {
    let mut request = app.client.get(app.url(&format!("/v1/events/stream{query}")));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.expect("stream opened")
}

async fn open_ok(app: &TestApp, query: &str, headers: &[(&str, &str)]) -> Response {
    let response = open(app, query, headers).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    assert_eq!(response.headers()["cache-control"], "no-store");
    response
}

/// Reads frames until `want` arrived (then `linger` longer, to catch
/// extras) or `within` passed. Comments (heartbeats) are skipped, and so are
/// the tenant's own system events (`signalops.*`, e.g. the key's creation,
/// relayed from the outbox at their own pace): they are its events too, but
/// the tests count what they sent.
async fn read_frames(mut response: Response, want: usize, within: Duration, linger: Duration) -> Vec<Frame> {
    let deadline = tokio::time::Instant::now() + within;
    let mut stop_at = deadline;
    let mut text = String::new();
    let mut frames = Vec::new();
    loop {
        let now = tokio::time::Instant::now();
        if now >= stop_at {
            return frames;
        }
        match tokio::time::timeout(stop_at - now, response.chunk()).await {
            Ok(Ok(Some(chunk))) => text.push_str(std::str::from_utf8(&chunk).expect("utf-8")),
            Ok(Ok(None)) | Err(_) => return frames,
            Ok(Err(error)) => panic!("stream broke: {error}"),
        }
        while let Some(end) = text.find("\n\n") {
            let block: String = text.drain(..end + 2).collect();
            frames.extend(parse_block(&block).filter(|f| !f.event.starts_with("signalops.")));
        }
        if frames.len() >= want && stop_at == deadline {
            stop_at = (tokio::time::Instant::now() + linger).min(deadline);
        }
    }
}

fn parse_block(block: &str) -> Option<Frame> {
    let field = |name: &str| block.lines().find_map(|l| l.strip_prefix(name)).map(str::to_owned);
    let data = field("data: ")?;
    Some(Frame {
        id: field("id: ").expect("id"),
        event: field("event: ").expect("event"),
        data: serde_json::from_str(&data).expect("data is JSON"),
    })
}

const WITHIN: Duration = Duration::from_secs(15);
const LINGER: Duration = Duration::from_millis(1500);

#[tokio::test]
async fn a_stream_gets_its_tenants_new_events_and_never_another_tenants() {
    let _streams = streams_shared().await;
    let app = spawn_app().await;
    let (_, key_a) = tenant_with_key(&app, &["events:read", "events:write"]).await;
    let (_, key_b) = tenant_with_key(&app, &["events:read", "events:write"]).await;
    send(&app, &key_a, "a.before", 0).await;
    let stream = open_ok(&app, "", &[("x-api-key", &key_a)]).await;
    let mut sent = Vec::new();
    for n in 1..=3 {
        send(&app, &key_b, "b.secret", n).await;
        sent.push(send(&app, &key_a, "a.after", n).await);
    }
    let frames = read_frames(stream, 3, WITHIN, LINGER).await;
    let types: Vec<&str> = frames.iter().map(|f| f.event.as_str()).collect();
    assert_eq!(types, ["a.after"; 3], "only A's events sent after opening: {frames:?}");
    for (frame, (partition, offset)) in frames.iter().zip(&sent) {
        assert_eq!(frame.id, format!("{partition}:{offset}"));
        assert_eq!((frame.data["partition"].as_i64(), frame.data["offset"].as_i64()), (Some(*partition), Some(*offset)));
        assert_eq!(frame.data["type"], "a.after");
        assert!(frame.data["id"].is_string() && frame.data["received_at"].is_string(), "{:?}", frame.data);
    }
    let payloads: Vec<&Value> = frames.iter().map(|f| &f.data["data"]).collect();
    assert_eq!(payloads, [&json!({"n": 1}), &json!({"n": 2}), &json!({"n": 3})]);
}

#[tokio::test]
async fn from_a_time_before_sending_replays_earlier_events() {
    let _streams = streams_shared().await;
    let app = spawn_app().await;
    let (_, key) = tenant_with_key(&app, &["events:read", "events:write"]).await;
    let before = (chrono::Utc::now() - chrono::Duration::seconds(2)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    send(&app, &key, "replayed", 1).await;
    send(&app, &key, "replayed", 2).await;
    let stream = open_ok(&app, &format!("?from={before}"), &[("x-api-key", &key)]).await;
    let frames = read_frames(stream, 2, WITHIN, LINGER).await;
    let payloads: Vec<&Value> = frames.iter().map(|f| &f.data["data"]).collect();
    assert_eq!(payloads, [&json!({"n": 1}), &json!({"n": 2})], "{frames:?}");
}

#[tokio::test]
async fn offsets_and_last_event_id_choose_where_a_partition_starts() {
    let _streams = streams_shared().await;
    let app = spawn_app().await;
    let (_, key) = tenant_with_key(&app, &["events:read", "events:write"]).await;
    let mut sent = Vec::new();
    for n in 1..=3 {
        sent.push(send(&app, &key, "numbered", n).await);
    }
    let (partition, second) = sent[1];
    let stream = open_ok(&app, &format!("?offsets={partition}:{second}"), &[("x-api-key", &key)]).await;
    let ids: Vec<String> = read_frames(stream, 2, WITHIN, LINGER).await.into_iter().map(|f| f.id).collect();
    assert_eq!(ids, [format!("{partition}:{second}"), format!("{partition}:{}", sent[2].1)]);

    let resume = format!("{partition}:{second}");
    let stream = open_ok(&app, "", &[("x-api-key", &key), ("last-event-id", &resume)]).await;
    let ids: Vec<String> = read_frames(stream, 1, WITHIN, LINGER).await.into_iter().map(|f| f.id).collect();
    assert_eq!(ids, [format!("{partition}:{}", sent[2].1)], "resumes right after the last seen event");
}

#[tokio::test]
async fn invalid_start_positions_are_422_naming_the_field() {
    let _streams = streams_shared().await;
    let app = spawn_app().await;
    let (_, key) = tenant_with_key(&app, &["events:read"]).await;
    for (query, last_event_id, field) in [
        ("?from=yesterday", None, "from"),
        ("?offsets=0", None, "offsets"),
        ("?offsets=0:-5", None, "offsets"),
        ("?offsets=99:0", None, "offsets"),
        ("", Some("nope"), "Last-Event-ID"),
    ] {
        let mut headers = vec![("x-api-key", key.as_str())];
        headers.extend(last_event_id.map(|v| ("last-event-id", v)));
        let body = assert_problem(open(&app, query, &headers).await, StatusCode::UNPROCESSABLE_ENTITY, "validation-failed").await;
        assert_eq!(body["errors"][0]["field"], field, "{query} {body}");
    }
}

#[tokio::test]
async fn a_key_without_events_read_is_403_and_no_credentials_401() {
    let _streams = streams_shared().await;
    let app = spawn_app().await;
    let (_, key) = tenant_with_key(&app, &["events:write"]).await;
    assert_problem(open(&app, "", &[("x-api-key", &key)]).await, StatusCode::FORBIDDEN, "forbidden").await;
    assert_problem(open(&app, "", &[]).await, StatusCode::UNAUTHORIZED, "unauthorized").await;
    assert_problem(open(&app, "", &[("authorization", "Bearer not-a-jwt")]).await, StatusCode::UNAUTHORIZED, "unauthorized").await;
}

#[tokio::test]
async fn a_persons_access_token_opens_the_tenants_stream() {
    let _streams = streams_shared().await;
    let app = spawn_app().await;
    let (owner, key) = tenant_with_key(&app, &["events:write"]).await;
    let bearer = format!("Bearer {}", owner.access_token);
    let stream = open_ok(&app, "", &[("authorization", &bearer)]).await;
    send(&app, &key, "seen.by.dashboard", 7).await;
    let frames = read_frames(stream, 1, WITHIN, Duration::ZERO).await;
    assert_eq!(frames.len(), 1, "{frames:?}");
    assert_eq!(frames[0].data["data"], json!({"n": 7}));
}

/// `signalops_tail_open_streams` as this app's `/metrics` reports it (0
/// before the first stream registers it).
async fn open_streams_gauge(app: &TestApp) -> i64 {
    let text = app.client.get(app.url("/metrics")).send().await.expect("metrics").text().await.expect("metrics text");
    text.lines()
        .find_map(|line| line.strip_prefix("signalops_tail_open_streams "))
        .map_or(0, |value| value.trim().parse().expect("gauge value"))
}

/// Polls until `gauge == want` or `within` passes; returns the last value.
async fn wait_for_gauge(app: &TestApp, want: i64, within: Duration) -> i64 {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let value = open_streams_gauge(app).await;
        if value == want || tokio::time::Instant::now() >= deadline {
            return value;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn retry_after(response: &Response) -> u64 {
    let value = response.headers().get("retry-after").expect("Retry-After").to_str().expect("ASCII");
    value.parse().expect("Retry-After in seconds")
}

#[tokio::test]
async fn a_tenant_at_its_stream_limit_gets_429_while_another_tenant_still_opens_one() {
    let _streams = streams_shared().await;
    let app = spawn_app_with(|c| c.ingest.tail_max_streams_per_tenant = 1).await;
    let (owner_a, key_a) = tenant_with_key(&app, &["events:read"]).await;
    let (_, key_b) = tenant_with_key(&app, &["events:read"]).await;
    let _held = open_ok(&app, "", &[("x-api-key", &key_a)]).await;

    let refused = open(&app, "", &[("x-api-key", &key_a)]).await;
    assert!(retry_after(&refused) >= 1);
    let body = assert_problem(refused, StatusCode::TOO_MANY_REQUESTS, "too-many-streams").await;
    assert!(body["detail"].as_str().is_some_and(|d| d.contains("tail_max_streams_per_tenant")), "{body}");
    // The limit is the tenant's, however the caller authenticates.
    let bearer = format!("Bearer {}", owner_a.access_token);
    assert_problem(open(&app, "", &[("authorization", &bearer)]).await, StatusCode::TOO_MANY_REQUESTS, "too-many-streams").await;

    let _other = open_ok(&app, "", &[("x-api-key", &key_b)]).await;
}

#[tokio::test]
async fn the_instance_limit_counts_every_tenants_streams() {
    let _streams = streams_shared().await;
    let app = spawn_app_with(|c| c.ingest.tail_max_streams = 1).await;
    let (_, key_a) = tenant_with_key(&app, &["events:read"]).await;
    let (_, key_b) = tenant_with_key(&app, &["events:read"]).await;
    let _held = open_ok(&app, "", &[("x-api-key", &key_a)]).await;

    let refused = open(&app, "", &[("x-api-key", &key_b)]).await;
    assert!(retry_after(&refused) >= 1);
    let body = assert_problem(refused, StatusCode::TOO_MANY_REQUESTS, "too-many-streams").await;
    let detail = body["detail"].as_str().unwrap_or_default();
    assert!(detail.contains("ingest.tail_max_streams") && !detail.contains("per_tenant"), "{body}");
}

#[tokio::test]
async fn a_disconnect_stops_the_consumer_and_frees_the_slot_and_the_gauge() {
    // Alone among stream-opening tests: the gauge is process-wide.
    let _streams = STREAMS.write().await;
    let app = spawn_app_with(|c| c.ingest.tail_max_streams_per_tenant = 1).await;
    let (_, key) = tenant_with_key(&app, &["events:read"]).await;
    // Streams of tests that just finished may still be closing.
    let before = wait_for_gauge(&app, 0, WITHIN).await;
    assert_eq!(before, 0, "no stream open in this process");

    let stream = open_ok(&app, "", &[("x-api-key", &key)]).await;
    assert_eq!(open_streams_gauge(&app).await, before + 1);
    assert_problem(open(&app, "", &[("x-api-key", &key)]).await, StatusCode::TOO_MANY_REQUESTS, "too-many-streams").await;

    drop(stream);
    // Only a stopped consumer thread frees the slot, so a 200 proves it stopped.
    let deadline = tokio::time::Instant::now() + WITHIN;
    let reopened = loop {
        let response = open(&app, "", &[("x-api-key", &key)]).await;
        if response.status() == StatusCode::OK {
            break response;
        }
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert!(tokio::time::Instant::now() < deadline, "the slot was not freed within {WITHIN:?} of the disconnect");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(open_streams_gauge(&app).await, before + 1, "the reopened stream only");

    drop(reopened);
    assert_eq!(wait_for_gauge(&app, before, WITHIN).await, before, "the gauge returns to its value before the streams");
}

#[tokio::test]
async fn the_openapi_document_lists_the_429_with_retry_after() {
    let app = spawn_app().await;
    let (status, spec) = status_and_json(app.call(Method::GET, "/openapi.json", None, None).await).await;
    assert_eq!(status, StatusCode::OK);
    let refused = &spec["paths"]["/v1/events/stream"]["get"]["responses"]["429"];
    assert!(refused["description"].as_str().is_some_and(|d| d.contains("too-many-streams")), "{refused}");
    assert!(refused["headers"]["Retry-After"].is_object(), "{refused}");
}
