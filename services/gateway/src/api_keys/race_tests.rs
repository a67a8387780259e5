//! The verifier against the real Postgres of the test stack: one query per
//! prefix however many callers wait, a bounded memory of unknown prefixes,
//! and no revoked key brought back by a lookup that raced its revocation.
//! Queries are held at a hook between reading the row and storing it, so
//! every interleaving here is forced, not hoped for.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::FutureExt;
use signalops_platform::TenantId;
use signalops_platform::api_keys::ApiKey;
use signalops_platform::config::{ApiKeySettings, Secret};
use signalops_platform::postgres::{self, begin_tenant_tx};
use signalops_testkit::{TestDatabase, TestStack};
use tokio::sync::{Semaphore, oneshot};

use super::lookup::{Hook, KeyLookups};
use super::verifier::{ApiKeyVerifier, KeyStatus};
use crate::problem::ApiError;

const PEPPER: &str = "race-test-pepper-0123456789abcdef01234567";
const WAIT: Duration = Duration::from_secs(10);

struct Fixture {
    db: TestDatabase,
    tenant: TenantId,
    verifier: Arc<ApiKeyVerifier>,
}

async fn fixture(negative_ttl: Duration, missing_capacity: u64) -> Fixture {
    let db = TestStack::attach().fresh_database().await.expect("database");
    let pool = postgres::connect_pool(&db.settings()).expect("pool");
    let settings = ApiKeySettings { pepper: Secret::new(PEPPER), environment: "test".into(), ..ApiKeySettings::default() };
    let lookups = KeyLookups::with_capacity(pool.clone(), Duration::from_secs(60), negative_ttl, 1_000, missing_capacity);
    let verifier = ApiKeyVerifier::start_with(pool, &settings, lookups);
    let tenant = TenantId::new();
    let mut app = db.app().await.expect("app");
    let tx = begin_tenant_tx(&mut app, tenant).await.expect("tx");
    tx.execute("INSERT INTO tenants (id, name) VALUES ($1, 'acme')", &[&tenant.as_uuid()]).await.expect("tenant");
    tx.commit().await.expect("commit");
    Fixture { db, tenant, verifier }
}

impl Fixture {
    async fn insert(&self, key: &ApiKey) {
        let mut app = self.db.app().await.expect("app");
        let tx = begin_tenant_tx(&mut app, self.tenant).await.expect("tx");
        tx.execute(
            "INSERT INTO api_keys (id, tenant_id, prefix, digest, scopes) VALUES ($1, $2, $3, $4, ARRAY['events:write'])",
            &[&uuid::Uuid::now_v7(), &self.tenant.as_uuid(), &key.prefix(), &key.digest(&Secret::new(PEPPER))],
        )
        .await
        .expect("key");
        tx.commit().await.expect("commit");
    }

    async fn revoke(&self, key: &ApiKey) {
        let superuser = self.db.superuser().await.expect("superuser");
        let revoked =
            superuser.execute("UPDATE api_keys SET revoked_at = now() WHERE prefix = $1", &[&key.prefix()]).await.expect("revoke");
        assert_eq!(revoked, 1);
    }

    async fn key(&self) -> ApiKey {
        let key = ApiKey::generate("test");
        self.insert(&key).await;
        key
    }
}

/// A hook that reports each query reaching it and holds it until released.
struct Gate {
    reached: Arc<Mutex<Option<oneshot::Sender<()>>>>,
    release: Arc<Semaphore>,
}

impl Gate {
    fn install(lookups: &KeyLookups) -> (Self, oneshot::Receiver<()>) {
        let (sender, receiver) = oneshot::channel();
        let gate = Self { reached: Arc::new(Mutex::new(Some(sender))), release: Arc::new(Semaphore::new(0)) };
        let (reached, release) = (Arc::clone(&gate.reached), Arc::clone(&gate.release));
        let hook: Hook = Arc::new(move || {
            if let Some(sender) = reached.lock().expect("lock").take() {
                let _ = sender.send(());
            }
            let release = Arc::clone(&release);
            async move {
                release.acquire().await.expect("open").forget();
            }
            .boxed()
        });
        lookups.set_hook(Some(hook));
        (gate, receiver)
    }

    fn open(&self) {
        self.release.add_permits(1_000);
    }
}

