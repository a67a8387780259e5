//! Test helpers. Integration tests run against the **real** Kafka broker and
//! PostgreSQL started by `deploy/local/stack.sh` (the `make test` instance);
//! every test gets a fresh database and fresh topics, so tests never see
//! each other's data.

pub mod consumer_fixture;
pub mod fake_receiver;
mod probe_handler;
pub mod quiescence;
pub mod service_check;
mod stack;

pub use probe_handler::{PROBE_TABLE_SQL, ProbeHandler};
pub use stack::{TestDatabase, TestStack};

/// The `consumer-probe` binary built next to the test binaries.
pub fn probe_binary() -> std::path::PathBuf {
    sibling_binary("consumer-probe")
}

/// The `tcp-relay` binary built next to the test binaries.
pub fn relay_binary() -> std::path::PathBuf {
    sibling_binary("tcp-relay")
}

fn sibling_binary(name: &str) -> std::path::PathBuf {
    // Test binaries live in target/<profile>/deps; binaries one level up.
    let mut path = std::env::current_exe().expect("test binary path");
    path.pop();
    if path.ends_with("deps") {
        path.pop();
    }
    path.join(name)
}

/// Polls `check` until it returns `Some` or `timeout` passes.
pub async fn eventually<T, F, Fut>(timeout: std::time::Duration, mut check: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(value) = check().await {
            return Some(value);
        }
        if tokio::time::Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}
