//! The immutable versions of a rule.

use tokio_postgres::GenericClient;
use uuid::Uuid;

use crate::error::{StoreError, StoreResult};
use crate::records::{VERSION_COLUMNS, VersionRecord, version_from};

/// Fails with `NotFound` unless rule `id` exists and is not deleted.
pub async fn require_rule<C: GenericClient>(tx: &C, id: Uuid) -> StoreResult<()> {
    let found = tx.query_opt("SELECT 1 FROM rules WHERE id = $1 AND deleted_at IS NULL", &[&id]).await?;
    found.map(|_| ()).ok_or(StoreError::NotFound)
}

/// The versions of a rule that is not deleted, newest first, at most
/// `limit` of them older than `before`.
pub async fn list<C: GenericClient>(tx: &C, rule_id: Uuid, before: Option<u32>, limit: i64) -> StoreResult<Vec<VersionRecord>> {
    require_rule(tx, rule_id).await?;
    let before = before.map(i64::from);
    let sql = format!(
        "SELECT {VERSION_COLUMNS} FROM rule_versions WHERE rule_id = $1 AND ($2::bigint IS NULL OR version < $2) \
         ORDER BY version DESC LIMIT $3"
    );
    let rows = tx.query(&sql, &[&rule_id, &before, &limit]).await?;
    rows.iter().map(version_from).collect()
}

/// One version of a rule that is not deleted.
pub async fn get<C: GenericClient>(tx: &C, rule_id: Uuid, version: u32) -> StoreResult<VersionRecord> {
    require_rule(tx, rule_id).await?;
    let sql = format!("SELECT {VERSION_COLUMNS} FROM rule_versions WHERE rule_id = $1 AND version = $2::bigint");
    let row = tx.query_opt(&sql, &[&rule_id, &i64::from(version)]).await?;
    version_from(&row.ok_or(StoreError::NotFound)?)
}
