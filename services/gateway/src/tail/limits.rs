//! How many tail streams may be open at once: per tenant, so one tenant
//! cannot take every slot, and per gateway instance, because every stream
//! holds a Kafka consumer (broker connections, up to ~2 MiB of prefetch) and
//! a blocking thread for as long as its client stays.
//!
//! A slot is a [`StreamSlot`] guard owned by the stream's consumer thread and
//! dropped when that thread returns, which it does when the client
//! disconnects. So a disconnect frees the slot, and so does a panic. The
//! `signalops_tail_open_streams` gauge moves with the slots.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use signalops_platform::TenantId;
use signalops_platform::metrics;

/// `Retry-After` of a refused stream. A slot frees only when another stream
/// closes, which no one can predict; this keeps retries cheap and rare.
pub const RETRY_AFTER_SECS: u64 = 10;

/// Which limit refused a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitHit {
    Tenant { limit: usize },
    Instance { limit: usize },
}

impl fmt::Display for LimitHit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Tenant { limit } => {
                write!(f, "the tenant already has {limit} open streams (ingest.tail_max_streams_per_tenant); close one and retry")
            }
            Self::Instance { limit } => {
                write!(f, "this gateway instance already serves {limit} open streams (ingest.tail_max_streams); retry later")
            }
        }
    }
}

/// The open streams of one gateway instance, and its limits.
pub struct StreamLimits {
    per_tenant: usize,
    total: usize,
    open: Arc<Mutex<OpenStreams>>,
}

#[derive(Debug, Default)]
struct OpenStreams {
    total: usize,
    /// Only tenants with at least one open stream, so the map stays as small
    /// as the number of streams.
    by_tenant: HashMap<TenantId, usize>,
}

/// One open stream's slot; dropping it frees the slot.
#[must_use = "the slot is freed as soon as the guard is dropped"]
pub struct StreamSlot {
    tenant: TenantId,
    open: Arc<Mutex<OpenStreams>>,
}

/// The counts stay consistent under the lock (every update is a few integer
/// operations that cannot panic halfway), so a poisoned lock is still usable.
fn lock(open: &Mutex<OpenStreams>) -> MutexGuard<'_, OpenStreams> {
    open.lock().unwrap_or_else(PoisonError::into_inner)
}

impl StreamLimits {
    pub fn new(per_tenant: usize, total: usize) -> Self {
        Self { per_tenant, total, open: Arc::default() }
    }

    /// A slot for one more stream of `tenant`, or the limit that refuses it.
    /// The tenant's own limit is reported first: it is the one the caller can
    /// do something about.
    pub fn acquire(&self, tenant: TenantId) -> Result<StreamSlot, LimitHit> {
        let mut open = lock(&self.open);
        if open.by_tenant.get(&tenant).copied().unwrap_or(0) >= self.per_tenant {
            return Err(LimitHit::Tenant { limit: self.per_tenant });
        }
        if open.total >= self.total {
            return Err(LimitHit::Instance { limit: self.total });
        }
        *open.by_tenant.entry(tenant).or_default() += 1;
        open.total += 1;
        metrics::tail().open_streams.inc();
        Ok(StreamSlot { tenant, open: Arc::clone(&self.open) })
    }

    /// Streams open on this instance.
    pub fn open_streams(&self) -> usize {
        lock(&self.open).total
    }

    /// Streams open for `tenant`.
    pub fn open_streams_of(&self, tenant: TenantId) -> usize {
        lock(&self.open).by_tenant.get(&tenant).copied().unwrap_or(0)
    }
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        let mut open = lock(&self.open);
        open.total = open.total.saturating_sub(1);
        if let Entry::Occupied(mut entry) = open.by_tenant.entry(self.tenant) {
            *entry.get_mut() -= 1;
            if *entry.get() == 0 {
                entry.remove();
            }
        }
        metrics::tail().open_streams.dec();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tenant_gets_its_limit_and_other_tenants_keep_theirs() {
        let limits = StreamLimits::new(2, 10);
        let (a, b) = (TenantId::new(), TenantId::new());
        let _first = limits.acquire(a).expect("first");
        let _second = limits.acquire(a).expect("second");
        assert_eq!(limits.acquire(a).err(), Some(LimitHit::Tenant { limit: 2 }));
        let _other = limits.acquire(b).expect("another tenant has its own limit");
        assert_eq!((limits.open_streams_of(a), limits.open_streams_of(b), limits.open_streams()), (2, 1, 3));
    }

    #[test]
    fn the_instance_limit_counts_every_tenant() {
        let limits = StreamLimits::new(5, 2);
        let _a = limits.acquire(TenantId::new()).expect("a");
        let _b = limits.acquire(TenantId::new()).expect("b");
        assert_eq!(limits.acquire(TenantId::new()).err(), Some(LimitHit::Instance { limit: 2 }));
    }

    #[test]
    fn a_full_tenant_is_told_about_its_own_limit_even_when_the_instance_is_full_too() {
        let limits = StreamLimits::new(1, 1);
        let tenant = TenantId::new();
        let _slot = limits.acquire(tenant).expect("slot");
        assert_eq!(limits.acquire(tenant).err(), Some(LimitHit::Tenant { limit: 1 }));
        assert_eq!(limits.acquire(TenantId::new()).err(), Some(LimitHit::Instance { limit: 1 }));
    }

    #[test]
    fn dropping_a_slot_frees_it() {
        let limits = StreamLimits::new(1, 1);
        let tenant = TenantId::new();
        let slot = limits.acquire(tenant).expect("slot");
        drop(slot);
        assert_eq!((limits.open_streams(), limits.open_streams_of(tenant)), (0, 0));
        assert!(lock(&limits.open).by_tenant.is_empty(), "idle tenants are forgotten");
        let _again = limits.acquire(tenant).expect("the freed slot is reusable");
    }

    #[test]
    fn a_slot_held_by_a_thread_is_freed_when_the_thread_ends_even_by_panic() {
        let limits = StreamLimits::new(1, 1);
        let tenant = TenantId::new();
        let slot = limits.acquire(tenant).expect("slot");
        let thread = std::thread::spawn(move || {
            let _slot = slot;
            panic!("consumer thread failed");
        });
        assert!(thread.join().is_err());
        assert_eq!(limits.open_streams(), 0);
        let _again = limits.acquire(tenant).expect("freed by unwinding");
    }

    #[test]
    fn the_detail_names_the_setting_that_refused() {
        assert!(LimitHit::Tenant { limit: 8 }.to_string().contains("8 open streams (ingest.tail_max_streams_per_tenant)"));
        assert!(LimitHit::Instance { limit: 256 }.to_string().contains("256 open streams (ingest.tail_max_streams)"));
    }
}