#[tokio::test]
async fn a_lookup_that_read_the_row_before_a_revocation_cannot_cache_the_revoked_key() {
    let f = fixture(Duration::from_secs(60), 100).await;
    let key = f.key().await;
    let (gate, reached) = Gate::install(f.verifier.lookups());

    // The lookup reads the row while the key is still valid, then waits
    // before storing it…
    let racing = tokio::spawn({
        let (verifier, presented) = (Arc::clone(&f.verifier), key.expose().to_owned());
        async move { verifier.verify(&presented).await }
    });
    tokio::time::timeout(WAIT, reached).await.expect("the lookup reached the hook").expect("hook");
    // …the key is revoked and this instance invalidates it meanwhile…
    f.revoke(&key).await;
    f.verifier.invalidate(key.prefix()).await;
    f.verifier.lookups().set_hook(None);
    // …and only then does the lookup store what it read.
    gate.open();

    let racing = tokio::time::timeout(WAIT, racing).await.expect("finished").expect("task");
    assert!(matches!(racing, Err(ApiError::Unauthorized(_))), "the raced answer is not trusted: {racing:?}");
    let after = f.verifier.verify(key.expose()).await;
    assert!(matches!(after, Err(ApiError::Unauthorized(_))), "the revoked key is not back in memory: {after:?}");
    assert_eq!(f.verifier.status_now(key.expose()).await.expect("status"), KeyStatus::Revoked);
}

#[tokio::test]
async fn concurrent_lookups_of_one_prefix_share_one_query() {
    let f = fixture(Duration::from_secs(60), 100).await;
    let key = f.key().await;
    let (gate, reached) = Gate::install(f.verifier.lookups());
    let callers: Vec<_> = (0..20)
        .map(|_| {
            let (verifier, presented) = (Arc::clone(&f.verifier), key.expose().to_owned());
            tokio::spawn(async move { verifier.verify(&presented).await })
        })
        .collect();
    tokio::time::timeout(WAIT, reached).await.expect("a query started").expect("hook");
    // Every caller is waiting for that one query before it may finish.
    let deadline = tokio::time::Instant::now() + WAIT;
    while f.verifier.lookups().waiting(key.prefix()) < callers.len() {
        assert!(tokio::time::Instant::now() < deadline, "only {} callers joined the query", f.verifier.lookups().waiting(key.prefix()));
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    gate.open();
    for caller in callers {
        let identity = caller.await.expect("task").expect("valid key");
        assert_eq!(identity.tenant_id, f.tenant);
    }
    assert_eq!(f.verifier.lookups().queries(), 1);
    f.verifier.verify(key.expose()).await.expect("from memory");
    assert_eq!(f.verifier.lookups().queries(), 1, "later calls are served from memory");
}

#[tokio::test]
async fn unknown_prefixes_are_remembered_briefly_in_bounded_memory_without_evicting_real_keys() {
    let f = fixture(Duration::from_secs(1), 8).await;
    let real = f.key().await;
    f.verifier.verify(real.expose()).await.expect("real key");
    let after_real = f.verifier.lookups().queries();

    // An unknown prefix asked twice is queried once.
    let unknown = ApiKey::generate("test");
    for _ in 0..2 {
        assert!(matches!(f.verifier.verify(unknown.expose()).await, Err(ApiError::Unauthorized(_))));
    }
    assert_eq!(f.verifier.lookups().queries(), after_real + 1);

    // A flood of invented prefixes stays within the bound…
    for _ in 0..50 {
        assert!(matches!(f.verifier.verify(ApiKey::generate("test").expose()).await, Err(ApiError::Unauthorized(_))));
    }
    let remembered = f.verifier.lookups().missing_entries().await;
    assert!(remembered <= 8, "{remembered} unknown prefixes kept");
    // …and the real key is still answered from memory.
    let before = f.verifier.lookups().queries();
    f.verifier.verify(real.expose()).await.expect("real key");
    assert_eq!(f.verifier.lookups().queries(), before);

    // "Briefly": a key created after its prefix was remembered as unknown
    // is accepted once the negative TTL (1 s here) has passed.
    let late = ApiKey::generate("test");
    assert!(f.verifier.verify(late.expose()).await.is_err());
    f.insert(&late).await;
    let deadline = tokio::time::Instant::now() + WAIT;
    while f.verifier.verify(late.expose()).await.is_err() {
        assert!(tokio::time::Instant::now() < deadline, "the unknown entry never expired");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
