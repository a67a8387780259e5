//! Verifying a presented API key.
//!
//! 1. Format and checksum first: typos and random strings are refused
//!    without touching the database.
//! 2. An address with too many recent failures is refused (429) before any
//!    lookup that would reach Postgres ([`failures`](super::failures)).
//! 3. The row is found by the key's public prefix (RLS lookup policy)
//!    through [`KeyLookups`]: kept in memory for `api_keys.cache_ttl_secs`
//!    (unknown prefixes for `negative_cache_ttl_secs`), one query per
//!    prefix however many requests wait for it. Revocation takes effect on
//!    every gateway within the TTL, and at once on the one that revoked it.
//! 4. The peppered HMAC digest is compared in constant time.
//! 5. `last_used_at` is written in the background, batched, never on the
//!    request path.

use std::collections::HashMap;
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use actix_web::{FromRequest, HttpRequest, web};
use chrono::Utc;
use signalops_platform::TenantId;
use signalops_platform::api_keys::ApiKey;
use signalops_platform::config::{ApiKeySettings, Secret};
use signalops_platform::postgres::{Pool, begin_tenant_tx};
use tokio::sync::mpsc;
use uuid::Uuid;

use super::failures::FailureLimiter;
use super::lookup::{KeyLookups, StoredKey};
use crate::problem::ApiError;

/// A verified key: which tenant it acts for and what it may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyIdentity {
    pub key_id: Uuid,
    pub tenant_id: TenantId,
    pub prefix: String,
    pub scopes: Vec<String>,
}

impl ApiKeyIdentity {
    /// 403 unless the key carries `scope`.
    pub fn require(&self, scope: &str) -> Result<(), ApiError> {
        if self.scopes.iter().any(|s| s == scope) {
            Ok(())
        } else {
            Err(ApiError::Forbidden(format!("this API key lacks the {scope} scope")))
        }
    }
}

/// What Postgres says about a key right now (open streams re-check this).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyStatus {
    Valid,
    Revoked,
    Expired,
    /// No row with this prefix and digest any more.
    Unknown,
}

pub struct ApiKeyVerifier {
    pepper: Secret,
    lookups: KeyLookups,
    failures: FailureLimiter,
    last_used: mpsc::Sender<(TenantId, Uuid)>,
    /// When each key was last handed to the `last_used_at` task: a busy key
    /// is sent about once a second, not on every request (each send wakes
    /// another thread).
    last_reported: Mutex<HashMap<Uuid, Instant>>,
}

/// How often one key's use is reported to the `last_used_at` task.
const REPORT_EVERY: Duration = Duration::from_secs(1);

const INVALID: &str = "the API key is invalid, expired or revoked";
const MALFORMED: &str = "the API key is malformed (check for typos)";

impl ApiKeyVerifier {
    /// Also starts the background tasks that record `last_used_at` and
    /// forget idle addresses of the failure limiter.
    pub fn start(pool: Pool, settings: &ApiKeySettings) -> Arc<Self> {
        let lookups = KeyLookups::new(
            pool.clone(),
            Duration::from_secs(settings.cache_ttl_secs),
            Duration::from_secs(settings.negative_cache_ttl_secs),
        );
        Self::start_with(pool, settings, lookups)
    }

