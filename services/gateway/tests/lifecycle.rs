//! Starts the real binary against the test stack (see testkit::service_check).
signalops_testkit::service_lifecycle_tests!("gateway");

use std::time::Duration;

use signalops_platform::config::dev_defaults::{DEV_JWT_SECRET, DEV_PEPPER};
use signalops_testkit::service_check::{command, free_port, http_get};
use signalops_testkit::{TestStack, eventually};

/// The binary itself, not only its configuration, refuses the public
/// development secrets outside `dev`, and starts with them in `dev`.
#[tokio::test]
async fn outside_dev_the_gateway_refuses_to_start_with_the_compose_secrets() {
    let stack = TestStack::attach();
    let db = stack.fresh_database().await.expect("database");
    let with_dev_secrets = |environment: &str, port: u16| {
        let mut gateway = command(env!("CARGO_BIN_EXE_gateway"), &stack, &db.app_url, port);
        gateway
            .env("SIGNALOPS_API_KEYS__ENVIRONMENT", environment)
            .env("SIGNALOPS_API_KEYS__PEPPER", DEV_PEPPER)
            .env("SIGNALOPS_AUTH__JWT_KEYS", format!("dev1:{DEV_JWT_SECRET}"));
        gateway
    };
    let output = tokio::time::timeout(Duration::from_secs(30), with_dev_secrets("live", free_port()).output())
        .await
        .expect("exits in time")
        .expect("runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "started with the development secrets outside dev");
    assert!(stderr.contains("api_keys.pepper") && stderr.contains("development default"), "names the pepper: {stderr}");
    assert!(stderr.contains("auth.jwt_keys"), "names the JWT key: {stderr}");
    assert!(!stderr.contains(DEV_PEPPER) && !stderr.contains(DEV_JWT_SECRET), "never prints a secret: {stderr}");

    let port = free_port();
    let mut dev = with_dev_secrets("dev", port).spawn().expect("starts");
    let ready = eventually(Duration::from_secs(30), || async { (http_get(port, "/readyz").await?.0 == 200).then_some(()) }).await;
    dev.start_kill().expect("stop");
    assert!(ready.is_some(), "in dev the same secrets are accepted and the gateway gets ready");
}
