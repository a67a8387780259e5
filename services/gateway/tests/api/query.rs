//! The query API over the projected read model, end to end: events sent
//! over HTTP, projected by the real projector runtime from the real broker,
//! read back per tenant with filters, stable pages, by id and as counts.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use signalops_platform::config::ConsumerSettings;
use signalops_platform::consumer::{ConsumerRuntime, DeadLetterSink};
use signalops_platform::kafka::EventProducer;
use signalops_platform::postgres;
use signalops_platform::shutdown::CancellationToken;
use signalops_projector::EventsProjection;
use signalops_testkit::eventually;

use crate::helpers::{Person, TestApp, assert_problem, spawn_app, status_and_json, unique_email};

/// Runs the projector over the app's events topic and database until dropped.
pub struct Projector(CancellationToken);

impl Drop for Projector {
    fn drop(&mut self) {
        self.0.cancel();
    }
}

pub async fn projector(app: &TestApp) -> Projector {
    let producer = EventProducer::new(&app.stack.kafka_settings(), "query-test").expect("producer");
    let dlq = app.stack.topic("query-dlq", 1).await.expect("dlq");
    let settings = ConsumerSettings {
        batch_max_wait_ms: 20,
        session_timeout_ms: 10_000,
        drain_timeout_ms: 5_000,
        ..ConsumerSettings::for_group(format!("test-projector-{}", uuid::Uuid::new_v4().simple()))
    };
    let runtime = ConsumerRuntime::new(
        app.stack.kafka_settings(),
        settings,
        vec![app.config.kafka.topics.events.clone()],
        postgres::connect_pool(&app.db.settings()).expect("pool"),
        Arc::new(EventsProjection::new("public")),
        DeadLetterSink::new(producer, dlq),
    );
    let token = CancellationToken::new();
    let stop = token.clone();
    tokio::spawn(async move { runtime.run(stop).await });
    Projector(token)
}

pub async fn tenant_with_key(app: &TestApp) -> (Person, String) {
    let owner = app.signup(&unique_email("owner"), "acme").await;
    let body = json!({"scopes": ["events:write", "events:read"]});
    let (status, key) = status_and_json(app.call(Method::POST, "/v1/api-keys", Some(&owner.access_token), Some(body)).await).await;
    assert_eq!(status, StatusCode::CREATED, "{key}");
    (owner, key["key"].as_str().expect("key").to_owned())
}

pub async fn send_batch(app: &TestApp, key: &str, events: Vec<Value>) {
    let response = app.client.post(app.url("/v1/events")).header("x-api-key", key).json(&Value::Array(events)).send().await.expect("sent");
    let (status, receipt) = status_and_json(response).await;
    assert_eq!((status, receipt["rejected"].as_i64()), (StatusCode::ACCEPTED, Some(0)), "{receipt}");
}

async fn get(app: &TestApp, key: &str, path: &str) -> (StatusCode, Value) {
    status_and_json(app.client.get(app.url(path)).header("x-api-key", key).send().await.expect("answered")).await
}

/// Waits until at least `n` of the tenant's own events (not the system
/// events of its sign-up and key) are projected.
pub async fn wait_for_events(app: &TestApp, key: &str, n: usize) {
    let seen = eventually(Duration::from_secs(60), || async {
        let (_, stats) = get(app, key, "/v1/stats/event-types").await;
        let total: i64 = stats["items"].as_array().map_or(0, |items| {
            items.iter().filter(|i| !i["type"].as_str().unwrap_or("").starts_with("signalops.")).filter_map(|i| i["count"].as_i64()).sum()
        });
        (total >= n as i64).then_some(())
    })
    .await;
    assert!(seen.is_some(), "the projector did not catch up to {n} events");
}

