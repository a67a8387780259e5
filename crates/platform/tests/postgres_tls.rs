//! TLS to the test stack's PostgreSQL, through the pool the services use.
//! The stack accepts TLS and plain connections on one port, with a server
//! certificate for `localhost` and `127.0.0.1` signed by
//! `fixtures/tls/ca.pem`; each `sslmode` of a database URL must do what
//! it promises against it.

use signalops_platform::config::{DatabaseSettings, Secret};
use signalops_platform::postgres;
use signalops_testkit::TestStack;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/tls");

/// The stack's application URL with `host` in place of its address and
/// `params` added to its query.
fn app_url(host: &str, params: &str) -> String {
    let url = TestStack::attach().app_url.replacen("@127.0.0.1:", &format!("@{host}:"), 1);
    let joiner = if url.contains('?') { '&' } else { '?' };
    if params.is_empty() { url } else { format!("{url}{joiner}{params}") }
}

fn settings(url: String) -> DatabaseSettings {
    DatabaseSettings { url: Secret::new(url), pool_max_size: 1, connect_timeout_ms: 5_000 }
}

/// An error with its causes, as a service prints it.
fn chain(error: impl std::error::Error + Send + Sync + 'static) -> String {
    format!("{:#}", anyhow::Error::new(error))
}

/// Whether the pooled connection to `url` is encrypted, as the server sees
/// it; or the error with its causes.
async fn session_uses_tls(url: String) -> Result<bool, String> {
    let pool = postgres::connect_pool(&settings(url)).map_err(chain)?;
    let client = pool.get().await.map_err(chain)?;
    let row = client.query_one("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()", &[]).await.map_err(chain)?;
    row.try_get(0).map_err(chain)
}

#[tokio::test]
async fn verify_full_with_the_stacks_ca_connects_over_tls_by_address_and_by_name() {
    let params = format!("sslmode=verify-full&sslrootcert={FIXTURES}/ca.pem");
    assert_eq!(session_uses_tls(app_url("127.0.0.1", &params)).await, Ok(true));
    assert_eq!(session_uses_tls(app_url("localhost", &params)).await, Ok(true));
}

#[tokio::test]
async fn verify_full_with_another_ca_is_refused_because_the_certificate_is_not_trusted() {
    let params = format!("sslmode=verify-full&sslrootcert={FIXTURES}/other-ca.pem");
    let error = session_uses_tls(app_url("127.0.0.1", &params)).await.expect_err("an untrusted certificate is refused");
    assert!(error.contains("TLS handshake") && error.contains("invalid peer certificate: UnknownIssuer"), "{error}");
    // What a service says when it cannot start for that reason.
    let refused = signalops_platform::service::connect_checked_pool(&settings(app_url("127.0.0.1", &params)))
        .await
        .err()
        .map(|error| format!("{error:#}"))
        .unwrap_or_default();
    assert!(refused.starts_with("cannot reach Postgres (database.url)") && refused.contains("UnknownIssuer"), "{refused}");
    assert!(!refused.contains(&TestStack::attach().app_url), "the URL (with its password) is not in the message: {refused}");
}

#[tokio::test]
async fn verify_full_refuses_a_certificate_for_another_name_that_verify_ca_accepts() {
    // The connection goes to 127.0.0.1, but the name checked is one the
    // certificate does not carry.
    let ca = format!("sslrootcert={FIXTURES}/ca.pem&hostaddr=127.0.0.1");
    let error =
        session_uses_tls(app_url("db.signalops.test", &format!("sslmode=verify-full&{ca}"))).await.expect_err("the name is checked");
    assert!(error.contains("invalid peer certificate") && error.contains("not valid for name \"db.signalops.test\""), "{error}");
    assert_eq!(session_uses_tls(app_url("db.signalops.test", &format!("sslmode=verify-ca&{ca}"))).await, Ok(true));
}

#[tokio::test]
async fn require_encrypts_disable_does_not_and_the_default_prefer_takes_what_the_stack_offers() {
    assert_eq!(session_uses_tls(app_url("127.0.0.1", "sslmode=require")).await, Ok(true));
    assert_eq!(session_uses_tls(app_url("127.0.0.1", "sslmode=disable")).await, Ok(false));
    assert_eq!(session_uses_tls(app_url("127.0.0.1", "")).await, Ok(true), "prefer, as the stack's env file has it");
}
