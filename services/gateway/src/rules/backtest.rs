//! `POST /v1/rules/{id}/backtest`: one version of a saved rule folded over
//! the tenant's stored events of a time range, with window and throttle
//! states in memory (starting empty), answering what it would have fired.
//!
//! Bounded: at most `rules_api.backtest_max_events` events are evaluated
//! and the run stops after `rules_api.backtest_time_budget_ms`; either
//! bound answers `truncated: true` with where it stopped, never an error.
//! Nothing is written and nothing is appended.

use std::time::{Duration, Instant};

use actix_web::{post, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use signalops_platform::postgres::begin_tenant_tx;
use signalops_rule_engine::{CompiledRule, Event, FireOptions, RuleRef, Status, Verdict};
use signalops_rule_store::report::suppression_text;
use signalops_rule_store::{Replay, rules, versions};
use tokio_postgres::error::SqlState;
use utoipa::ToSchema;
use uuid::Uuid;

use super::backtest_source::{EventPages, StoredEvent};
use super::docs::{RuleAction, RuleTraceEntry};
use super::evaluated;
use super::views::FiringOutcome;
use crate::extract::{JsonBody, Principal};
use crate::pagination::rfc3339_year;
use crate::problem::{ApiError, ApiResult, FieldError, Problem};
use crate::roles::{Permission, authorize};
use crate::state::AppState;

/// How often (in events) states that can no longer change a verdict are dropped.
const FORGET_EVERY: u64 = 4_096;
/// How often (in events) the time budget is checked within a page.
const CLOCK_EVERY: u64 = 256;
const DEFAULT_LIMIT: u32 = 100;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BacktestRequest {
    /// Events received at or after this time (RFC 3339).
    pub from: DateTime<Utc>,
    /// Events received before this time (RFC 3339); after `from`.
    pub to: DateTime<Utc>,
    /// The version to run (the current one when absent).
    pub version: Option<u32>,
    /// How many firings to list with their traces (default 100, at most
    /// `rules_api.backtest_max_firings`); the counts cover every firing.
    pub limit: Option<u32>,
}

/// A firing (or suppressed firing) the rule would have recorded.
#[derive(Debug, Serialize, ToSchema)]
pub struct BacktestFiring {
    pub event_id: String,
    pub event_type: String,
    pub received_at: DateTime<Utc>,
    pub outcome: FiringOutcome,
    /// Why it was suppressed (`throttled`, `own_event`, `depth_cap`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[schema(value_type = Vec<RuleTraceEntry>)]
    pub trace: Value,
    /// The rendered actions (empty when suppressed).
    #[schema(value_type = Vec<RuleAction>)]
    pub actions: Value,
}

/// Which bound stopped a backtest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// `rules_api.backtest_max_events` events were evaluated and more remain.
    MaxEvents,
    /// `rules_api.backtest_time_budget_ms` passed.
    TimeBudget,
}

/// Where a backtest stopped before the end of its range.
#[derive(Debug, Serialize, ToSchema)]
pub struct BacktestStop {
    pub reason: StopReason,
    /// The `received_at` and id of the last event evaluated; absent when none was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_received_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_event_id: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BacktestResponse {
    pub rule_id: Uuid,
    pub version: u32,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// Events of the rule's types in the range that were evaluated.
    pub scanned: u64,
    /// Of those, how many matched the condition.
    pub matched: u64,
    pub fired: u64,
    pub suppressed: u64,
    /// The first `limit` firings and suppressed firings, in `received_at` order.
    pub firings: Vec<BacktestFiring>,
    /// True when there were more firings than `limit`.
    pub firings_truncated: bool,
    /// True when a bound stopped the run before the end of the range.
    pub truncated: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stopped: Option<BacktestStop>,
}

impl BacktestRequest {
    fn check(&self, max_firings: u32) -> Result<u32, ApiError> {
        let mut errors = Vec::new();
        for (field, at) in [("from", &self.from), ("to", &self.to)] {
            if !rfc3339_year(at) {
                errors.push(FieldError::new(field, "must be an RFC 3339 time with a four-digit year"));
            }
        }
        if self.to <= self.from {
            errors.push(FieldError::new("to", "must be after from"));
        }
        let limit = self.limit.unwrap_or(DEFAULT_LIMIT.min(max_firings));
        if !(1..=max_firings).contains(&limit) {
            errors.push(FieldError::new("limit", format!("must be between 1 and {max_firings}")));
        }
        if errors.is_empty() { Ok(limit) } else { Err(ApiError::Validation(errors)) }
    }
}

