//! Rows as the store returns them, read with `try_get`.

use chrono::{DateTime, Utc};
use serde_json::Value;
use signalops_rule_engine::{RuleVersion, Status};
use tokio_postgres::Row;
use uuid::Uuid;

use crate::document::{parse_status, version_of};
use crate::error::{StoreError, StoreResult};

/// A rule with its current version's document.
#[derive(Clone, Debug, PartialEq)]
pub struct RuleRecord {
    pub id: Uuid,
    pub name: String,
    pub status: Status,
    pub current_version: u32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The current version's stored document (normal form, no status).
    pub document: Value,
}

impl RuleRecord {
    /// The current version with the rule's status, ready to compile.
    pub fn version(&self) -> StoreResult<RuleVersion> {
        version_of(self.id, &self.document, self.status)
    }
}

/// One immutable version of a rule.
#[derive(Clone, Debug, PartialEq)]
pub struct VersionRecord {
    pub rule_id: Uuid,
    pub version: u32,
    pub document: Value,
    pub created_by: Option<Uuid>,
    pub created_at: DateTime<Utc>,
}

impl VersionRecord {
    /// This version with `status` (the rule's), ready to compile.
    pub fn version(&self, status: Status) -> StoreResult<RuleVersion> {
        version_of(self.rule_id, &self.document, status)
    }
}

/// What one rule version decided for one event (written by the rules group).
#[derive(Clone, Debug, PartialEq)]
pub struct FiringRecord {
    pub rule_id: Uuid,
    pub version: u32,
    pub event_id: String,
    pub event_type: String,
    pub received_at: DateTime<Utc>,
    /// `fired` or `suppressed`.
    pub outcome: String,
    pub reason: Option<String>,
    /// The rendered actions with their ids, or their errors.
    pub produced: Value,
    pub partition: i32,
    pub offset: i64,
    pub recorded_at: DateTime<Utc>,
}

pub(crate) fn version_number(rule_id: Uuid, stored: i32) -> StoreResult<u32> {
    u32::try_from(stored).map_err(|_| StoreError::Corrupt { rule_id, message: format!("version {stored} is not positive") })
}

/// The columns [`rule_from`] reads, from `rules r JOIN rule_versions v`.
pub(crate) const RULE_COLUMNS: &str = "r.id, r.name, r.status, r.current_version, r.created_at, r.updated_at, v.document";

pub(crate) fn rule_from(row: &Row) -> StoreResult<RuleRecord> {
    let id: Uuid = row.try_get(0)?;
    let status: String = row.try_get(2)?;
    Ok(RuleRecord {
        id,
        name: row.try_get(1)?,
        status: parse_status(id, &status)?,
        current_version: version_number(id, row.try_get(3)?)?,
        created_at: row.try_get(4)?,
        updated_at: row.try_get(5)?,
        document: row.try_get(6)?,
    })
}

pub(crate) const VERSION_COLUMNS: &str = "rule_id, version, document, created_by, created_at";

pub(crate) fn version_from(row: &Row) -> StoreResult<VersionRecord> {
    let rule_id: Uuid = row.try_get(0)?;
    Ok(VersionRecord {
        rule_id,
        version: version_number(rule_id, row.try_get(1)?)?,
        document: row.try_get(2)?,
        created_by: row.try_get(3)?,
        created_at: row.try_get(4)?,
    })
}

pub(crate) const FIRING_COLUMNS: &str =
    "rule_id, version, event_id, event_type, received_at, outcome, reason, produced, kafka_partition, kafka_offset, recorded_at";

pub(crate) fn firing_from(row: &Row) -> StoreResult<FiringRecord> {
    let rule_id: Uuid = row.try_get(0)?;
    Ok(FiringRecord {
        rule_id,
        version: version_number(rule_id, row.try_get(1)?)?,
        event_id: row.try_get(2)?,
        event_type: row.try_get(3)?,
        received_at: row.try_get(4)?,
        outcome: row.try_get(5)?,
        reason: row.try_get(6)?,
        produced: row.try_get(7)?,
        partition: row.try_get(8)?,
        offset: row.try_get(9)?,
        recorded_at: row.try_get(10)?,
    })
}