#[tokio::test]
async fn projected_events_are_listed_filtered_paged_and_counted_per_tenant_only() {
    let app = spawn_app().await;
    let _projector = projector(&app).await;
    let (_, key_a) = tenant_with_key(&app).await;
    let (_, key_b) = tenant_with_key(&app).await;
    let events = |prefix: &str, n: usize| -> Vec<Value> {
        (0..n)
            .map(|i| {
                let event_type = if i % 4 == 0 { "invoice.paid" } else { "invoice.sent" };
                json!({"id": format!("{prefix}-{i}"), "type": event_type, "subject": format!("customer/{}", i % 3), "data": {"i": i}})
            })
            .collect()
    };
    send_batch(&app, &key_a, events("a", 120)).await;
    send_batch(&app, &key_b, events("b", 40)).await;
    send_batch(&app, &key_b, vec![json!({"type": "user.signed_up", "data": {}})]).await;
    wait_for_events(&app, &key_a, 120).await;
    wait_for_events(&app, &key_b, 41).await;

    // Pages of 25 while new events arrive: every event present at the start
    // is seen exactly once, newest first.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let path = match &cursor {
            None => "/v1/events?limit=25".to_owned(),
            Some(c) => format!("/v1/events?limit=25&cursor={c}"),
        };
        let (status, page) = get(&app, &key_a, &path).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        for item in page["items"].as_array().expect("items") {
            seen.push((item["time"].as_str().expect("time").to_owned(), item["id"].as_str().expect("id").to_owned()));
        }
        if pages == 1 {
            send_batch(&app, &key_a, events("late", 10)).await;
        }
        pages += 1;
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    let ids: HashSet<&str> = seen.iter().map(|(_, id)| id.as_str()).collect();
    assert_eq!(ids.len(), seen.len(), "no event on two pages");
    assert!((0..120).all(|i| ids.contains(format!("a-{i}").as_str())), "no event of the first 120 skipped");
    assert!(!ids.iter().any(|id| id.starts_with("b-")), "none of tenant B's events: {ids:?}");
    assert!(seen.windows(2).all(|w| w[0] >= w[1]), "newest first");

    // Filters (once the late events are projected too).
    wait_for_events(&app, &key_a, 130).await;
    let (_, paid) = get(&app, &key_a, "/v1/events?type=invoice.paid&limit=200").await;
    assert_eq!(paid["items"].as_array().map(Vec::len), Some(30 + 3), "{paid}");
    let (_, prefixed) = get(&app, &key_b, "/v1/events?type_prefix=invoice.&limit=200").await;
    assert_eq!(prefixed["items"].as_array().map(Vec::len), Some(40));
    let (_, subject) = get(&app, &key_b, "/v1/events?subject=customer/1&limit=200").await;
    assert!(subject["items"].as_array().expect("items").iter().all(|e| e["subject"] == "customer/1"));
    let (_, future) = get(&app, &key_a, "/v1/events?from=2999-01-01T00:00:00Z").await;
    assert_eq!(future["items"].as_array().map(Vec::len), Some(0));

    // By id: the tenant's own, and nobody else's.
    let (status, one) = get(&app, &key_a, "/v1/events/a-7").await;
    assert_eq!((status, one["type"].as_str(), one["data"]["i"].as_i64()), (StatusCode::OK, Some("invoice.sent"), Some(7)), "{one}");
    assert!(one["partition"].is_i64() && one["offset"].is_i64());
    let response = app.client.get(app.url("/v1/events/a-7")).header("x-api-key", &key_b).send().await.expect("answered");
    assert_problem(response, StatusCode::NOT_FOUND, "not-found").await;

    // Counts per type and hour, per tenant.
    let (status, stats) = get(&app, &key_b, "/v1/stats/event-types?bucket=day").await;
    assert_eq!(status, StatusCode::OK, "{stats}");
    let count_of = |t: &str| {
        stats["items"].as_array().expect("items").iter().filter(|i| i["type"] == t).filter_map(|i| i["count"].as_i64()).sum::<i64>()
    };
    assert_eq!((count_of("invoice.paid"), count_of("invoice.sent"), count_of("user.signed_up")), (10, 30, 1), "{stats}");
}

