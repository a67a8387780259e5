//! Ingesting one JSON event per request, with an honest
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

/// How many records on the app's events topic carry this event id.
fn copies_of(app: &TestApp, id: &str) -> usize {
    app.system_events().iter().filter(|e| e.id == id).count()
}

#[tokio::test]
async fn a_batch_appends_valid_events_and_rejects_invalid_ones_by_index() {
    let app = spawn_app().await;
    let key = key_with(&app, &["events:write"]).await;
    let batch = json!([
        {"type": "invoice.paid", "data": {"n": 0}},
        {"type": "Not Valid", "data": {"n": 1}},
        {"type": "invoice.paid", "payload": {"n": 2}},
        {"type": "invoice.sent", "time": "not-a-time"}
    ]);
    let (status, receipt) = status_and_json(send(&app, &key, batch).await).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{receipt}");
    assert_eq!(
        (receipt["accepted"].as_u64(), receipt["duplicates"].as_u64(), receipt["rejected"].as_u64()),
        (Some(2), Some(0), Some(2)),
        "{receipt}"
    );
    let results = receipt["results"].as_array().expect("results");
    assert_eq!(results.len(), 4);
    assert_eq!(results[0]["status"], "accepted");
    assert_eq!(results[1]["status"], "rejected");
    assert_eq!(results[1]["index"], 1);
    assert_eq!(results[1]["error"]["errors"][0]["field"], "[1].type", "{receipt}");
    assert_eq!(results[3]["error"]["errors"][0]["field"], "[3].time", "{receipt}");
    for accepted in [&results[0], &results[2]] {
        let (partition, offset) = (accepted["partition"].as_i64().expect("partition") as i32, accepted["offset"].as_i64().expect("offset"));
        let (_, event, _) = record_at(&app, partition, offset);
        assert_eq!(event.id, accepted["id"].as_str().expect("id"));
    }
}

#[tokio::test]
async fn batches_over_the_limits_are_413() {
    let app = spawn_app_with(|c| c.ingest.max_batch_events = 5).await;
    let key = key_with(&app, &["events:write"]).await;
    let batch: Vec<Value> = (0..6).map(|n| json!({"type": "a.b", "data": {"n": n}})).collect();
    assert_problem(send(&app, &key, Value::Array(batch)).await, StatusCode::PAYLOAD_TOO_LARGE, "payload-too-large").await;
}

#[tokio::test]
async fn a_repeated_client_id_is_a_duplicate_with_the_original_position_and_is_not_appended_again() {
    let app = spawn_app().await;
    let key = key_with(&app, &["events:write"]).await;
    let event = json!({"type": "payment.failed", "id": "pay-42", "data": {"amount": 10}});
    let (_, first) = status_and_json(send(&app, &key, event.clone()).await).await;
    assert_eq!(first["status"], "accepted", "{first}");
    let (status, second) = status_and_json(send(&app, &key, event).await).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(second["status"], "duplicate");
    assert_eq!(
        (second["partition"].clone(), second["offset"].clone(), second["id"].clone()),
        (first["partition"].clone(), first["offset"].clone(), first["id"].clone())
    );
    assert_eq!(copies_of(&app, "pay-42"), 1);

    // The same id with other content is a conflict, not a silent overwrite.
    let changed = json!({"type": "payment.failed", "id": "pay-42", "data": {"amount": 11}});
    assert_problem(send(&app, &key, changed).await, StatusCode::CONFLICT, "idempotency-conflict").await;
}

#[tokio::test]
async fn an_idempotency_key_header_deduplicates_a_single_event() {
    let app = spawn_app().await;
    let key = key_with(&app, &["events:write"]).await;
    let post = || {
        app.client
            .post(app.url("/v1/events"))
            .header("x-api-key", &key)
            .header("idempotency-key", "order-7")
            .json(&json!({"type": "order.placed"}))
            .send()
    };
    let (_, first) = status_and_json(post().await.expect("request")).await;
    let (_, second) = status_and_json(post().await.expect("request")).await;
    assert_eq!((first["status"].as_str(), second["status"].as_str()), (Some("accepted"), Some("duplicate")));
    assert_eq!(second["id"], first["id"], "the repeat names the first event");
    assert_eq!(copies_of(&app, first["id"].as_str().expect("id")), 1);
}

