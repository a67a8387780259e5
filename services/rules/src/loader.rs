//! Loads every tenant's rules into the [`Catalog`] at start, then polls
//! `rule_sets` and reloads only the tenants whose revision moved.
//!
//! The gateway bumps a tenant's revision in every transaction that changes
//! one of its rules (a trigger on `rules`), and the revisions and the rules
//! are read in one repeatable-read snapshot, so the rules loaded for
//! revision N are exactly the rules as of N. Rules are read across tenants,
//! which the `rules_loader` policies allow only to transactions that set
//! `app.rules_loader`.
//!
//! A rule runs as its current version, with its operational status (paused
//! rules are left out of the index). A version that does not compile is
//! logged and skipped; the tenant's other rules still run.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use anyhow::Context as _;
use signalops_platform::TenantId;
use signalops_platform::postgres::Pool;
use signalops_platform::shutdown::CancellationToken;
use signalops_rule_engine::{CompiledRule, RuleIndex};
use signalops_rule_store::document;
use uuid::Uuid;

use crate::catalog::{Catalog, TenantRules};
use crate::metrics;

const REVISIONS_SQL: &str = "SELECT tenant_id, revision FROM rule_sets";

const RULES_SQL: &str = "SELECT r.tenant_id, r.id, r.current_version, r.status, v.document \
    FROM rules r JOIN rule_versions v ON v.rule_id = r.id AND v.version = r.current_version \
    WHERE r.tenant_id = ANY($1) AND r.deleted_at IS NULL \
    ORDER BY r.tenant_id, r.created_at, r.id";

/// What one refresh changed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Refresh {
    pub reloaded: usize,
    pub removed: usize,
}

/// Reloads the tenants whose revision differs from the catalog's.
pub async fn refresh(pool: &Pool, catalog: &Catalog) -> anyhow::Result<Refresh> {
    let mut client = pool.get().await.context("no database connection for the rule loader")?;
    let tx = client.build_transaction().isolation_level(tokio_postgres::IsolationLevel::RepeatableRead).read_only(true).start().await?;
    tx.execute("SELECT set_config('app.rules_loader', 'on', true)", &[]).await?;
    let mut revisions: HashMap<TenantId, i64> = HashMap::new();
    for row in tx.query(REVISIONS_SQL, &[]).await.context("cannot read rule_sets")? {
        revisions.insert(TenantId::from_uuid(row.try_get(0)?), row.try_get(1)?);
    }
    let loaded = catalog.revisions();
    let changed: Vec<TenantId> = revisions.iter().filter(|(t, r)| loaded.get(t) != Some(r)).map(|(t, _)| *t).collect();
    let gone: Vec<TenantId> = loaded.keys().filter(|t| !revisions.contains_key(t)).copied().collect();
    if changed.is_empty() && gone.is_empty() {
        tx.commit().await?;
        return Ok(Refresh::default());
    }
    let ids: Vec<Uuid> = changed.iter().map(TenantId::as_uuid).collect();
    let mut by_tenant: BTreeMap<TenantId, Vec<CompiledRule>> = changed.iter().map(|t| (*t, Vec::new())).collect();
    for row in tx.query(RULES_SQL, &[&ids]).await.context("cannot read rules")? {
        let tenant = TenantId::from_uuid(row.try_get(0)?);
        let rule_id: Uuid = row.try_get(1)?;
        let version: i32 = row.try_get(2)?;
        let status: String = row.try_get(3)?;
        let document: serde_json::Value = row.try_get(4)?;
        match document::compile(rule_id, version, &status, &document) {
            Ok(rule) => by_tenant.entry(tenant).or_default().push(rule),
            Err(problem) => {
                metrics::rules().compile_failures.inc();
                tracing::warn!(tenant = %tenant, rule = %rule_id, version, %problem, "rule version does not compile; it is skipped");
            }
        }
    }
    tx.commit().await?;
    let reloaded = by_tenant.len();
    let tenants = by_tenant
        .into_iter()
        .map(|(tenant, rules)| {
            let index = RuleIndex::new(rules);
            let active = index.len();
            let revision = revisions.get(&tenant).copied().unwrap_or_default();
            tracing::info!(tenant = %tenant, revision, active, "rules loaded");
            (tenant, TenantRules { revision, index, active })
        })
        .collect();
    catalog.apply(tenants, &gone);
    metrics::rules().loaded.set(i64::try_from(catalog.active_rules()).unwrap_or(i64::MAX));
    Ok(Refresh { reloaded, removed: gone.len() })
}

/// Refreshes every `interval` until `stop`. A failed refresh keeps the
/// rules loaded so far and is retried at the next tick.
pub fn spawn(pool: Pool, catalog: Catalog, interval: Duration, stop: CancellationToken) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                _ = tick.tick() => {}
            }
            if let Err(error) = refresh(&pool, &catalog).await {
                tracing::warn!(error = %format!("{error:#}"), "cannot reload rules; keeping the loaded ones");
            }
        }
    })
}
