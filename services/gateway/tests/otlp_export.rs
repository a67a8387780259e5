//! With `OTEL_EXPORTER_OTLP_ENDPOINT` set, request spans reach an OTLP/HTTP
//! collector (here a minimal one on loopback that records request lines).

use std::time::Duration;

use signalops_testkit::TestStack;
use signalops_testkit::service_check::{command, free_port, http_get};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

/// Accepts OTLP/HTTP posts and reports each request line.
async fn fake_collector() -> (u16, mpsc::UnboundedReceiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let (sender, receiver) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let sender = sender.clone();
            tokio::spawn(async move {
                let mut reader = BufReader::new(stream);
                loop {
                    let mut request_line = String::new();
                    if reader.read_line(&mut request_line).await.unwrap_or(0) == 0 {
                        return;
                    }
                    let mut content_length = 0usize;
                    loop {
                        let mut header = String::new();
                        if reader.read_line(&mut header).await.unwrap_or(0) == 0 {
                            return;
                        }
                        if header.trim().is_empty() {
                            break;
                        }
                        if let Some((name, value)) = header.split_once(':')
                            && name.eq_ignore_ascii_case("content-length")
                        {
                            content_length = value.trim().parse().unwrap_or(0);
                        }
                    }
                    let mut body = vec![0; content_length];
                    if reader.read_exact(&mut body).await.is_err() {
                        return;
                    }
                    let _ = sender.send(format!("{} ({} bytes)", request_line.trim(), body.len()));
                    let reply = b"HTTP/1.1 200 OK\r\ncontent-type: application/x-protobuf\r\ncontent-length: 0\r\n\r\n";
                    if reader.get_mut().write_all(reply).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (port, receiver)
}

#[tokio::test]
async fn request_spans_are_exported_over_otlp_http() {
    let stack = TestStack::attach();
    let db = stack.fresh_database().await.expect("database");
    let (collector_port, mut received) = fake_collector().await;
    let port = free_port();
    let mut gateway = command(env!("CARGO_BIN_EXE_gateway"), &stack, &db.app_url, port)
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", format!("http://127.0.0.1:{collector_port}"))
        .spawn()
        .expect("gateway starts");
    let live =
        signalops_testkit::eventually(Duration::from_secs(30), || async { http_get(port, "/livez").await.filter(|(s, _)| *s == 200) })
            .await;
    assert!(live.is_some(), "gateway is live");

    // Spans are batched; stopping the gateway flushes them.
    let pid = gateway.id().expect("pid").to_string();
    assert!(tokio::process::Command::new("kill").args(["-TERM", &pid]).status().await.expect("kill").success());
    let status = tokio::time::timeout(Duration::from_secs(15), gateway.wait()).await.expect("stops").expect("status");
    assert!(status.success(), "{status}");

    let line = tokio::time::timeout(Duration::from_secs(5), received.recv()).await.expect("an export arrived").expect("line");
    assert!(line.starts_with("POST /v1/traces "), "{line}");
    assert!(!line.ends_with("(0 bytes)"), "export carries spans: {line}");
}
