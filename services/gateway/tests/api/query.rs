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
struct Projector(CancellationToken);

impl Drop for Projector {
    fn drop(&mut self) {
        self.0.cancel();
    }
}

async fn projector(app: &TestApp) -> Projector {
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

async fn tenant_with_key(app: &TestApp) -> (Person, String) {
    let owner = app.signup(&unique_email("owner"), "acme").await;
    let body = json!({"scopes": ["events:write", "events:read"]});
    let (status, key) = status_and_json(app.call(Method::POST, "/v1/api-keys", Some(&owner.access_token), Some(body)).await).await;
    assert_eq!(status, StatusCode::CREATED, "{key}");
    (owner, key["key"].as_str().expect("key").to_owned())
}

async fn send_batch(app: &TestApp, key: &str, events: Vec<Value>) {
    let response = app.client.post(app.url("/v1/events")).header("x-api-key", key).json(&Value::Array(events)).send().await.expect("sent");
    let (status, receipt) = status_and_json(response).await;
    assert_eq!((status, receipt["rejected"].as_i64()), (StatusCode::ACCEPTED, Some(0)), "{receipt}");
}

async fn get(app: &TestApp, key: &str, path: &str) -> (StatusCode, Value) {
    status_and_json(app.client.get(app.url(path)).header("x-api-key", key).send().await.expect("answered")).await
}

/// Waits until at least `n` of the tenant's own events (not the system
/// events of its sign-up and key) are projected.
async fn wait_for_events(app: &TestApp, key: &str, n: usize) {
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
