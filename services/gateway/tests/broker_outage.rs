//! With the broker stopped, ingest answers 503 and never 202, and an event
//! it refused does not appear once the broker is back.
//!
//! A test binary of its own: it stops the test stack's Kafka, and cargo runs
//! test binaries one at a time, so no other test sees the outage. The broker
//! is restarted even when the test fails.

#[path = "api/helpers.rs"]
mod helpers;

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::json;

use helpers::{spawn_app_with, status_and_json, unique_email};

fn repo() -> PathBuf {
    // Canonical: the stack script recognises its processes by their paths.
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    path.canonicalize().unwrap_or(path)
}

fn stack_dir() -> PathBuf {
    std::env::var_os("SIGNALOPS_STACK_DIR").map(PathBuf::from).unwrap_or_else(|| repo().join(".stack/test"))
}

/// Starts Kafka again when dropped (the stack script is idempotent).
struct RestartKafka;

impl Drop for RestartKafka {
    fn drop(&mut self) {
        let status = Command::new("bash")
            .arg("-c")
            .arg(". deploy/local/test-env.sh && deploy/local/stack.sh up >\"$SIGNALOPS_STACK_DIR/logs/restart-kafka.log\" 2>&1")
            .current_dir(repo())
            .env("SIGNALOPS_TEST_STACK_DIR", stack_dir())
            .status();
        assert!(status.is_ok_and(|s| s.success()), "restarting Kafka failed; run `make test-stack-up`");
    }
}

fn stop_kafka() {
    let pid = std::fs::read_to_string(stack_dir().join("kafka/kafka.pid")).expect("kafka pid file");
    let pid = pid.trim().to_owned();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().expect("kill").success());
    // Wait (bounded) for the process to exit, so nothing it buffered can land later.
    for _ in 0..300 {
        if !Command::new("kill").args(["-0", &pid]).status().is_ok_and(|s| s.success()) {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("kafka did not stop within 30 s");
}

#[tokio::test]
async fn with_the_broker_stopped_ingest_is_503_and_refused_events_never_appear() {
    let app = spawn_app_with(|_| {}).await;
    let owner = app.signup(&unique_email("owner"), "acme").await;
    let (_, key) =
        status_and_json(app.call(Method::POST, "/v1/api-keys", Some(&owner.access_token), Some(json!({"scopes": ["events:write"]}))).await)
            .await;
    let key = key["key"].as_str().expect("key").to_owned();
    let send =
        |id: &str| app.client.post(app.url("/v1/events")).header("x-api-key", &key).json(&json!({"type": "outage.probe", "id": id})).send();
    // A broker that just (re)started may take a while to grant producer ids.
    let ready = signalops_testkit::eventually(Duration::from_secs(60), || async {
        (send("before").await.ok()?.status() == StatusCode::ACCEPTED).then_some(())
    })
    .await;
    assert!(ready.is_some(), "ingest works before the outage");

    let restart = RestartKafka;
    tokio::task::spawn_blocking(stop_kafka).await.expect("stopped");
    let refused = send("during").await.expect("request");
    assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(refused.headers().get("retry-after").is_some());
    let batch = app
        .client
        .post(app.url("/v1/events"))
        .header("x-api-key", &key)
        .json(&json!([{"type": "outage.probe", "id": "during-batch"}]))
        .send()
        .await
        .expect("request");
    let (status, receipt) = status_and_json(batch).await;
    assert_eq!(status, StatusCode::ACCEPTED, "a batch reports per event: {receipt}");
    assert_eq!(receipt["accepted"], 0, "nothing reported accepted while Kafka is down: {receipt}");
    drop(restart);

    // Back up: the refused events never appear, and the same ids can now be sent.
    let resent = signalops_testkit::eventually(Duration::from_secs(60), || async {
        let response = send("during").await.ok()?;
        (response.status() == StatusCode::ACCEPTED).then_some(())
    })
    .await;
    assert!(resent.is_some(), "ingest recovers once Kafka is back");
    tokio::time::sleep(Duration::from_secs(2)).await;
    let copies = app.system_events().iter().filter(|e| e.id == "during").count();
    assert_eq!(copies, 1, "only the retry was appended");
    assert_eq!(app.system_events().iter().filter(|e| e.id == "during-batch").count(), 0);
}