    pub(crate) fn start_with(pool: Pool, settings: &ApiKeySettings, lookups: KeyLookups) -> Arc<Self> {
        let (sender, receiver) = mpsc::channel(10_000);
        tokio::spawn(record_last_used(pool, receiver));
        let verifier = Arc::new(Self {
            pepper: settings.pepper.clone(),
            lookups,
            failures: FailureLimiter::new(settings.failed_auth_per_minute_per_ip),
            last_used: sender,
            last_reported: Mutex::new(HashMap::new()),
        });
        let weak = Arc::downgrade(&verifier);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(60));
            loop {
                tick.tick().await;
                let Some(verifier) = weak.upgrade() else { return };
                verifier.failures.forget_idle();
            }
        });
        verifier
    }

    /// Verifies `presented` for a request from `address`; failures count
    /// against that address (429 once it has too many).
    pub async fn verify_from(&self, address: Option<IpAddr>, presented: &str) -> Result<ApiKeyIdentity, ApiError> {
        let Some(address) = address else { return self.verify(presented).await };
        let outcome = match ApiKey::parse(presented) {
            Err(_) => Err(ApiError::Unauthorized(MALFORMED)),
            Ok(key) => {
                let stored = match self.lookups.cached(key.prefix()).await {
                    Some(answer) => answer,
                    None => {
                        self.failures.check_blocked(address)?;
                        self.lookups.get(key.prefix()).await?
                    }
                };
                self.check(&key, stored)
            }
        };
        outcome.map_err(|error| match error {
            ApiError::Unauthorized(_) => self.failures.record_failure(address, error),
            other => other,
        })
    }

    /// Verifies `presented` without an address to hold to account.
    pub async fn verify(&self, presented: &str) -> Result<ApiKeyIdentity, ApiError> {
        let key = ApiKey::parse(presented).map_err(|_| ApiError::Unauthorized(MALFORMED))?;
        let stored = self.lookups.get(key.prefix()).await?;
        self.check(&key, stored)
    }

    fn check(&self, key: &ApiKey, stored: Option<StoredKey>) -> Result<ApiKeyIdentity, ApiError> {
        let stored = stored.ok_or(ApiError::Unauthorized(INVALID))?;
        if status_of(key, &self.pepper, &stored) != KeyStatus::Valid {
            return Err(ApiError::Unauthorized(INVALID));
        }
        self.report_use(stored.tenant_id, stored.id);
        Ok(ApiKeyIdentity { key_id: stored.id, tenant_id: stored.tenant_id, prefix: key.prefix().to_owned(), scopes: stored.scopes })
    }

    /// What Postgres says about `presented` now, bypassing memory.
    pub async fn status_now(&self, presented: &str) -> Result<KeyStatus, ApiError> {
        let Ok(key) = ApiKey::parse(presented) else { return Ok(KeyStatus::Unknown) };
        Ok(match self.lookups.fresh(key.prefix()).await? {
            Some(stored) => status_of(&key, &self.pepper, &stored),
            None => KeyStatus::Unknown,
        })
    }

    /// Best effort: a full queue only delays `last_used_at`.
    fn report_use(&self, tenant: TenantId, key_id: Uuid) {
        let now = Instant::now();
        let mut reported = self.last_reported.lock().unwrap_or_else(PoisonError::into_inner);
        if reported.get(&key_id).is_some_and(|at| now.duration_since(*at) < REPORT_EVERY) {
            return;
        }
        // Keys not used for a while are forgotten, so the map stays as small
        // as the set of busy keys.
        if reported.len() >= 10_000 {
            reported.retain(|_, at| now.duration_since(*at) < REPORT_EVERY);
        }
        reported.insert(key_id, now);
        drop(reported);
        let _ = self.last_used.try_send((tenant, key_id));
    }

    /// Forgets a prefix on this instance (after a revocation here), also
    /// for lookups still in flight.
    pub async fn invalidate(&self, prefix: &str) {
        self.lookups.invalidate(prefix).await;
    }

    #[cfg(test)]
    pub(crate) fn lookups(&self) -> &KeyLookups {
        &self.lookups
    }
}

fn status_of(key: &ApiKey, pepper: &Secret, stored: &StoredKey) -> KeyStatus {
    if !key.verify(pepper, &stored.digest) {
        KeyStatus::Unknown
    } else if stored.revoked {
        KeyStatus::Revoked
    } else if stored.expires_at.is_some_and(|at| at <= Utc::now()) {
        KeyStatus::Expired
    } else {
        KeyStatus::Valid
    }
}

