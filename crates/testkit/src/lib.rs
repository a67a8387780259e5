//! Test helpers. Integration tests run against the **real** Kafka broker and
//! PostgreSQL started by `deploy/local/stack.sh` (the `make test` instance);
//! every test gets a fresh database and fresh topics, so tests never see
//! each other's data.

mod probe_handler;
pub mod service_check;
mod stack;

pub use probe_handler::{PROBE_TABLE_SQL, ProbeHandler};
pub use stack::{TestDatabase, TestStack};

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
