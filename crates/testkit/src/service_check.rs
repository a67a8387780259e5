//! Checks every service binary passes: it starts against the real stack,
//! serves `/livez` `/readyz` `/metrics`, stops cleanly on SIGTERM, and
//! refuses bad config or an unsafe database role with one clear line.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::{TestStack, eventually};

/// Generates the two lifecycle tests for a service binary.
#[macro_export]
macro_rules! service_lifecycle_tests {
    ($binary:literal) => {
        #[tokio::test]
        async fn starts_serves_health_and_stops_on_sigterm() {
            $crate::service_check::lifecycle(env!(concat!("CARGO_BIN_EXE_", $binary))).await;
        }

        #[tokio::test]
        async fn refuses_bad_config_and_unsafe_roles_with_one_clear_line() {
            $crate::service_check::refusals(env!(concat!("CARGO_BIN_EXE_", $binary))).await;
        }
    };
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).unwrap_or(0)
}

pub fn command(binary: &str, stack: &TestStack, database_url: &str, port: u16) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(binary);
    command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("SIGNALOPS_KAFKA_BROKERS", &stack.brokers)
        .env("SIGNALOPS_DATABASE_URL", database_url)
        .env("SIGNALOPS_HTTP__PORT", port.to_string())
        .env("SIGNALOPS_API_KEYS__PEPPER", "test-pepper-0123456789abcdef0123456789")
        .env("SIGNALOPS_AUTH__JWT_KEYS", "test:test-jwt-secret-0123456789abcdef0123456789")
        .env("SIGNALOPS_CHANNELS__SECRET_KEYS", "test:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    command
}

/// A minimal HTTP/1.1 GET on loopback: (status, body).
pub async fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).await.ok()?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.ok()?;
    let mut response = String::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_string(&mut response)).await.ok()?.ok()?;
    let status = response.split(' ').nth(1)?.parse().ok()?;
    let body = response.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    Some((status, body))
}

#[allow(clippy::panic, clippy::expect_used)]
pub async fn lifecycle(binary: &str) {
    let stack = TestStack::attach();
    let db = stack.fresh_database().await.expect("database");
    let port = free_port();
    let mut child = command(binary, &stack, &db.app_url, port).spawn().expect("service starts");

    let live = eventually(Duration::from_secs(30), || async { http_get(port, "/livez").await.filter(|(s, _)| *s == 200) }).await;
    assert!(live.is_some(), "{binary}: /livez never answered 200");
    let (status, body) = http_get(port, "/readyz").await.expect("/readyz answers");
    assert_eq!(status, 200, "{binary}: /readyz: {body}");
    assert!(body.contains("\"postgres\"") && body.contains("\"kafka\""), "{binary}: /readyz checks both: {body}");
    let (status, _) = http_get(port, "/metrics").await.expect("/metrics answers");
    assert_eq!(status, 200);

    let pid = child.id().expect("pid").to_string();
    let killed = tokio::process::Command::new("kill").args(["-TERM", &pid]).status().await.expect("kill runs");
    assert!(killed.success());
    let status = tokio::time::timeout(Duration::from_secs(15), child.wait()).await.expect("stops within 15s").expect("exit status");
    assert!(status.success(), "{binary}: SIGTERM exit status {status}");
}

#[allow(clippy::panic, clippy::expect_used)]
pub async fn refusals(binary: &str) {
    let stack = TestStack::attach();
    let db = stack.fresh_database().await.expect("database");

    let refused = |mut command: tokio::process::Command, expected: &'static str| async move {
        let output = tokio::time::timeout(Duration::from_secs(30), command.output()).await.expect("exits in time").expect("runs");
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        assert!(!output.status.success(), "{binary}: expected a refusal mentioning {expected:?}");
        assert!(stderr.contains(expected), "{binary}: stderr lacks {expected:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{binary}: panic instead of a message: {stderr}");
    };

    let mut bad_host = command(binary, &stack, &db.app_url, free_port());
    bad_host.env("SIGNALOPS_HTTP__HOST", "not-an-address").env("SIGNALOPS_KAFKA__PARTITIONS", "zero");
    refused(bad_host, "kafka.partitions").await;

    let mut bad_host = command(binary, &stack, &db.app_url, free_port());
    bad_host.env("SIGNALOPS_HTTP__HOST", "not-an-address");
    refused(bad_host, "http.host").await;

    refused(command(binary, &stack, &db.superuser_url, free_port()), "superuser").await;
    refused(command(binary, &stack, &db.owner_url, free_port()), "owns tables").await;
    refused(command(binary, &stack, "postgres://signalops_app:wrong@127.0.0.1:1/nowhere", free_port()), "cannot reach Postgres").await;

    let mut no_broker = command(binary, &stack, &db.app_url, free_port());
    no_broker.env("SIGNALOPS_KAFKA_BROKERS", "127.0.0.1:1");
    refused(no_broker, "cannot reach Kafka at 127.0.0.1:1").await;
}
