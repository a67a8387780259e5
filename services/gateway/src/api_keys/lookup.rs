//! Finding a key's row by its public prefix, without letting callers make
//! the gateway query Postgres without bound, and without a revoked key
//! coming back from a lookup that raced its revocation (ADR 0008).
//!
//! - Rows found stay `cache_ttl` in `found`. Unknown prefixes stay the
//!   shorter `negative_ttl` in `missing`, a separate cache with its own,
//!   smaller size bound, so a flood of invented prefixes cannot push real
//!   keys out of memory.
//! - Concurrent misses of one prefix share one query (single flight): the
//!   first starts it on a task of its own, which also stores the result, and
//!   every other caller awaits that result. A caller that gives up (client
//!   gone) does not cancel the query for the others.
//! - Each prefix maps to one of [`STRIPES`] generation counters, which
//!   `invalidate` bumps. A query remembers the generation it started under,
//!   and its cache entry carries it; an entry or a result from an older
//!   generation is not trusted. So a query that read the row before a
//!   revocation and stores it after `invalidate` ran stores an entry nobody
//!   uses, and its waiters ask Postgres again.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::FutureExt;
use futures::future::{BoxFuture, Shared};
use moka::future::Cache;
use signalops_platform::TenantId;
use signalops_platform::postgres::Pool;
use uuid::Uuid;

use crate::problem::ApiError;

/// Generation counters; a revocation also makes the few other prefixes of
/// its stripe look up their row again, which costs one query each.
pub const STRIPES: usize = 1024;
/// Rows kept in memory at most (each a few hundred bytes).
pub const FOUND_CAPACITY: u64 = 100_000;
/// Unknown prefixes kept in memory at most.
pub const MISSING_CAPACITY: u64 = 10_000;

/// A key's row, as verification needs it.
#[derive(Debug, Clone)]
pub struct StoredKey {
    pub id: Uuid,
    pub tenant_id: TenantId,
    pub digest: Vec<u8>,
    pub scopes: Vec<String>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked: bool,
}

#[derive(Clone)]
struct Found {
    key: StoredKey,
    generation: u64,
}

/// One query's outcome, shared by everyone waiting for it. The error is
/// kept as the `ApiError` it becomes (503 when transient, else 500).
#[derive(Clone)]
struct Loaded {
    key: Result<Option<StoredKey>, (bool, Arc<str>)>,
    generation: u64,
}

type Flight = Shared<BoxFuture<'static, Loaded>>;

/// Runs between a query and storing its result; tests use it to hold a
/// query there while a revocation happens.
#[cfg(test)]
pub type Hook = Arc<dyn Fn() -> BoxFuture<'static, ()> + Send + Sync>;

struct Inner {
    pool: Pool,
    found: Cache<String, Found>,
    missing: Cache<String, u64>,
    generations: Box<[AtomicU64]>,
    hasher: std::collections::hash_map::RandomState,
    flights: Mutex<HashMap<String, Flight>>,
    #[cfg(test)]
    queries: AtomicU64,
    #[cfg(test)]
    hook: Mutex<Option<Hook>>,
}

#[derive(Clone)]
pub struct KeyLookups {
    inner: Arc<Inner>,
}

impl KeyLookups {
    pub fn new(pool: Pool, cache_ttl: Duration, negative_ttl: Duration) -> Self {
        Self::with_capacity(pool, cache_ttl, negative_ttl, FOUND_CAPACITY, MISSING_CAPACITY)
    }

    pub fn with_capacity(pool: Pool, cache_ttl: Duration, negative_ttl: Duration, found: u64, missing: u64) -> Self {
        Self {
            inner: Arc::new(Inner {
                pool,
                found: Cache::builder().max_capacity(found).time_to_live(cache_ttl).build(),
                missing: Cache::builder().max_capacity(missing).time_to_live(negative_ttl.min(cache_ttl)).build(),
                generations: (0..STRIPES).map(|_| AtomicU64::new(0)).collect(),
                hasher: std::collections::hash_map::RandomState::new(),
                flights: Mutex::new(HashMap::new()),
                #[cfg(test)]
                queries: AtomicU64::new(0),
                #[cfg(test)]
                hook: Mutex::new(None),
            }),
        }
    }

    /// The row for `prefix` from memory, if memory has a current answer:
    /// `Some(None)` is a remembered unknown prefix, `None` means a query is
    /// needed.
    pub async fn cached(&self, prefix: &str) -> Option<Option<StoredKey>> {
        let generation = self.inner.generation(prefix);
        if let Some(found) = self.inner.found.get(prefix).await
            && found.generation == generation
        {
            return Some(Some(found.key));
        }
        (self.inner.missing.get(prefix).await == Some(generation)).then_some(None)
    }

    /// The row for `prefix`: from memory, else from the one query in flight
    /// for it, else from a new one.
    pub async fn get(&self, prefix: &str) -> Result<Option<StoredKey>, ApiError> {
        if let Some(answer) = self.cached(prefix).await {
            return Ok(answer);
        }
        let loaded = self.flight(prefix).await;
        if loaded.generation == self.inner.generation(prefix) {
            return loaded.key.map_err(into_api_error);
        }
        // The query started before a revocation of this prefix (or of its
        // stripe): its answer may predate it, so ask again, uncached.
        self.inner.query(prefix).await.map_err(into_api_error)
    }

