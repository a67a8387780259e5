//! The HTTP client every attempt uses: HTTP/1.1, TLS with the Mozilla
//! roots (rustls on ring), no proxy from the environment (a proxy would
//! connect on our behalf, past the address policy), redirects never
//! followed (a 3xx is a failed attempt), and the attempt's timeout over
//! the whole exchange.

use std::sync::Arc;
use std::time::Duration;

/// `User-Agent` of every attempt.
pub const USER_AGENT: &str = concat!("SignalOps-Notifier/", env!("CARGO_PKG_VERSION"));

fn tls() -> rustls::ClientConfig {
    let roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
    rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map(|builder| builder.with_root_certificates(roots).with_no_client_auth())
        .unwrap_or_else(|_| unreachable_tls())
}

// ring supports every safe default version; this is never reached.
#[allow(clippy::panic)]
fn unreachable_tls() -> rustls::ClientConfig {
    panic!("ring supports the default TLS versions")
}

/// A builder with the settings above; the caller adds a resolver or not.
pub fn builder(timeout: Duration) -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls())
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(5)))
        .pool_idle_timeout(Duration::from_secs(30))
        .user_agent(USER_AGENT)
}