#[tokio::test]
async fn queries_refuse_bad_input_and_callers_without_events_read() {
    let app = spawn_app().await;
    let (owner, key) = tenant_with_key(&app).await;
    for (path, status) in [
        ("/v1/events?limit=0", StatusCode::UNPROCESSABLE_ENTITY),
        ("/v1/events?limit=100000", StatusCode::UNPROCESSABLE_ENTITY),
        ("/v1/events?cursor=garbage", StatusCode::UNPROCESSABLE_ENTITY),
        ("/v1/events?from=2026-12-02T00:00:00Z&to=2026-12-01T00:00:00Z", StatusCode::UNPROCESSABLE_ENTITY),
        ("/v1/stats/event-types?from=2020-01-01T00:00:00Z&to=2026-01-01T00:00:00Z", StatusCode::UNPROCESSABLE_ENTITY),
    ] {
        let (got, body) = get(&app, &key, path).await;
        assert_eq!(got, status, "{path}: {body}");
        assert!(body["type"].is_string(), "problem+json for {path}: {body}");
    }
    for path in ["/v1/events?from=yesterday", "/v1/events?colour=blue", "/v1/stats/event-types?bucket=week"] {
        let (got, body) = get(&app, &key, path).await;
        assert!(got.is_client_error(), "{path}: {got} {body}");
        assert!(body["type"].is_string(), "problem+json for {path}: {body}");
    }
    let (status, _) = status_and_json(app.client.get(app.url("/v1/events")).send().await.expect("answered")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let body = json!({"scopes": ["events:write"]});
    let (_, write_only) = status_and_json(app.call(Method::POST, "/v1/api-keys", Some(&owner.access_token), Some(body)).await).await;
    let (status, _) = get(&app, write_only["key"].as_str().expect("key"), "/v1/events").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // People read with their access token.
    let response = app.client.get(app.url("/v1/events")).bearer_auth(&owner.access_token).send().await.expect("answered");
    assert_eq!(response.status(), StatusCode::OK);
}

fn nested(depth: usize) -> String {
    format!("{}1{}", "[".repeat(depth), "]".repeat(depth))
}

async fn post_raw(
    app: &TestApp,
    key: &str,
    content_type: &str,
    headers: &[(&str, &str)],
    body: impl Into<reqwest::Body>,
) -> reqwest::Response {
    let mut request = app.client.post(app.url("/v1/events")).header("x-api-key", key).header("content-type", content_type).body(body);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.expect("answered")
}

/// The fields named by a 422 problem.
fn fields(problem: &Value) -> Vec<String> {
    problem["errors"].as_array().into_iter().flatten().filter_map(|e| e["field"].as_str().map(str::to_owned)).collect()
}

/// Waits until the event with `id` is readable and returns it.
async fn read_back(app: &TestApp, key: &str, id: &str) -> Value {
    let path = format!("/v1/events/{id}");
    let found = eventually(Duration::from_secs(60), || async {
        let (status, body) = get(app, key, &path).await;
        (status == StatusCode::OK).then_some(body)
    })
    .await;
    found.unwrap_or_else(|| panic!("{id} was not projected"))
}

#[tokio::test]
async fn data_nested_past_the_limit_is_refused_at_ingest_and_deep_rows_already_stored_still_read() {
    let app = spawn_app().await;
    let _projector = projector(&app).await;
    let (owner, key) = tenant_with_key(&app).await;
    for depth in [200, 5_000] {
        let body = format!(r#"{{"type": "deep.data", "data": {}}}"#, nested(depth));
        let problem = assert_problem(
            post_raw(&app, &key, "application/json", &[], body.clone()).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation-failed",
        )
        .await;
        assert_eq!(fields(&problem), ["data"], "{depth}: {problem}");
        let (status, receipt) = status_and_json(post_raw(&app, &key, "application/json", &[], format!("[{body}]")).await).await;
        assert_eq!(
            (status, receipt["results"][0]["error"]["errors"][0]["field"].as_str()),
            (StatusCode::ACCEPTED, Some("[0].data")),
            "{receipt}"
        );
        let response = post_raw(&app, &key, "application/x-ndjson", &[], format!("{body}\n")).await;
        let line: Value = serde_json::from_str(response.text().await.expect("results").trim()).expect("a result line");
        assert_eq!((line["status"].as_str(), line["error"]["status"].as_u64()), (Some("rejected"), Some(422)), "{line}");
    }
    // At the limit it is accepted, projected and read.
    let at_limit = format!(r#"{{"type": "deep.data", "id": "deep-64", "data": {}}}"#, nested(64));
    assert_eq!(post_raw(&app, &key, "application/json", &[], at_limit).await.status(), StatusCode::ACCEPTED);
    let event = read_back(&app, &key, "deep-64").await;
    assert_eq!(event["data"].to_string(), nested(64).replace(' ', ""));

    // A row deeper than serde_json's own limit (stored before the limit, or
    // by another writer) reads back on every path instead of killing it.
    let db = app.db.superuser().await.expect("superuser");
    let tenant: uuid::Uuid = owner.tenant_id.parse().expect("tenant");
    db.execute(
        "INSERT INTO events (tenant_id, id, type, source, time, received_at, data, kafka_partition, kafka_offset) \
         VALUES ($1, 'deep-200', 'deep.data', '/old', now(), now(), $2::text::jsonb, 0, 0)",
        &[&tenant, &nested(200)],
    )
    .await
    .expect("a deep row");
    for path in ["/v1/events", "/v1/events?type=deep.data", "/v1/events/deep-200"] {
        let (status, body) = get(&app, &key, path).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
    }
    let raw = app.client.get(app.url("/v1/events/deep-200")).header("x-api-key", &key).send().await.expect("answered");
    let text = raw.text().await.expect("body");
    assert!(text.contains(&nested(200).replace(' ', "")), "the data comes back as stored");
}

#[tokio::test]
async fn hostile_but_valid_values_are_refused_by_field_or_stored_and_read_back_as_sent() {
    let app = spawn_app().await;
    let _projector = projector(&app).await;
    let (_, key) = tenant_with_key(&app).await;
    // Refused at ingest, naming the field: each of these would have been
    // accepted and then refused by Postgres or by a reader.
    for (body, field) in [
        (r#"{"type": "a.b", "data": {"name": "x\u0000y"}}"#, "data"),
        (r#"{"type": "a.b", "data": {"k\u0000": 1}}"#, "data"),
        (r#"{"type": "a.b", "data": ["\ud800"]}"#, "data"),
        (r#"{"type": "a.b", "data": {"n": 1e400}}"#, "data"),
        (r#"{"type": "a.b", "data": 0.5e-20000}"#, "data"),
        (r#"{"type": "a.b", "subject": "a\u0000b"}"#, "subject"),
        (r#"{"type": "a.b", "source": "/s\u0007"}"#, "source"),
        (r#"{"type": "a.b", "id": "a\u0000b"}"#, "id"),
        (r#"{"type": "a.b", "id": "é"}"#, "id"),
        (r#"{"type": "a\u0000b"}"#, "type"),
    ] {
        let problem = assert_problem(
            post_raw(&app, &key, "application/json", &[], body).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation-failed",
        )
        .await;
        assert_eq!(fields(&problem), [field], "{body}: {problem}");
    }
    let long = format!(r#"{{"type": "a.b", "subject": "{}"}}"#, "é".repeat(129));
    let problem =
        assert_problem(post_raw(&app, &key, "application/json", &[], long).await, StatusCode::UNPROCESSABLE_ENTITY, "validation-failed")
            .await;
    assert_eq!(fields(&problem), ["subject"], "258 bytes of UTF-8: {problem}");

    // Accepted, projected and read back exactly as sent.
    let odd = "\u{202e}ǝpoɔıun 😀 e\u{301} \u{feff}\u{fffd}";
    let subject = "é".repeat(128);
    let cases = [
        json!({"type": "odd.unicode", "id": "odd-1", "subject": odd, "source": format!("/src/{odd}"), "data": {"text": odd}}),
        json!({"type": "odd.escape", "id": "odd-2", "subject": subject, "data": {"looks_like_nul": "\\u0000", "max": 1.797_693_134_862_315_7e308}}),
        json!({"type": "odd.id", "id": "odd:~!@$^*()_+-={}|[]:;'<>,.", "data": null}),
    ];
    for event in &cases {
        let (status, receipt) = status_and_json(post_raw(&app, &key, "application/json", &[], event.to_string()).await).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{event}: {receipt}");
    }
    for event in &cases {
        let id = event["id"].as_str().expect("id");
        let encoded: String =
            id.bytes().map(|b| if b.is_ascii_alphanumeric() { (b as char).to_string() } else { format!("%{b:02X}") }).collect();
        let stored = read_back(&app, &key, &encoded).await;
        assert_eq!(stored["id"], event["id"]);
        for field in ["subject", "source"] {
            if let Some(sent) = event.get(field) {
                assert_eq!(&stored[field], sent, "{field} of {id}");
            }
        }
        let data: Value = serde_json::from_str(&stored["data"].to_string()).expect("data");
        if event["data"]["max"].is_f64() {
            assert_eq!(data["max"].as_f64(), Some(f64::MAX), "{data}");
            assert_eq!(data["looks_like_nul"], "\\u0000");
        } else {
            assert_eq!(data, event["data"], "{id}");
        }
    }
    let (status, list) = get(&app, &key, "/v1/events?type_prefix=odd.").await;
    assert_eq!((status, list["items"].as_array().map(Vec::len)), (StatusCode::OK, Some(3)), "{list}");
}

#[tokio::test]
async fn cloudevents_binary_and_base64_data_of_any_media_type_is_stored_and_read_as_base64() {
    let app = spawn_app().await;
    let _projector = projector(&app).await;
    let (_, key) = tenant_with_key(&app).await;
    let png = vec![0x89, b'P', b'N', b'G', 0, 1, 2, 255];
    let binary = [("ce-specversion", "1.0"), ("ce-id", "bin-png"), ("ce-source", "/cam%20%E2%82%AC"), ("ce-type", "photo.taken")];
    let (status, receipt) = status_and_json(post_raw(&app, &key, "image/png", &binary, png.clone()).await).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{receipt}");
    let (_, again) = status_and_json(post_raw(&app, &key, "image/png", &binary, png.clone()).await).await;
    assert_eq!(again["status"], "duplicate", "the same bytes under one id: {again}");
    let other =
        assert_problem(post_raw(&app, &key, "image/png", &binary, vec![1, 2, 3]).await, StatusCode::CONFLICT, "idempotency-conflict").await;
    assert_eq!(other["status"], 409, "other bytes under the same id conflict");
    let structured = json!({"specversion": "1.0", "id": "b64-xml", "source": "/x", "type": "doc.sent", "datacontenttype": "application/xml", "data_base64": "PGEvPg=="});
    let (status, receipt) = status_and_json(post_raw(&app, &key, "application/cloudevents+json", &[], structured.to_string()).await).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{receipt}");
    let text =
        json!({"specversion": "1.0", "id": "text-1", "source": "/x", "type": "doc.sent", "datacontenttype": "text/plain", "data": "hello"});
    assert_eq!(post_raw(&app, &key, "application/cloudevents+json", &[], text.to_string()).await.status(), StatusCode::ACCEPTED);
    let json_bytes = json!({"specversion": "1.0", "id": "b64-json", "source": "/x", "type": "doc.sent", "datacontenttype": "application/json", "data_base64": "eyJhIjoxfQ=="});
    assert_eq!(post_raw(&app, &key, "application/cloudevents+json", &[], json_bytes.to_string()).await.status(), StatusCode::ACCEPTED);

    use base64::Engine as _;
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
    let event = read_back(&app, &key, "bin-png").await;
    assert_eq!((event["data_content_type"].as_str(), event["source"].as_str()), (Some("image/png"), Some("/cam €")), "{event}");
    assert_eq!(event["data"]["base64"], b64(&png));
    let event = read_back(&app, &key, "b64-xml").await;
    assert_eq!(
        (event["data_content_type"].as_str(), event["data"]["base64"].as_str()),
        (Some("application/xml"), Some("PGEvPg==")),
        "{event}"
    );
    assert_eq!(read_back(&app, &key, "text-1").await["data"]["base64"], b64(b"hello"));
    assert_eq!(read_back(&app, &key, "b64-json").await["data"], json!({"a": 1}), "base64 bytes of a JSON type are JSON data");

    // data and data_base64 exclude each other; bytes of a JSON type must be JSON.
    for (event, field) in [
        (json!({"specversion": "1.0", "id": "x1", "source": "/x", "type": "a.b", "data": {}, "data_base64": "AA=="}), "data_base64"),
        (json!({"specversion": "1.0", "id": "x2", "source": "/x", "type": "a.b", "data_base64": "not base64!"}), "data_base64"),
        (
            json!({"specversion": "1.0", "id": "x3", "source": "/x", "type": "a.b", "datacontenttype": "application/json", "data_base64": "AAEC"}),
            "data",
        ),
        (
            json!({"specversion": "1.0", "id": "x4", "source": "/x", "type": "a.b", "datacontenttype": "text/plain", "data": {"not": "text"}}),
            "data",
        ),
        (json!({"specversion": "1.0", "id": "x5", "source": "/x", "type": "a.b", "datacontenttype": "no media type"}), "datacontenttype"),
    ] {
        let problem = assert_problem(
            post_raw(&app, &key, "application/cloudevents+json", &[], event.to_string()).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation-failed",
        )
        .await;
        assert_eq!(fields(&problem), [field], "{event}: {problem}");
    }
    let with_both =
        [("ce-specversion", "1.0"), ("ce-id", "x6"), ("ce-source", "/x"), ("ce-type", "a.b"), ("ce-datacontenttype", "text/plain")];
    let problem =
        assert_problem(post_raw(&app, &key, "text/plain", &with_both, "hi").await, StatusCode::UNPROCESSABLE_ENTITY, "validation-failed")
            .await;
    assert_eq!(fields(&problem), ["ce-datacontenttype"], "{problem}");
}
