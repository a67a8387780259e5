//! Every tenant's compiled rules, shared by the batch handler (which reads
//! a snapshot per batch) and the loader (which swaps in a tenant's new rules
//! when its revision moves).

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};

use signalops_platform::TenantId;
use signalops_rule_engine::RuleIndex;

/// One tenant's rules at one revision of its `rule_sets` row.
#[derive(Debug)]
pub struct TenantRules {
    pub revision: i64,
    pub index: RuleIndex,
    /// Active rules in the index.
    pub active: usize,
}

/// The rules of every tenant that has any.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    tenants: Arc<RwLock<HashMap<TenantId, Arc<TenantRules>>>>,
}

impl Catalog {
    /// A tenant's rules now (a batch keeps them for its whole transaction).
    pub fn tenant(&self, tenant: TenantId) -> Option<Arc<TenantRules>> {
        self.tenants.read().unwrap_or_else(PoisonError::into_inner).get(&tenant).cloned()
    }

    /// The revision loaded for each tenant.
    pub fn revisions(&self) -> HashMap<TenantId, i64> {
        self.tenants.read().unwrap_or_else(PoisonError::into_inner).iter().map(|(t, r)| (*t, r.revision)).collect()
    }

    /// The revision loaded for `tenant` (`None` before its first load).
    pub fn revision(&self, tenant: TenantId) -> Option<i64> {
        self.tenant(tenant).map(|r| r.revision)
    }

    /// Replaces the rules of the given tenants and forgets `gone` ones.
    pub fn apply(&self, loaded: Vec<(TenantId, TenantRules)>, gone: &[TenantId]) {
        let mut tenants = self.tenants.write().unwrap_or_else(PoisonError::into_inner);
        for tenant in gone {
            tenants.remove(tenant);
        }
        for (tenant, rules) in loaded {
            tenants.insert(tenant, Arc::new(rules));
        }
    }

    /// Active rules over every tenant.
    pub fn active_rules(&self) -> usize {
        self.tenants.read().unwrap_or_else(PoisonError::into_inner).values().map(|r| r.active).sum()
    }
}