#[tokio::test]
async fn concurrent_requests_with_one_id_append_exactly_once() {
    let app = spawn_app().await;
    let key = key_with(&app, &["events:write"]).await;
    let event = json!({"type": "invoice.paid", "id": "inv-1", "data": {"amount": 5}});
    let requests = (0..6).map(|_| send(&app, &key, event.clone()));
    let responses = futures::future::join_all(requests).await;
    let mut statuses = Vec::new();
    for response in responses {
        let (status, body) = status_and_json(response).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
        statuses.push(body["status"].as_str().unwrap_or("").to_owned());
    }
    assert_eq!(statuses.iter().filter(|s| *s == "accepted").count(), 1, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| *s == "duplicate").count(), 5, "{statuses:?}");
    assert_eq!(copies_of(&app, "inv-1"), 1);
}

#[tokio::test]
async fn a_batch_reports_duplicates_of_earlier_and_of_its_own_events() {
    let app = spawn_app().await;
    let key = key_with(&app, &["events:write"]).await;
    send(&app, &key, json!({"type": "a.b", "id": "e-1", "data": 1})).await;
    let batch = json!([
        {"type": "a.b", "id": "e-1", "data": 1},
        {"type": "a.b", "id": "e-2", "data": 2},
        {"type": "a.b", "id": "e-2", "data": 2},
        {"type": "a.b", "data": 3}
    ]);
    let (_, receipt) = status_and_json(send(&app, &key, batch).await).await;
    assert_eq!((receipt["accepted"].as_u64(), receipt["duplicates"].as_u64()), (Some(2), Some(2)), "{receipt}");
    assert_eq!(receipt["results"][2]["offset"], receipt["results"][1]["offset"], "a repeat inside the batch names the first use");
    assert_eq!(copies_of(&app, "e-1"), 1);
    assert_eq!(copies_of(&app, "e-2"), 1);
}

#[tokio::test]
async fn events_without_a_client_id_skip_the_dedupe_store() {
    let app = spawn_app().await;
    let key = key_with(&app, &["events:write"]).await;
    send(&app, &key, json!([{"type": "a.b"}, {"type": "a.c"}])).await;
    let db = app.db.superuser().await.expect("superuser");
    let rows: i64 = db.query_one("SELECT count(*) FROM idempotency_keys", &[]).await.expect("count").get(0);
    assert_eq!(rows, 0);
}

#[tokio::test]
async fn each_key_has_a_rate_limit_reported_in_headers() {
    let app = spawn_app_with(|c| {
        c.ingest.rate_limit_per_second = 1;
        c.ingest.rate_limit_burst = 3;
    })
    .await;
    let key = key_with(&app, &["events:write"]).await;
    let first = send(&app, &key, json!({"type": "a.b"})).await;
    assert_eq!(first.status(), StatusCode::ACCEPTED);
    let header = |name: &str| first.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    assert_eq!(header("ratelimit-limit").as_deref(), Some("3"));
    assert_eq!(header("ratelimit-remaining").as_deref(), Some("2"));
    send(&app, &key, json!([{"type": "a.b"}, {"type": "a.b"}])).await;
    let refused = send(&app, &key, json!({"type": "a.b"})).await;
    assert!(refused.headers().get("retry-after").is_some());
    assert_problem(refused, StatusCode::TOO_MANY_REQUESTS, "rate-limited").await;
}

async fn send_as(app: &TestApp, key: &str, content_type: &str, headers: &[(&str, &str)], body: String) -> reqwest::Response {
    let mut request = app.client.post(app.url("/v1/events")).header("x-api-key", key).header("content-type", content_type).body(body);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.expect("request")
}

