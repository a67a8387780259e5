//! The rules group's `BatchHandler`. Each batch (one partition, offset
//! order) is split by tenant; for each tenant with rules, in the batch's
//! transaction and under that tenant's row-level security:
//!
//! 1. the events some rule is indexed for are picked out (`RuleIndex`);
//! 2. the window and throttle states their matching events touch are loaded
//!    in one query;
//! 3. every indexed rule runs on every such event, in order, with the states
//!    carried in memory;
//! 4. changed states and firings (fired and suppressed, with the reason) are
//!    written, one statement each, and expired states are deleted, all in
//!    one pipelined round trip; the firings statement answers which firings
//!    are new.
//!
//! Then the records the new firings produced are appended to Kafka, and
//! only once Kafka acknowledged them all does the runtime commit the
//! transaction with the partition's next offset: each event's effect on
//! rules is applied exactly once, and its records appended at least once
//! with the same ids (ADR 0028).

use std::sync::Arc;

use async_trait::async_trait;
use chrono::TimeDelta;
use signalops_platform::TenantId;
use signalops_platform::consumer::{BatchHandler, HandlerError, Record, Transaction};
use signalops_platform::postgres::set_tenant;
use signalops_rule_engine::FireOptions;

use crate::append::{Appender, Outgoing};
use crate::catalog::{Catalog, TenantRules};
use crate::evaluate::{self, Outcome};
use crate::incoming::Incoming;
use crate::{metrics, states, writes};

pub struct RulesHandler {
    catalog: Catalog,
    options: FireOptions,
    grace: TimeDelta,
    appender: Appender,
}

impl RulesHandler {
    pub fn new(catalog: Catalog, options: FireOptions, state_expiry_grace: TimeDelta, appender: Appender) -> Self {
        Self { catalog, options, grace: state_expiry_grace, appender }
    }

    async fn tenant(
        &self,
        tx: &Transaction<'_>,
        tenant: TenantId,
        rules: &TenantRules,
        events: &[&Incoming],
        outgoing: &mut Outgoing,
    ) -> Result<(), HandlerError> {
        let candidates = evaluate::candidates(rules, events).map_err(|(index, reason)| HandlerError::undecodable(index, reason))?;
        if candidates.is_empty() {
            return Ok(());
        }
        let touched = evaluate::touched_states(&candidates);
        // Statements polled together are pipelined on the connection and run
        // in the order written (the tenant is set before anything reads),
        // so each group costs one round trip.
        let (_, mut cache) = futures::try_join!(set_tenant(tx, tenant), states::load(tx, tenant, &touched))?;
        let effects = evaluate::run(tenant, &candidates, &mut cache, &self.options, chrono::Utc::now());
        let stateful = candidates.iter().any(|c| c.rules.iter().any(|r| evaluate::uses_state(r)));
        let expired_before = if stateful { evaluate::expired_before(&candidates, self.grace) } else { None };
        let ((), new) =
            futures::try_join!(states::store(tx, tenant, &cache, expired_before), writes::firings(tx, tenant, &effects.firings))?;
        let m = metrics::rules();
        m.evaluations.inc_by(effects.evaluations);
        for firing in &effects.firings {
            m.firings.with_label_values(&[firing.outcome.as_str()]).inc();
        }
        if effects.firings.iter().any(|f| f.outcome == Outcome::Fired) {
            tracing::debug!(tenant = %tenant, fired = effects.firings.len(), staged = effects.staged.len(), "rules fired");
        }
        for staged in effects.staged {
            if new.get(staged.firing).copied().unwrap_or(false) {
                self.appender.push(outgoing, tenant, staged);
            }
        }
        Ok(())
    }
}

#[async_trait]
impl BatchHandler for RulesHandler {
    #[tracing::instrument(name = "rules.batch", skip_all, fields(records = records.len()), err)]
    async fn handle(&self, tx: &Transaction<'_>, records: &[Record]) -> Result<(), HandlerError> {
        let mut incoming = Vec::with_capacity(records.len());
        for (index, record) in records.iter().enumerate() {
            incoming.push(Incoming::decode(index, record).map_err(|reason| HandlerError::undecodable(index, reason))?);
        }
        // Records are keyed by tenant, so a batch nearly always holds one.
        // Tenants' states are disjoint, so each tenant's events are
        // processed on their own, in offset order.
        let mut tenants: Vec<TenantId> = incoming.iter().map(|i| i.tenant).collect();
        tenants.sort_unstable();
        tenants.dedup();
        let mut outgoing = Outgoing::default();
        for tenant in tenants {
            let Some(rules): Option<Arc<TenantRules>> = self.catalog.tenant(tenant) else { continue };
            let events: Vec<&Incoming> = incoming.iter().filter(|i| i.tenant == tenant).collect();
            self.tenant(tx, tenant, &rules, &events, &mut outgoing).await?;
        }
        self.appender.append(outgoing).await
    }
}
