//! The rules admin API under `/v1/rules`: rules with immutable versions,
//! pause and resume, soft deletes, their firings, a dry run over sample
//! events and a backtest over the tenant's stored events.
//!
//! Promises, and why they hold:
//! - **Only the caller's tenant.** Every query runs in the caller's tenant
//!   transaction (`signalops-rule-store`); row-level security hides other
//!   tenants' rules, so their ids answer 404 like ids that do not exist.
//! - **Every change is recorded.** Each create, update, pause, resume and
//!   delete writes its audit entry and stages its system event
//!   (`signalops.rule.*`) in the transaction of the change.
//! - **A rule is saved only when it validates.** `signalops_rule_engine::validate`
//!   runs on every document before it is stored; every problem is answered
//!   at once as a 422 naming its JSON Pointer.
//! - **Dry runs and backtests have no side effects.** They read, evaluate
//!   in memory (`signalops_rule_store::Replay`) and answer; nothing is
//!   written and nothing is appended. Backtests are bounded in events and
//!   time and say where they stopped.

mod backtest;
mod backtest_source;
mod changes;
mod docs;
mod dry_run;
mod evaluated;
mod history;
mod routes;
mod schema;
mod validation;
mod views;

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    // Fixed paths before `/rules/{id}`: actix tries resources in order.
    cfg.service(schema::rule_schema)
        .service(dry_run::test_rule)
        .service(routes::list_rules)
        .service(routes::create_rule)
        .service(routes::get_rule)
        .service(routes::update_rule)
        .service(routes::delete_rule)
        .service(routes::pause_rule)
        .service(routes::resume_rule)
        .service(history::list_versions)
        .service(history::get_version)
        .service(history::list_firings)
        .service(backtest::backtest_rule);
}