#[tokio::test]
async fn cloudevents_structured_mode_keeps_attributes_and_extensions() {
    let app = spawn_app().await;
    let key = key_with(&app, &["events:write"]).await;
    let event = json!({"specversion": "1.0", "id": "ce-1", "source": "/billing", "type": "invoice.paid", "subject": "invoice/9", "data": {"amount": 9}, "partnerid": "acme"});
    let (status, receipt) = status_and_json(send_as(&app, &key, "application/cloudevents+json", &[], event.to_string()).await).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{receipt}");
    assert_eq!(receipt["id"], "ce-1");
    let (_, envelope, headers) = record_at(&app, receipt["partition"].as_i64().expect("p") as i32, receipt["offset"].as_i64().expect("o"));
    assert_eq!((envelope.source.as_str(), envelope.subject.as_str()), ("/billing", "invoice/9"));
    assert!(headers.iter().any(|(k, v)| k == "ce_partnerid" && v == b"acme"), "{headers:?}");
    // CloudEvents ids are deduplicated like any client id.
    let (_, again) = status_and_json(send_as(&app, &key, "application/cloudevents+json", &[], event.to_string()).await).await;
    assert_eq!(again["status"], "duplicate");
}

#[tokio::test]
async fn cloudevents_batch_mode_reports_each_event() {
    let app = spawn_app().await;
    let key = key_with(&app, &["events:write"]).await;
    let batch = json!([
        {"specversion": "1.0", "id": "b-1", "source": "/s", "type": "a.b"},
        {"specversion": "1.0", "id": "b-2", "type": "a.b"}
    ]);
    let (status, receipt) = status_and_json(send_as(&app, &key, "application/cloudevents-batch+json", &[], batch.to_string()).await).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{receipt}");
    assert_eq!((receipt["accepted"].as_u64(), receipt["rejected"].as_u64()), (Some(1), Some(1)));
    assert_eq!(receipt["results"][1]["error"]["errors"][0]["field"], "[1].source", "{receipt}");
}