/// Runs one version of a rule over the tenant's stored events received in
/// `[from, to)`, in `received_at` order, with windows and throttles in
/// memory, and answers the counts and the first firings with their traces.
/// Stops at the event and time bounds and says so. No side effects.
#[utoipa::path(
    tag = "rules",
    params(("id" = Uuid, Path)),
    request_body = BacktestRequest,
    responses(
        (status = 200, body = BacktestResponse), (status = 403, body = Problem),
        (status = 404, body = Problem, description = "not one of the tenant's rules, or no such version"),
        (status = 422, body = Problem, description = "a bad time range or `limit`")
    ),
    security(("bearer" = []))
)]
#[post("/rules/{id}/backtest")]
#[tracing::instrument(skip_all, fields(tenant_id = %principal.tenant_id))]
pub async fn backtest_rule(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<Uuid>,
    body: JsonBody<BacktestRequest>,
) -> ApiResult<web::Json<BacktestResponse>> {
    let settings = &state.config.rules_api;
    let body = body.0;
    let limit = body.check(settings.backtest_max_firings)?;
    let id = id.into_inner();
    let started = Instant::now();
    let deadline = started + Duration::from_millis(settings.backtest_time_budget_ms);
    let mut client = state.pool.get().await?;
    let tx = begin_tenant_tx(&mut client, principal.tenant_id).await?;
    authorize(&tx, principal.user_id, Permission::ReadRules).await?;
    let rule = rules::get(&tx, id).await?;
    let number = body.version.unwrap_or(rule.current_version);
    let version =
        if number == rule.current_version { rule.version()? } else { versions::get(&tx, id, number).await?.version(Status::Active)? };
    let compiled = CompiledRule::from_version(RuleRef { id, version: number }, &version)
        .map_err(|p| ApiError::Internal(anyhow::anyhow!("stored rule {id} version {number} does not compile: {p:?}")))?;
    // Nothing a backtest does may write.
    tx.batch_execute("SET TRANSACTION READ ONLY").await?;
    crate::query::use_serving_read_model(&tx).await?;
    // The budget bounds the database's part too (the sort of a large range).
    let timeout = format!("{}ms", settings.backtest_time_budget_ms);
    tx.execute("SELECT set_config('statement_timeout', $1, true)", &[&timeout]).await?;
    let scan_limit = i64::try_from(settings.backtest_max_events).unwrap_or(i64::MAX).saturating_add(1);
    let mut pages = EventPages::open(&tx, &compiled, (body.from, body.to), scan_limit, settings.backtest_page_size).await?;
    let mut run = Run::new(&compiled, limit);
    let stop = loop {
        if pages.is_done() {
            break None;
        }
        if Instant::now() >= deadline {
            break Some(StopReason::TimeBudget);
        }
        let page = match pages.next_page().await {
            Ok(page) => page,
            // The statement timeout: the budget ran out inside Postgres.
            Err(e) if e.code() == Some(&SqlState::QUERY_CANCELED) => break Some(StopReason::TimeBudget),
            Err(e) => return Err(e.into()),
        };
        if let Some(reason) = run.fold(&page, settings.backtest_max_events, deadline) {
            break Some(reason);
        }
    };
    // Read only: nothing to keep. Rolling back also clears the timeout.
    drop(tx);
    tracing::info!(rule_id = %id, scanned = run.scanned, fired = run.fired, truncated = stop.is_some(), elapsed_ms = started.elapsed().as_millis() as u64, "backtest");
    Ok(web::Json(run.answer(id, number, &body, stop)))
}

/// The counts and listed firings of one backtest.
struct Run<'r> {
    replay: Replay<'r>,
    limit: usize,
    scanned: u64,
    matched: u64,
    fired: u64,
    suppressed: u64,
    firings: Vec<BacktestFiring>,
    last: Option<(DateTime<Utc>, String)>,
}

impl<'r> Run<'r> {
    fn new(rule: &'r CompiledRule, limit: u32) -> Self {
        Run {
            replay: Replay::new(rule, FireOptions::default()),
            limit: limit as usize,
            scanned: 0,
            matched: 0,
            fired: 0,
            suppressed: 0,
            firings: Vec::new(),
            last: None,
        }
    }

    /// Folds one page in; `Some` when a bound stops the run before an
    /// event of the page (the page holds only events in the range).
    fn fold(&mut self, page: &[StoredEvent], max_events: u64, deadline: Instant) -> Option<StopReason> {
        for stored in page {
            if self.scanned >= max_events {
                return Some(StopReason::MaxEvents);
            }
            if self.scanned > 0 && self.scanned.is_multiple_of(CLOCK_EVERY) && Instant::now() >= deadline {
                return Some(StopReason::TimeBudget);
            }
            if self.scanned > 0 && self.scanned.is_multiple_of(FORGET_EVERY) {
                self.replay.forget_expired(stored.received_at);
            }
            self.step(stored);
        }
        None
    }

    fn step(&mut self, stored: &StoredEvent) {
        let event = Event {
            id: &stored.id,
            event_type: &stored.event_type,
            source: &stored.source,
            subject: stored.subject.as_deref(),
            time: Some(stored.time),
            received_at: stored.received_at,
            data: &stored.data,
            // The read model does not keep causation, so the loop guard sees none.
            causation: None,
        };
        let step = self.replay.step(&event);
        self.scanned += 1;
        self.matched += u64::from(evaluated::matched(&step));
        self.last = Some((stored.received_at, stored.id.clone()));
        let (outcome, reason) = match &step.verdict {
            Verdict::Fired(_) => {
                self.fired += 1;
                (FiringOutcome::Fired, None)
            }
            Verdict::Suppressed(why) => {
                self.suppressed += 1;
                (FiringOutcome::Suppressed, Some(suppression_text(why)))
            }
            _ => return,
        };
        if self.firings.len() <= self.limit {
            self.firings.push(BacktestFiring {
                event_id: stored.id.clone(),
                event_type: stored.event_type.clone(),
                received_at: stored.received_at,
                outcome,
                reason,
                trace: evaluated::trace(&step),
                actions: evaluated::actions(&step),
            });
        }
    }

    fn answer(mut self, rule_id: Uuid, version: u32, body: &BacktestRequest, stop: Option<StopReason>) -> BacktestResponse {
        // One firing past the limit was kept to tell whether there are more.
        let firings_truncated = self.firings.len() > self.limit;
        self.firings.truncate(self.limit);
        let (last_received_at, last_event_id) = self.last.unzip();
        BacktestResponse {
            rule_id,
            version,
            from: body.from,
            to: body.to,
            scanned: self.scanned,
            matched: self.matched,
            fired: self.fired,
            suppressed: self.suppressed,
            firings: self.firings,
            firings_truncated,
            truncated: stop.is_some(),
            stopped: stop.map(|reason| BacktestStop { reason, last_received_at, last_event_id }),
        }
    }
}
