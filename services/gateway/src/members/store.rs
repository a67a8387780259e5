//! Memberships of the transaction's tenant (RLS scopes every query, so
//! another tenant's people are invisible), and the record of each change.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use signalops_platform::TenantId;
use tokio_postgres::{Row, Transaction};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::audit::{self, AuditEntry};
use crate::problem::ApiError;
use crate::roles::Role;
use crate::system_events;

const SELECT_MEMBER: &str = "SELECT m.user_id, u.email::text, m.role, m.created_at FROM memberships m JOIN users u ON u.id = m.user_id";

/// A person in the tenant.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MemberView {
    pub user_id: Uuid,
    pub email: String,
    pub role: Role,
    /// When they joined this tenant.
    pub joined_at: DateTime<Utc>,
}

impl TryFrom<&Row> for MemberView {
    type Error = anyhow::Error;

    fn try_from(row: &Row) -> Result<Self, Self::Error> {
        let role: String = row.try_get(2)?;
        Ok(Self {
            user_id: row.try_get(0)?,
            email: row.try_get(1)?,
            role: role.parse().map_err(anyhow::Error::msg)?,
            joined_at: row.try_get(3)?,
        })
    }
}

fn from_rows(rows: &[Row]) -> Result<Vec<MemberView>, ApiError> {
    rows.iter().map(|row| MemberView::try_from(row).map_err(ApiError::Internal)).collect()
}

/// Members in join order, `limit` + 1 of them after the cursor key.
pub async fn list(tx: &Transaction<'_>, after: Option<(DateTime<Utc>, Uuid)>, limit: u32) -> Result<Vec<MemberView>, ApiError> {
    let (after_at, after_id) = after.map_or((None, None), |(at, id)| (Some(at), Some(id)));
    let rows = tx
        .query(
            &format!(
                "{SELECT_MEMBER} WHERE ($1::timestamptz IS NULL OR (m.created_at, m.user_id) > ($1, $2)) \
                 ORDER BY m.created_at, m.user_id LIMIT $3"
            ),
            &[&after_at, &after_id, &(i64::from(limit) + 1)],
        )
        .await?;
    from_rows(&rows)
}

/// Locks the tenant's owner rows (in a fixed order, so concurrent changes
/// queue instead of deadlocking) and returns who they are. Every change that
/// can reduce the owners takes these locks first, so the count a caller
/// checks stays true until it commits: two concurrent demotions cannot both
/// see "two owners left".
pub async fn lock_owners(tx: &Transaction<'_>) -> Result<Vec<Uuid>, ApiError> {
    let rows = tx.query("SELECT user_id FROM memberships WHERE role = 'owner' ORDER BY user_id FOR UPDATE", &[]).await?;
    Ok(rows.iter().map(|row| row.try_get(0)).collect::<Result<_, _>>()?)
}

/// Locks one member's row; 404 for someone who is not in this tenant.
pub async fn lock_member(tx: &Transaction<'_>, user_id: Uuid) -> Result<MemberView, ApiError> {
    let rows = tx.query(&format!("{SELECT_MEMBER} WHERE m.user_id = $1 FOR UPDATE OF m"), &[&user_id]).await?;
    from_rows(&rows)?.pop().ok_or(ApiError::NotFound)
}

pub async fn set_role(tx: &Transaction<'_>, user_id: Uuid, role: Role) -> Result<(), ApiError> {
    tx.execute("UPDATE memberships SET role = $2 WHERE user_id = $1", &[&user_id, &role.as_str()]).await?;
    Ok(())
}

/// Removes the membership. Nothing else is needed to end the person's
/// access here: roles are read per request (their access token fails at
/// once) and a refresh checks membership, revoking the family of a removed
/// member's token (revoking it here would make that look like token reuse).
pub async fn remove(tx: &Transaction<'_>, user_id: Uuid) -> Result<(), ApiError> {
    tx.execute("DELETE FROM memberships WHERE user_id = $1", &[&user_id]).await?;
    Ok(())
}

/// One membership change to record: audit action `member.<what>` and system
/// event `signalops.member.<what>`.
pub struct Change<'a> {
    pub tenant_id: TenantId,
    pub actor: String,
    pub request_id: Option<&'a str>,
    pub what: &'static str,
    pub user_id: Uuid,
    pub details: Value,
}

/// The audit entry and the staged system event, in the change's transaction.
pub async fn record(tx: &Transaction<'_>, change: Change<'_>) -> Result<(), ApiError> {
    let subject = format!("user/{}", change.user_id);
    let entry = AuditEntry {
        actor: change.actor,
        action: &format!("member.{}", change.what),
        target: subject.clone(),
        details: change.details.clone(),
    };
    audit::record(tx, change.tenant_id.as_uuid(), change.request_id, entry).await?;
    let mut data = change.details;
    if let Some(object) = data.as_object_mut() {
        object.insert("user_id".to_owned(), Value::String(change.user_id.to_string()));
    }
    system_events::stage(tx, change.tenant_id, &format!("signalops.member.{}", change.what), &subject, data).await?;
    Ok(())
}