#[tokio::test]
async fn cloudevents_binary_mode_reads_attributes_from_headers() {
    let app = spawn_app().await;
    let key = key_with(&app, &["events:write"]).await;
    let headers =
        [("ce-specversion", "1.0"), ("ce-id", "bin-1"), ("ce-source", "/shop"), ("ce-type", "order.placed"), ("ce-subject", "order/5")];
    let (status, receipt) = status_and_json(send_as(&app, &key, "application/json", &headers, r#"{"total": 12}"#.to_owned()).await).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{receipt}");
    let (_, envelope, _) = record_at(&app, receipt["partition"].as_i64().expect("p") as i32, receipt["offset"].as_i64().expect("o"));
    assert_eq!((envelope.id.as_str(), envelope.r#type.as_str(), envelope.source.as_str()), ("bin-1", "order.placed", "/shop"));
    assert_eq!(serde_json::from_slice::<Value>(&envelope.data).expect("data"), json!({"total": 12}));

    let missing = [("ce-specversion", "1.0"), ("ce-type", "order.placed")];
    let body = assert_problem(
        send_as(&app, &key, "application/json", &missing, "{}".to_owned()).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation-failed",
    )
    .await;
    let fields: Vec<&str> = body["errors"].as_array().into_iter().flatten().filter_map(|e| e["field"].as_str()).collect();
    assert_eq!(fields, ["ce-id", "ce-source"], "{body}");
}

#[tokio::test]
async fn other_content_types_are_415() {
    let app = spawn_app().await;
    let key = key_with(&app, &["events:write"]).await;
    assert_problem(
        send_as(&app, &key, "text/plain", &[], "type=a.b".to_owned()).await,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported-media-type",
    )
    .await;
}

#[tokio::test]
async fn an_ndjson_upload_of_ten_thousand_lines_gets_one_result_line_per_line() {
    let app = spawn_app_with(|c| {
        c.ingest.rate_limit_per_second = 100_000;
        c.ingest.rate_limit_burst = 100_000;
    })
    .await;
    let key = key_with(&app, &["events:write"]).await;
    let lines = 10_000;
    let mut body = String::new();
    for n in 1..=lines {
        if n == 5_000 {
            body.push_str("{\"type\": \"Broken Type\"}\n");
        } else if n == 7_000 {
            body.push_str("not json at all\n");
        } else {
            body.push_str(&format!("{{\"type\": \"meter.read\", \"data\": {{\"n\": {n}}}}}\n"));
        }
    }
    let response = app
        .client
        .post(app.url("/v1/events"))
        .header("x-api-key", &key)
        .header("content-type", "application/x-ndjson")
        .body(body)
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::OK);
    let text = response.text().await.expect("results");
    let results: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).expect("json line")).collect();
    assert_eq!(results.len(), lines, "one result line per input line");
    for (i, result) in results.iter().enumerate() {
        let line = i + 1;
        assert_eq!(result["line"], line, "results are in input order");
        let expected = if line == 5_000 || line == 7_000 { "rejected" } else { "accepted" };
        assert_eq!(result["status"], expected, "line {line}: {result}");
    }
    assert_eq!(results[6_999]["error"]["status"], 400, "a line that is not JSON is malformed");
    assert_eq!(results[4_999]["error"]["status"], 422);
}

#[tokio::test]
async fn registered_schemas_are_enforced_on_ingest_with_json_paths() {
    let app = spawn_app().await;
    let owner = app.signup(&unique_email("owner"), "acme").await;
    let (status, key) =
        status_and_json(app.call(Method::POST, "/v1/api-keys", Some(&owner.access_token), Some(json!({"scopes": ["events:write"]}))).await)
            .await;
    assert_eq!(status, StatusCode::CREATED);
    let key = key["key"].as_str().expect("key").to_owned();
    let schema = json!({"schema": {"type": "object", "required": ["amount"], "properties": {"amount": {"type": "integer", "minimum": 0}}}});
    let (status, saved) =
        status_and_json(app.call(Method::PUT, "/v1/event-schemas/invoice.paid", Some(&owner.access_token), Some(schema.clone())).await)
            .await;
    assert_eq!(status, StatusCode::OK, "{saved}");
    assert_eq!(saved["version"], 1);
    let (_, again) =
        status_and_json(app.call(Method::PUT, "/v1/event-schemas/invoice.paid", Some(&owner.access_token), Some(schema)).await).await;
    assert_eq!(again["version"], 2);

    let body = assert_problem(
        send(&app, &key, json!({"type": "invoice.paid", "data": {"amount": -5}})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation-failed",
    )
    .await;
    assert_eq!(body["errors"][0]["field"], "data/amount", "{body}");
    assert_eq!(send(&app, &key, json!({"type": "invoice.paid", "data": {"amount": 5}})).await.status(), StatusCode::ACCEPTED);
    assert_eq!(
        send(&app, &key, json!({"type": "invoice.sent", "data": {"anything": true}})).await.status(),
        StatusCode::ACCEPTED,
        "types without a schema pass"
    );
    let (_, receipt) = status_and_json(
        send(&app, &key, json!([{"type": "invoice.paid", "data": {"amount": 1}}, {"type": "invoice.paid", "data": {}}])).await,
    )
    .await;
    assert_eq!((receipt["accepted"].as_u64(), receipt["rejected"].as_u64()), (Some(1), Some(1)), "{receipt}");
    assert_eq!(receipt["results"][1]["error"]["errors"][0]["field"], "[1].data", "{receipt}");

    let bad = assert_problem(
        app.call(Method::PUT, "/v1/event-schemas/invoice.paid", Some(&owner.access_token), Some(json!({"schema": {"type": 12}}))).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation-failed",
    )
    .await;
    assert_eq!(bad["errors"][0]["field"], "schema");

    let viewer = app.add_member(&owner.tenant_id, "viewer").await;
    let (status, list) = status_and_json(app.call(Method::GET, "/v1/event-schemas", Some(&viewer.access_token), None).await).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["items"][0]["event_type"], "invoice.paid");
    assert_problem(
        app.call(Method::DELETE, "/v1/event-schemas/invoice.paid", Some(&viewer.access_token), None).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    assert_eq!(
        app.call(Method::DELETE, "/v1/event-schemas/invoice.paid", Some(&owner.access_token), None).await.status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        send(&app, &key, json!({"type": "invoice.paid", "data": {"amount": -5}})).await.status(),
        StatusCode::ACCEPTED,
        "no schema, no check"
    );
}

async fn upload(app: &TestApp, key: &str, lines: &[String]) -> Vec<Value> {
    let body = lines.iter().map(|l| format!("{l}\n")).collect::<String>();
    let response = app
        .client
        .post(app.url("/v1/events"))
        .header("x-api-key", key)
        .header("content-type", "application/x-ndjson")
        .body(body)
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::OK);
    response.text().await.expect("results").lines().map(|l| serde_json::from_str(l).expect("json line")).collect()
}

#[tokio::test]
async fn an_ndjson_upload_longer_than_the_burst_is_paced_by_the_rate_and_every_line_is_accepted() {
    let app = spawn_app_with(|c| {
        c.ingest.rate_limit_per_second = 1_000;
        c.ingest.rate_limit_burst = 200;
    })
    .await;
    let key = key_with(&app, &["events:write"]).await;
    let lines: Vec<String> = (1..=2_500).map(|n| format!(r#"{{"type": "meter.read", "data": {{"n": {n}}}}}"#)).collect();
    let started = std::time::Instant::now();
    let results = upload(&app, &key, &lines).await;
    assert_eq!(results.len(), 2_500);
    let refused: Vec<&Value> = results.iter().filter(|r| r["status"] != "accepted").collect();
    assert!(refused.is_empty(), "{} refused, the first: {:?}", refused.len(), refused.first());
    // 2,300 lines past the burst at 1,000/s: the stream waited for its tokens.
    assert!(started.elapsed() >= Duration::from_secs(2), "paced: {:?}", started.elapsed());
}

#[tokio::test]
async fn an_ndjson_upload_beyond_what_its_rate_allows_has_only_the_excess_refused() {
    let app = spawn_app_with(|c| {
        c.ingest.rate_limit_per_second = 1;
        c.ingest.rate_limit_burst = 10;
        c.ingest.stream_max_wait_ms = 200;
    })
    .await;
    let key = key_with(&app, &["events:write"]).await;
    let lines: Vec<String> = (1..=15).map(|n| format!(r#"{{"type": "meter.read", "data": {{"n": {n}}}}}"#)).collect();
    let results = upload(&app, &key, &lines).await;
    let statuses: Vec<(u64, &str)> =
        results.iter().map(|r| (r["line"].as_u64().unwrap_or(0), r["status"].as_str().unwrap_or(""))).collect();
    let expected: Vec<(u64, &str)> = (1..=15).map(|n| (n, if n <= 10 { "accepted" } else { "rejected" })).collect();
    assert_eq!(statuses, expected, "the burst passes, and a token a second cannot come within 200 ms");
    for refused in &results[10..] {
        assert_eq!(refused["error"]["status"], 429, "{refused}");
        assert_eq!(refused["error"]["type"], "https://signalops.dev/problems/rate-limited");
    }
}

#[tokio::test]
async fn the_prototype_path_api_events_is_the_same_endpoint_with_its_headers() {
    let app = spawn_app().await;
    let key = key_with(&app, &["events:write"]).await;
    let post = || {
        app.client
            .post(app.url("/api/events"))
            .header("x-api-key", &key)
            .header("idempotency-key", "signup-7")
            .json(&json!({"type": "user.signup", "payload": {"email": "user@example.com"}}))
            .send()
    };
    let (status, first) = status_and_json(post().await.expect("request")).await;
    assert_eq!((status, first["status"].as_str()), (StatusCode::ACCEPTED, Some("accepted")), "{first}");
    let (_, event, _) = record_at(&app, first["partition"].as_i64().expect("p") as i32, first["offset"].as_i64().expect("o"));
    assert_eq!(serde_json::from_slice::<Value>(&event.data).expect("data"), json!({"email": "user@example.com"}));
    let (_, second) = status_and_json(post().await.expect("request")).await;
    assert_eq!((second["status"].as_str(), &second["id"]), (Some("duplicate"), &first["id"]));
    let response = app.client.post(app.url("/api/events")).json(&json!({"type": "user.signup"})).send().await.expect("request");
    assert_problem(response, StatusCode::UNAUTHORIZED, "unauthorized").await;

    let (_, spec) = status_and_json(app.client.get(app.url("/openapi.json")).send().await.expect("spec")).await;
    assert!(spec["paths"]["/api/events"]["post"].is_object(), "the alias is documented");
    for (path, item) in spec["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().expect("item") {
            for status in ["400", "500"] {
                assert!(operation["responses"][status].is_object(), "{method} {path} documents {status}");
            }
        }
    }
    assert!(spec["paths"]["/v1/events/{id}"]["get"]["responses"]["422"].is_object());
}
