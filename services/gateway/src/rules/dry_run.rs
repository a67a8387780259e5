//! `POST /v1/rules/test`: a saved or draft rule run over sample events, in
//! their order, with window and throttle states carried from one sample to
//! the next in memory (starting empty). Nothing is written or appended.

use actix_web::{post, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use signalops_platform::postgres::begin_tenant_tx;
use signalops_rule_engine::{Causation, CompiledRule, Event, FireOptions, RuleRef, RuleVersion, Status, Verdict};
use signalops_rule_store::{Replay, rules, versions};
use tokio_postgres::Transaction;
use utoipa::ToSchema;
use uuid::Uuid;

use super::docs::{RuleAction, RuleCausation, RuleStates, RuleTraceEntry, RuleVerdict};
use super::evaluated;
use super::validation::{problems_at, tenant_channels, validated};
use crate::extract::{JsonBody, Principal};
use crate::problem::{ApiError, ApiResult, FieldError, Problem};
use crate::roles::{Permission, authorize};
use crate::state::AppState;

/// Sample events and bodies of a dry run may be larger than other admin bodies.
const TEST_BODY_LIMIT: usize = 1 << 20;

/// A dry run: one rule (saved, or a draft) and the events to try it on.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TestRuleRequest {
    /// A saved rule to run; give this or `rule`.
    pub rule_id: Option<Uuid>,
    /// With `rule_id`: the version to run (the current one when absent).
    pub version: Option<u32>,
    /// A draft rule document to run without saving it; give this or `rule_id`.
    #[schema(value_type = Option<Object>)]
    pub rule: Option<Value>,
    /// The sample events, processed in this order (at least 1, at most
    /// `rules_api.test_max_events`, 100 by default).
    #[schema(min_items = 1)]
    pub events: Vec<SampleEvent>,
}

/// An event to try a rule on, as it would arrive.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SampleEvent {
    /// `sample-1`, `sample-2`, … when absent.
    pub id: Option<String>,
    #[serde(rename = "type")]
    pub event_type: String,
    /// `/test` when absent.
    pub source: Option<String>,
    pub subject: Option<String>,
    pub time: Option<DateTime<Utc>>,
    /// The clock windows and throttles run on; the time of the request when absent.
    pub received_at: Option<DateTime<Utc>>,
    #[schema(value_type = Option<serde_json::Value>)]
    pub data: Option<Value>,
    /// Set it to try the loop guard on a derived event.
    #[schema(value_type = Option<RuleCausation>)]
    pub causation: Option<Causation>,
}

/// Which rule ran.
#[derive(Debug, Serialize, ToSchema)]
pub struct TestedRule {
    /// The saved rule's id; the nil UUID for a draft.
    pub id: Uuid,
    /// The version that ran; 0 for a draft.
    pub version: u32,
    pub draft: bool,
}

/// What the rule did with one sample event.
#[derive(Debug, Serialize, ToSchema)]
pub struct SampleResult {
    pub event_id: String,
    /// False when the event's type is not one of the rule's `event_types`.
    pub applies: bool,
    /// Whether the condition matched.
    pub matched: bool,
    /// One entry per leaf of the condition (empty when the rule does not apply).
    #[schema(value_type = Vec<RuleTraceEntry>)]
    pub trace: Value,
    /// The window and throttle states the event saw, and left behind.
    #[schema(value_type = RuleStates)]
    pub state: Value,
    #[schema(value_type = RuleVerdict)]
    pub verdict: Value,
    /// The rendered actions when the rule fired (empty otherwise).
    #[schema(value_type = Vec<RuleAction>)]
    pub actions: Value,
}

