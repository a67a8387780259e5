//! Verifying a presented API key.
//!
//! 1. Format and checksum first: typos and random strings are refused
//!    without touching the database.
//! 2. The row is found by the key's public prefix (RLS lookup policy) and
//!    kept in memory for `api_keys.cache_ttl_secs`, so revocation takes
//!    effect on every gateway within that TTL (at once on the one that
//!    revoked it).
//! 3. The peppered HMAC digest is compared in constant time.
//! 4. `last_used_at` is written in the background, batched, never on the
//!    request path.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use actix_web::{FromRequest, HttpRequest, web};
use chrono::{DateTime, Utc};
use moka::future::Cache;
use signalops_platform::TenantId;
use signalops_platform::api_keys::ApiKey;
use signalops_platform::config::Secret;
use signalops_platform::postgres::{Pool, begin_tenant_tx};
use tokio::sync::mpsc;
use uuid::Uuid;

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

/// What the cache remembers about a prefix (`None`: no such key).
#[derive(Clone)]
struct StoredKey {
    id: Uuid,
    tenant_id: TenantId,
    digest: Vec<u8>,
    scopes: Vec<String>,
    expires_at: Option<DateTime<Utc>>,
    revoked: bool,
}

pub struct ApiKeyVerifier {
    pool: Pool,
    pepper: Secret,
    cache: Cache<String, Option<StoredKey>>,
    last_used: mpsc::Sender<(TenantId, Uuid)>,
    /// When each key was last handed to the `last_used_at` task: a busy key
    /// is sent about once a second, not on every request (each send wakes
    /// another thread).
    last_reported: Mutex<HashMap<Uuid, Instant>>,
}

/// How often one key's use is reported to the `last_used_at` task.
const REPORT_EVERY: Duration = Duration::from_secs(1);

const INVALID: &str = "the API key is invalid, expired or revoked";

impl ApiKeyVerifier {
    /// Also starts the background task that records `last_used_at`.
    pub fn start(pool: Pool, pepper: Secret, cache_ttl: Duration) -> Arc<Self> {
        let (sender, receiver) = mpsc::channel(10_000);
        tokio::spawn(record_last_used(pool.clone(), receiver));
        Arc::new(Self {
            pool,
            pepper,
            cache: Cache::builder().max_capacity(100_000).time_to_live(cache_ttl).build(),
            last_used: sender,
            last_reported: Mutex::new(HashMap::new()),
        })
    }

    pub async fn verify(&self, presented: &str) -> Result<ApiKeyIdentity, ApiError> {
        let key = ApiKey::parse(presented).map_err(|_| ApiError::Unauthorized("the API key is malformed (check for typos)"))?;
        let prefix = key.prefix().to_owned();
        let stored = match self.cache.get(&prefix).await {
            Some(hit) => hit,
            None => {
                let loaded = self.load(&prefix).await?;
                self.cache.insert(prefix.clone(), loaded.clone()).await;
                loaded
            }
        };
        let stored = stored.ok_or(ApiError::Unauthorized(INVALID))?;
        if !key.verify(&self.pepper, &stored.digest) || stored.revoked || stored.expires_at.is_some_and(|at| at <= Utc::now()) {
            return Err(ApiError::Unauthorized(INVALID));
        }
        self.report_use(stored.tenant_id, stored.id);
        Ok(ApiKeyIdentity { key_id: stored.id, tenant_id: stored.tenant_id, prefix, scopes: stored.scopes })
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

    /// Forgets a prefix on this instance (after a revocation here).
    pub async fn invalidate(&self, prefix: &str) {
        self.cache.invalidate(prefix).await;
    }

    async fn load(&self, prefix: &str) -> Result<Option<StoredKey>, ApiError> {
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        tx.execute("SELECT set_config('app.api_key_prefix', $1, true)", &[&prefix]).await?;
        let row = tx
            .query_opt(
                "SELECT id, tenant_id, digest, scopes, expires_at, revoked_at IS NOT NULL FROM api_keys WHERE prefix = $1",
                &[&prefix],
            )
            .await?;
        tx.commit().await?;
        let key = row.map(|r| -> Result<StoredKey, tokio_postgres::Error> {
            Ok(StoredKey {
                id: r.try_get(0)?,
                tenant_id: TenantId::from_uuid(r.try_get(1)?),
                digest: r.try_get(2)?,
                scopes: r.try_get(3)?,
                expires_at: r.try_get(4)?,
                revoked: r.try_get(5)?,
            })
        });
        Ok(key.transpose()?)
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
        Box::pin(async move {
            let presented = presented.ok_or(ApiError::Unauthorized("send the API key as x-api-key or Authorization: Bearer"))?;
            let verifier = verifier.ok_or_else(|| ApiError::Internal(anyhow::anyhow!("ApiKeyVerifier not registered")))?;
            let identity = verifier.verify(&presented).await?;
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
        ApiKeyVerifier::start(pool, Secret::new("pepper-0123456789abcdef0123456789ab"), Duration::from_secs(5))
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
