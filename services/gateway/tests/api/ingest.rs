//! The first slice of ingestion: one JSON event per request, with an honest
//! receipt, authorised by an API key with the events:write scope.

use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use signalops_proto::Message as _;

use crate::helpers::{TestApp, assert_problem, spawn_app, spawn_app_with, status_and_json, unique_email};

async fn key_with(app: &TestApp, scopes: &[&str]) -> String {
    let owner = app.signup(&unique_email("owner"), "acme").await;
    let (status, body) =
        status_and_json(app.call(Method::POST, "/v1/api-keys", Some(&owner.access_token), Some(json!({"scopes": scopes}))).await).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["key"].as_str().expect("key").to_owned()
}

async fn send(app: &TestApp, key: &str, event: Value) -> reqwest::Response {
    app.client.post(app.url("/v1/events")).header("x-api-key", key).json(&event).send().await.expect("request")
}

type RecordHeaders = Vec<(String, Vec<u8>)>;

/// The record at (partition, offset) of the app's events topic: key, envelope, headers.
fn record_at(app: &TestApp, partition: i32, offset: i64) -> (Vec<u8>, signalops_proto::Event, RecordHeaders) {
    let consumer: BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", &app.stack.brokers)
        .set("group.id", format!("reader-{}", uuid::Uuid::new_v4().simple()))
        .create()
        .expect("reader");
    let mut tpl = rdkafka::TopicPartitionList::new();
    tpl.add_partition_offset(&app.config.kafka.topics.events, partition, rdkafka::Offset::Offset(offset)).expect("tpl");
    consumer.assign(&tpl).expect("assign");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while std::time::Instant::now() < deadline {
        if let Some(Ok(message)) = consumer.poll(Duration::from_millis(200)) {
            let headers = message
                .headers()
                .map(|h| h.iter().map(|h| (h.key.to_owned(), h.value.unwrap_or_default().to_vec())).collect())
                .unwrap_or_default();
            let event = signalops_proto::Event::decode(message.payload().unwrap_or_default()).expect("envelope");
            return (message.key().unwrap_or_default().to_vec(), event, headers);
        }
    }
    panic!("no record at {partition}/{offset}");
}

#[tokio::test]
async fn an_event_is_acknowledged_with_the_partition_and_offset_where_it_really_is() {
    let app = spawn_app().await;
    let key = key_with(&app, &["events:write"]).await;
    let response = send(&app, &key, json!({"type": "invoice.paid", "subject": "invoice/42", "payload": {"amount": 4200}})).await;
    let (status, receipt) = status_and_json(response).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{receipt}");
    assert_eq!(receipt["status"], "accepted");
    let (partition, offset) = (receipt["partition"].as_i64().expect("partition") as i32, receipt["offset"].as_i64().expect("offset"));
    let (record_key, event, headers) = record_at(&app, partition, offset);
    assert_eq!(event.id, receipt["id"].as_str().expect("id"));
    assert_eq!(event.r#type, "invoice.paid");
    assert_eq!(event.subject, "invoice/42");
    assert_eq!(serde_json::from_slice::<Value>(&event.data).expect("data"), json!({"amount": 4200}));
    assert_eq!(String::from_utf8(record_key).expect("utf-8"), event.tenant_id, "the record key is the tenant id");
    assert!(headers.iter().any(|(k, v)| k == "ce_type" && v == b"invoice.paid"), "{headers:?}");
    assert!(headers.iter().any(|(k, _)| k == "traceparent"), "trace context travels with the event");
}

#[tokio::test]
async fn a_key_without_events_write_gets_403_and_no_key_gets_401() {
    let app = spawn_app().await;
    let read_only = key_with(&app, &["events:read"]).await;
    assert_problem(send(&app, &read_only, json!({"type": "invoice.paid"})).await, StatusCode::FORBIDDEN, "forbidden").await;
    let response = app.client.post(app.url("/v1/events")).json(&json!({"type": "invoice.paid"})).send().await.expect("request");
    assert_problem(response, StatusCode::UNAUTHORIZED, "unauthorized").await;
    // A person's access token is not an API key.
    let person = app.signup(&unique_email("person"), "acme").await;
    let response = app.call(Method::POST, "/v1/events", Some(&person.access_token), Some(json!({"type": "invoice.paid"}))).await;
    assert_problem(response, StatusCode::UNAUTHORIZED, "unauthorized").await;
}

#[tokio::test]
async fn invalid_events_are_422_naming_each_field() {
    let app = spawn_app().await;
    let key = key_with(&app, &["events:write"]).await;
    let body = assert_problem(
        send(&app, &key, json!({"type": "Not A Type", "time": "tomorrow-ish", "data": {"big": "x".repeat(70_000)}})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation-failed",
    )
    .await;
    let fields: Vec<&str> = body["errors"].as_array().into_iter().flatten().filter_map(|e| e["field"].as_str()).collect();
    assert!(fields.contains(&"type") && fields.contains(&"time"), "{body}");
}

#[tokio::test]
async fn an_event_kafka_cannot_take_gets_503_never_202() {
    let app = spawn_app_with(|c| {
        c.kafka.topics.events = format!("missing.{}", uuid::Uuid::new_v4().simple());
        c.kafka.delivery_timeout_ms = 2_000;
    })
    .await;
    let key = key_with(&app, &["events:write"]).await;
    let response = send(&app, &key, json!({"type": "invoice.paid"})).await;
    assert!(response.headers().get("retry-after").is_some());
    assert_problem(response, StatusCode::SERVICE_UNAVAILABLE, "unavailable").await;
}