#[derive(Debug, Default, Serialize, ToSchema)]
pub struct TestSummary {
    pub events: u32,
    pub matched: u32,
    pub fired: u32,
    pub suppressed: u32,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TestRuleResponse {
    pub rule: TestedRule,
    pub results: Vec<SampleResult>,
    pub summary: TestSummary,
}

/// Runs a saved or draft rule over sample events, in order, with window and
/// throttle states carried from one to the next (starting empty), and
/// answers each event's trace, states, verdict and rendered actions. No
/// side effects: nothing is stored, nothing is sent.
#[utoipa::path(
    tag = "rules",
    request_body = TestRuleRequest,
    responses(
        (status = 200, body = TestRuleResponse), (status = 403, body = Problem),
        (status = 404, body = Problem, description = "`rule_id` (or its `version`) is not one of the tenant's rules"),
        (status = 422, body = Problem, description = "a bad draft (every problem, under `/rule`), too many or no events, or a bad event")
    ),
    security(("bearer" = []))
)]
#[post("/rules/test")]
#[tracing::instrument(skip_all, fields(tenant_id = %principal.tenant_id))]
pub async fn test_rule(
    state: web::Data<AppState>,
    principal: Principal,
    body: JsonBody<TestRuleRequest, TEST_BODY_LIMIT>,
) -> ApiResult<web::Json<TestRuleResponse>> {
    let body = body.0;
    check_events(&body.events, state.config.rules_api.test_max_events)?;
    let mut client = state.pool.get().await?;
    let tx = begin_tenant_tx(&mut client, principal.tenant_id).await?;
    authorize(&tx, principal.user_id, Permission::ReadRules).await?;
    let (rule, version, draft) = rule_to_run(&tx, &body).await?;
    tx.commit().await?;
    let compiled = CompiledRule::from_version(rule, &version).map_err(|p| {
        if draft {
            problems_at(&p, "/rule")
        } else {
            ApiError::Internal(anyhow::anyhow!("stored rule {} does not compile: {p:?}", rule.id))
        }
    })?;
    let now = Utc::now();
    let mut replay = Replay::new(&compiled, FireOptions::default());
    let mut summary = TestSummary::default();
    let mut results = Vec::with_capacity(body.events.len());
    for (i, sample) in body.events.iter().enumerate() {
        let id = sample.id.clone().unwrap_or_else(|| format!("sample-{}", i + 1));
        let data = sample.data.clone().unwrap_or(Value::Null);
        let event = Event {
            id: &id,
            event_type: &sample.event_type,
            source: sample.source.as_deref().unwrap_or("/test"),
            subject: sample.subject.as_deref(),
            // As in the rules group: no time means the time it was received.
            time: sample.time.or(sample.received_at).or(Some(now)),
            received_at: sample.received_at.unwrap_or(now),
            data: &data,
            causation: sample.causation.as_ref(),
        };
        let keys = compiled.state_keys(&event);
        let before = evaluated::states(&keys, &replay.states(&keys));
        let step = replay.step(&event);
        let after = evaluated::states(&keys, &replay.states(&keys));
        summary.events += 1;
        summary.matched += u32::from(evaluated::matched(&step));
        summary.fired += u32::from(matches!(step.verdict, Verdict::Fired(_)));
        summary.suppressed += u32::from(matches!(step.verdict, Verdict::Suppressed(_)));
        results.push(SampleResult {
            event_id: id.clone(),
            applies: step.applies,
            matched: evaluated::matched(&step),
            trace: evaluated::trace(&step),
            state: json!({"keys": keys, "before": before, "after": after}),
            verdict: evaluated::verdict(&step),
            actions: evaluated::actions(&step),
        });
    }
    Ok(web::Json(TestRuleResponse { rule: TestedRule { id: rule.id, version: rule.version, draft }, results, summary }))
}

fn check_events(events: &[SampleEvent], max: usize) -> Result<(), ApiError> {
    if events.is_empty() || events.len() > max {
        return Err(ApiError::field("events", format!("must hold 1 to {max} sample events, not {}", events.len())));
    }
    let mut errors = Vec::new();
    for (i, event) in events.iter().enumerate() {
        if event.event_type.is_empty() || event.event_type.len() > 128 || event.event_type.chars().any(char::is_control) {
            errors.push(FieldError::new(format!("events[{i}].type"), "must be 1-128 characters, none of them control characters"));
        }
        if event.id.as_deref().is_some_and(|id| !crate::ingest::event_input::valid_id(id)) {
            errors.push(FieldError::new(format!("events[{i}].id"), "must be 1-128 printable ASCII characters, as event ids are"));
        }
    }
    if errors.is_empty() { Ok(()) } else { Err(ApiError::Validation(errors)) }
}

/// The rule to run: a saved version (any status: a dry run of a paused rule
/// shows what it would do) or the validated draft.
async fn rule_to_run(tx: &Transaction<'_>, body: &TestRuleRequest) -> Result<(RuleRef, RuleVersion, bool), ApiError> {
    match (&body.rule_id, &body.rule) {
        (Some(id), None) => {
            let rule = rules::get(tx, *id).await?;
            let number = body.version.unwrap_or(rule.current_version);
            let version = if number == rule.current_version {
                rule.version()?
            } else {
                versions::get(tx, *id, number).await?.version(Status::Active)?
            };
            Ok((RuleRef { id: *id, version: number }, version, false))
        }
        (None, Some(document)) => {
            if body.version.is_some() {
                return Err(ApiError::field("version", "goes with rule_id, not with a draft rule"));
            }
            Ok((RuleRef { id: Uuid::nil(), version: 0 }, validated(document, "/rule", &tenant_channels(tx).await?)?, true))
        }
        _ => Err(ApiError::field("rule", "give exactly one of rule_id (a saved rule) and rule (a draft document)")),
    }
}