/// Batches `last_used_at` updates: at most one write per key every few seconds.
async fn record_last_used(pool: Pool, mut receiver: mpsc::Receiver<(TenantId, Uuid)>) {
    let mut pending: HashMap<TenantId, Vec<Uuid>> = HashMap::new();
    let mut tick = tokio::time::interval(Duration::from_secs(2));
    loop {
        tokio::select! {
            used = receiver.recv() => match used {
                Some((tenant, key)) => {
                    let keys = pending.entry(tenant).or_default();
                    if !keys.contains(&key) {
                        keys.push(key);
                    }
                }
                None => break,
            },
            _ = tick.tick() => {
                for (tenant, keys) in pending.drain() {
                    if let Err(error) = touch(&pool, tenant, &keys).await {
                        tracing::warn!(error = %format!("{error:#}"), "recording API key use failed");
                    }
                }
            }
        }
    }
}

async fn touch(pool: &Pool, tenant: TenantId, keys: &[Uuid]) -> anyhow::Result<()> {
    let mut client = pool.get().await?;
    let tx = begin_tenant_tx(&mut client, tenant).await?;
    tx.execute("UPDATE api_keys SET last_used_at = now() WHERE id = ANY($1)", &[&keys]).await?;
    tx.commit().await?;
    Ok(())
}

/// A request authenticated by API key: `x-api-key: <key>` or
/// `Authorization: Bearer <key>`.
#[derive(Debug, Clone)]
pub struct ApiKeyAuth(pub ApiKeyIdentity);

pub fn presented_key(request: &HttpRequest) -> Option<String> {
    if let Some(value) = request.headers().get("x-api-key").and_then(|v| v.to_str().ok()) {
        return Some(value.trim().to_owned());
    }
    crate::extract::principal::bearer(request).map(str::to_owned)
}

impl FromRequest for ApiKeyAuth {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(request: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let presented = presented_key(request);
        let verifier = request.app_data::<web::Data<ApiKeyVerifier>>().cloned();
        let address = request.peer_addr().map(|peer| peer.ip());
        Box::pin(async move {
            let presented = presented.ok_or(ApiError::Unauthorized("send the API key as x-api-key or Authorization: Bearer"))?;
            let verifier = verifier.ok_or_else(|| ApiError::Internal(anyhow::anyhow!("ApiKeyVerifier not registered")))?;
            let identity = verifier.verify_from(address, &presented).await?;
            tracing::Span::current().record("tenant_id", tracing::field::display(identity.tenant_id));
            Ok(Self(identity))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use signalops_platform::config::DatabaseSettings;

    /// A verifier whose database does not exist: any lookup fails with 503.
    fn offline_verifier() -> Arc<ApiKeyVerifier> {
        let settings = DatabaseSettings {
            url: Secret::new("postgres://nobody:pw@127.0.0.1:1/none"),
            connect_timeout_ms: 500,
            ..DatabaseSettings::default()
        };
        let pool = signalops_platform::postgres::connect_pool(&settings).expect("pool");
        let settings = ApiKeySettings { pepper: Secret::new("pepper-0123456789abcdef0123456789ab"), ..ApiKeySettings::default() };
        ApiKeyVerifier::start(pool, &settings)
    }

    #[tokio::test]
    async fn malformed_keys_and_wrong_checksums_are_refused_without_a_database() {
        let verifier = offline_verifier();
        let key = ApiKey::generate("test");
        let mut typo = key.expose().to_owned().into_bytes();
        let last = typo.len() - 1;
        typo[last] = if typo[last] == b'a' { b'b' } else { b'a' };
        for presented in [String::from_utf8(typo).expect("ascii"), "so_test_short".to_owned(), "hunter2".to_owned()] {
            // 401, not 503: the unreachable database was never asked.
            assert!(matches!(verifier.verify(&presented).await, Err(ApiError::Unauthorized(_))), "{presented}");
        }
        assert!(matches!(verifier.verify(key.expose()).await, Err(ApiError::Unavailable(_))), "a well-formed key does need the database");
    }

    #[test]
    fn scopes_are_enforced() {
        let identity = ApiKeyIdentity {
            key_id: Uuid::nil(),
            tenant_id: TenantId::new(),
            prefix: "so_test_x".into(),
            scopes: vec!["events:read".into()],
        };
        assert!(identity.require("events:read").is_ok());
        assert!(matches!(identity.require("events:write"), Err(ApiError::Forbidden(_))));
    }
}
