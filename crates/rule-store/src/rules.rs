//! The `rules` table with each rule's current version: create, update (a
//! new version), pause and resume (no version), soft delete, get, list.

use chrono::{DateTime, Utc};
use signalops_platform::TenantId;
use signalops_rule_engine::{RuleVersion, Status};
use tokio_postgres::GenericClient;
use uuid::Uuid;

use crate::document::{status_text, stored};
use crate::error::{StoreError, StoreResult};
use crate::records::{RULE_COLUMNS, RuleRecord, rule_from};

const FROM_CURRENT: &str = "FROM rules r JOIN rule_versions v ON v.rule_id = r.id AND v.version = r.current_version";

/// Creates rule `id` with version 1 of `version`, in `status`.
pub async fn create<C: GenericClient>(
    tx: &C,
    tenant: TenantId,
    id: Uuid,
    version: &RuleVersion,
    status: Status,
    created_by: Option<Uuid>,
) -> StoreResult<RuleRecord> {
    tx.execute(
        "INSERT INTO rules (id, tenant_id, name, current_version, status) VALUES ($1, $2, $3, 1, $4)",
        &[&id, &tenant.as_uuid(), &version.name, &status_text(status)],
    )
    .await?;
    insert_version(tx, tenant, id, 1, version, created_by).await?;
    get(tx, id).await
}

/// Writes the next version of rule `id` and makes it current; `status`
/// changes the rule's status too when given. The rule's row lock orders
/// concurrent updates, so version numbers never collide.
pub async fn update<C: GenericClient>(
    tx: &C,
    tenant: TenantId,
    id: Uuid,
    version: &RuleVersion,
    status: Option<Status>,
    created_by: Option<Uuid>,
) -> StoreResult<RuleRecord> {
    let row = tx
        .query_opt(
            "UPDATE rules SET current_version = current_version + 1, name = $2, status = coalesce($3, status), updated_at = now() \
             WHERE id = $1 AND deleted_at IS NULL RETURNING current_version",
            &[&id, &version.name, &status.map(status_text)],
        )
        .await?
        .ok_or(StoreError::NotFound)?;
    let number: i32 = row.try_get(0)?;
    insert_version(tx, tenant, id, number, version, created_by).await?;
    get(tx, id).await
}

async fn insert_version<C: GenericClient>(
    tx: &C,
    tenant: TenantId,
    id: Uuid,
    number: i32,
    version: &RuleVersion,
    created_by: Option<Uuid>,
) -> StoreResult<()> {
    tx.execute(
        "INSERT INTO rule_versions (tenant_id, rule_id, version, document, created_by) VALUES ($1, $2, $3, $4, $5)",
        &[&tenant.as_uuid(), &id, &number, &stored(version), &created_by],
    )
    .await?;
    Ok(())
}

/// Sets the rule's status without a new version. `changed` is false when
/// the rule already had it (nothing was written).
pub async fn set_status<C: GenericClient>(tx: &C, id: Uuid, status: Status) -> StoreResult<(RuleRecord, bool)> {
    let changed = tx
        .execute(
            "UPDATE rules SET status = $2, updated_at = now() WHERE id = $1 AND deleted_at IS NULL AND status <> $2",
            &[&id, &status_text(status)],
        )
        .await?
        > 0;
    Ok((get(tx, id).await?, changed))
}

/// Deletes the rule softly and returns it as it was; its versions (and the
/// firings that name it) stay.
pub async fn delete<C: GenericClient>(tx: &C, id: Uuid) -> StoreResult<RuleRecord> {
    let rule = get_for_update(tx, id).await?;
    tx.execute("UPDATE rules SET deleted_at = now(), updated_at = now() WHERE id = $1", &[&id]).await?;
    Ok(rule)
}

/// The rule (not deleted) with its current version.
pub async fn get<C: GenericClient>(tx: &C, id: Uuid) -> StoreResult<RuleRecord> {
    let sql = format!("SELECT {RULE_COLUMNS} {FROM_CURRENT} WHERE r.id = $1 AND r.deleted_at IS NULL");
    let row = tx.query_opt(&sql, &[&id]).await?.ok_or(StoreError::NotFound)?;
    rule_from(&row)
}

async fn get_for_update<C: GenericClient>(tx: &C, id: Uuid) -> StoreResult<RuleRecord> {
    let sql = format!("SELECT {RULE_COLUMNS} {FROM_CURRENT} WHERE r.id = $1 AND r.deleted_at IS NULL FOR UPDATE OF r");
    let row = tx.query_opt(&sql, &[&id]).await?.ok_or(StoreError::NotFound)?;
    rule_from(&row)
}

/// The position of a rule in [`list`]: its creation time and id.
pub type ListKey = (DateTime<Utc>, Uuid);

/// Rules that are not deleted, newest first, at most `limit` after `after`.
pub async fn list<C: GenericClient>(tx: &C, after: Option<ListKey>, limit: i64) -> StoreResult<Vec<RuleRecord>> {
    let (after_at, after_id) = after.unzip();
    let sql = format!(
        "SELECT {RULE_COLUMNS} {FROM_CURRENT} WHERE r.deleted_at IS NULL \
           AND ($1::timestamptz IS NULL OR (r.created_at, r.id) < ($1, $2::uuid)) \
         ORDER BY r.created_at DESC, r.id DESC LIMIT $3"
    );
    let rows = tx.query(&sql, &[&after_at, &after_id, &limit]).await?;
    rows.iter().map(rule_from).collect()
}

/// The key of `rule` in [`list`].
pub fn list_key(rule: &RuleRecord) -> ListKey {
    (rule.created_at, rule.id)
}