    /// The row as Postgres has it now, bypassing memory (open streams
    /// re-check their key this way).
    pub async fn fresh(&self, prefix: &str) -> Result<Option<StoredKey>, ApiError> {
        self.inner.query(prefix).await.map_err(into_api_error)
    }

    /// Forgets `prefix` on this instance, including any answer a query in
    /// flight would store.
    pub async fn invalidate(&self, prefix: &str) {
        self.inner.stripe(prefix).fetch_add(1, Ordering::SeqCst);
        self.inner.found.invalidate(prefix).await;
        self.inner.missing.invalidate(prefix).await;
    }

    fn flight(&self, prefix: &str) -> Flight {
        let mut flights = self.inner.flights.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(flight) = flights.get(prefix) {
            return flight.clone();
        }
        let inner = Arc::clone(&self.inner);
        let owned = prefix.to_owned();
        let task = tokio::spawn(async move {
            let generation = inner.generation(&owned);
            let key = inner.query(&owned).await;
            #[cfg(test)]
            inner.run_hook().await;
            match &key {
                Ok(Some(found)) => inner.found.insert(owned.clone(), Found { key: found.clone(), generation }).await,
                Ok(None) => inner.missing.insert(owned.clone(), generation).await,
                Err(_) => {}
            }
            // Removed before the waiters wake, so a caller that finds this
            // answer stale starts a new query instead of joining this one.
            inner.flights.lock().unwrap_or_else(PoisonError::into_inner).remove(&owned);
            Loaded { key, generation }
        });
        let flight = async move {
            task.await.unwrap_or_else(|error| Loaded { key: Err((false, format!("API key lookup task: {error}").into())), generation: 0 })
        }
        .boxed()
        .shared();
        flights.insert(prefix.to_owned(), flight.clone());
        flight
    }

    /// Queries run so far (tests count them).
    #[cfg(test)]
    pub fn queries(&self) -> u64 {
        self.inner.queries.load(Ordering::SeqCst)
    }

    /// Callers waiting for the query in flight for `prefix`.
    #[cfg(test)]
    pub fn waiting(&self, prefix: &str) -> usize {
        let flights = self.inner.flights.lock().unwrap_or_else(PoisonError::into_inner);
        // The map holds one handle; every waiter holds another.
        flights.get(prefix).and_then(Shared::strong_count).map_or(0, |handles| handles - 1)
    }

    #[cfg(test)]
    pub fn set_hook(&self, hook: Option<Hook>) {
        *self.inner.hook.lock().unwrap_or_else(PoisonError::into_inner) = hook;
    }

    /// Entries in the unknown-prefix cache, after pending evictions ran.
    #[cfg(test)]
    pub async fn missing_entries(&self) -> u64 {
        self.inner.missing.run_pending_tasks().await;
        self.inner.missing.entry_count()
    }
}

impl Inner {
    fn stripe(&self, prefix: &str) -> &AtomicU64 {
        // The modulo keeps the index below STRIPES, so the cast is lossless.
        #[allow(clippy::cast_possible_truncation)]
        let index = (self.hasher.hash_one(prefix) % STRIPES as u64) as usize;
        &self.generations[index]
    }

    fn generation(&self, prefix: &str) -> u64 {
        self.stripe(prefix).load(Ordering::SeqCst)
    }

    #[cfg(test)]
    async fn run_hook(&self) {
        let hook = self.hook.lock().unwrap_or_else(PoisonError::into_inner).clone();
        if let Some(hook) = hook {
            hook().await;
        }
    }

    /// The row under the lookup policy (RLS allows reading exactly the row
    /// whose prefix the transaction names).
    async fn query(&self, prefix: &str) -> Result<Option<StoredKey>, (bool, Arc<str>)> {
        #[cfg(test)]
        self.queries.fetch_add(1, Ordering::SeqCst);
        select(&self.pool, prefix).await.map_err(|error| {
            let transient = matches!(error, ApiError::Unavailable(_));
            (transient, Arc::from(error.to_string()))
        })
    }
}

async fn select(pool: &Pool, prefix: &str) -> Result<Option<StoredKey>, ApiError> {
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    tx.execute("SELECT set_config('app.api_key_prefix', $1, true)", &[&prefix]).await?;
    let row = tx
        .query_opt("SELECT id, tenant_id, digest, scopes, expires_at, revoked_at IS NOT NULL FROM api_keys WHERE prefix = $1", &[&prefix])
        .await?;
    tx.commit().await?;
    row.map(|r| {
        Ok::<_, ApiError>(StoredKey {
            id: r.try_get(0)?,
            tenant_id: TenantId::from_uuid(r.try_get(1)?),
            digest: r.try_get(2)?,
            scopes: r.try_get(3)?,
            expires_at: r.try_get(4)?,
            revoked: r.try_get(5)?,
        })
    })
    .transpose()
}

fn into_api_error((transient, message): (bool, Arc<str>)) -> ApiError {
    if transient { ApiError::Unavailable(message.to_string()) } else { ApiError::Internal(anyhow::anyhow!("API key lookup: {message}")) }
}
