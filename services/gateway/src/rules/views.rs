//! What the rules API answers, and how store errors become problems.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use signalops_rule_engine::Status;
use signalops_rule_store::{FiringRecord, RuleRecord, StoreError, VersionRecord};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::problem::ApiError;

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NotFound => ApiError::NotFound,
            StoreError::Postgres(e) => e.into(),
            corrupt @ StoreError::Corrupt { .. } => ApiError::Internal(corrupt.into()),
        }
    }
}

/// `active` or `paused`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RuleStatus {
    Active,
    Paused,
}

/// A rule with its current version.
#[derive(Debug, Serialize, ToSchema)]
pub struct RuleView {
    pub id: Uuid,
    pub name: String,
    /// Operational: pausing and resuming change it without a new version.
    pub status: RuleStatus,
    /// The version that runs; versions count up from 1.
    pub current_version: u32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The current version's document in normal form (the `equals`
    /// shorthand expanded), without `status`.
    #[schema(value_type = Object)]
    pub document: Value,
}

impl From<RuleRecord> for RuleView {
    fn from(rule: RuleRecord) -> Self {
        let status = match rule.status {
            Status::Active => RuleStatus::Active,
            Status::Paused => RuleStatus::Paused,
        };
        RuleView {
            id: rule.id,
            name: rule.name,
            status,
            current_version: rule.current_version,
            created_at: rule.created_at,
            updated_at: rule.updated_at,
            document: rule.document,
        }
    }
}

/// One immutable version of a rule.
#[derive(Debug, Serialize, ToSchema)]
pub struct VersionView {
    pub rule_id: Uuid,
    pub version: u32,
    /// The document in normal form, without `status`.
    #[schema(value_type = Object)]
    pub document: Value,
    /// The person who saved it.
    pub created_by: Option<Uuid>,
    pub created_at: DateTime<Utc>,
}

impl From<VersionRecord> for VersionView {
    fn from(v: VersionRecord) -> Self {
        VersionView { rule_id: v.rule_id, version: v.version, document: v.document, created_by: v.created_by, created_at: v.created_at }
    }
}

/// `fired` or `suppressed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FiringOutcome {
    Fired,
    Suppressed,
}

/// What a rule version decided for one event, as the rules group recorded it.
#[derive(Debug, Serialize, ToSchema)]
pub struct FiringView {
    pub version: u32,
    pub event_id: String,
    pub event_type: String,
    pub received_at: DateTime<Utc>,
    pub outcome: FiringOutcome,
    /// Why it was suppressed (`throttled`, `own_event`, `depth_cap`).
    pub reason: Option<String>,
    /// The rendered actions with their ids, or their errors.
    #[schema(value_type = Vec<serde_json::Value>)]
    pub produced: Value,
    /// Where the event is in the events topic.
    pub partition: i32,
    pub offset: i64,
    pub recorded_at: DateTime<Utc>,
}

impl TryFrom<FiringRecord> for FiringView {
    type Error = ApiError;

    fn try_from(f: FiringRecord) -> Result<Self, ApiError> {
        let outcome = match f.outcome.as_str() {
            "fired" => FiringOutcome::Fired,
            "suppressed" => FiringOutcome::Suppressed,
            other => return Err(ApiError::Internal(anyhow::anyhow!("rule firing with outcome {other:?}"))),
        };
        let produced = if f.produced.is_array() { f.produced } else { Value::Array(vec![f.produced]) };
        Ok(FiringView {
            version: f.version,
            event_id: f.event_id,
            event_type: f.event_type,
            received_at: f.received_at,
            outcome,
            reason: f.reason,
            produced,
            partition: f.partition,
            offset: f.offset,
            recorded_at: f.recorded_at,
        })
    }
}
