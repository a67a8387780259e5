//! The `invitations` table: reading, locking and closing rows, and recording
//! each transition (audit entry + staged system event) in the transaction
//! that makes it, so a committed transition always has both and a rolled-back
//! one has neither.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;
use signalops_platform::TenantId;
use signalops_platform::postgres::set_tenant;
use tokio_postgres::{Row, Transaction};
use utoipa::ToSchema;
use uuid::Uuid;

use super::state_machine::{InvitationState, effective_state};
use super::token::InvitationToken;
use crate::audit::{self, AuditEntry};
use crate::problem::ApiError;
use crate::roles::Role;
use crate::system_events;

pub const COLUMNS: &str = "id, tenant_id, email, role, state, invited_by, created_at, expires_at, closed_at, accepted_user_id";

/// Who closes an invitation that simply ran out of time.
pub const SYSTEM_ACTOR: &str = "system";
/// Who declines: the holder of the token, who need not have an account.
pub const INVITEE_ACTOR: &str = "invitee";

/// One row of `invitations`, as stored (its state may be overdue).
#[derive(Debug, Clone)]
pub struct InvitationRow {
    pub id: Uuid,
    pub tenant_id: TenantId,
    pub email: String,
    pub role: Role,
    pub state: InvitationState,
    pub invited_by: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub closed_at: Option<DateTime<Utc>>,
    pub accepted_user_id: Option<Uuid>,
}

impl TryFrom<&Row> for InvitationRow {
    type Error = anyhow::Error;

    fn try_from(row: &Row) -> Result<Self, Self::Error> {
        let role: String = row.try_get(3)?;
        let state: String = row.try_get(4)?;
        Ok(Self {
            id: row.try_get(0)?,
            tenant_id: TenantId::from_uuid(row.try_get(1)?),
            email: row.try_get(2)?,
            role: role.parse().map_err(anyhow::Error::msg)?,
            state: state.parse().map_err(anyhow::Error::msg)?,
            invited_by: row.try_get(5)?,
            created_at: row.try_get(6)?,
            expires_at: row.try_get(7)?,
            closed_at: row.try_get(8)?,
            accepted_user_id: row.try_get(9)?,
        })
    }
}

pub fn from_row(row: &Row) -> Result<InvitationRow, ApiError> {
    InvitationRow::try_from(row).map_err(ApiError::Internal)
}

/// An invitation as the API shows it: never its token.
#[derive(Debug, Serialize, ToSchema)]
pub struct InvitationView {
    pub id: Uuid,
    pub email: String,
    pub role: Role,
    /// A pending invitation past `expires_at` is shown as `expired`.
    pub state: InvitationState,
    pub invited_by: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub closed_at: Option<DateTime<Utc>>,
    pub accepted_user_id: Option<Uuid>,
}

impl InvitationView {
    pub fn at(row: &InvitationRow, now: DateTime<Utc>) -> Self {
        Self {
            id: row.id,
            email: row.email.clone(),
            role: row.role,
            state: effective_state(row.state, now, row.expires_at),
            invited_by: row.invited_by,
            created_at: row.created_at,
            expires_at: row.expires_at,
            closed_at: row.closed_at,
            accepted_user_id: row.accepted_user_id,
        }
    }
}

/// A new row, before it is inserted.
pub struct NewInvitation<'a> {
    pub tenant_id: TenantId,
    pub email: &'a str,
    pub role: Role,
    pub token: &'a InvitationToken,
    pub invited_by: Uuid,
    /// The clock that decides expiry also stamps creation, so the validity
    /// shown is exactly the configured TTL.
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// Inserts a pending invitation; a second pending one for the same email in
/// this tenant violates `invitations_one_pending` and becomes a 409.
pub async fn insert(tx: &Transaction<'_>, new: NewInvitation<'_>) -> Result<InvitationRow, ApiError> {
    let inserted = tx
        .query_one(
            &format!(
                "INSERT INTO invitations (id, tenant_id, email, role, token_hash, invited_by, created_at, expires_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING {COLUMNS}"
            ),
            &[
                &Uuid::now_v7(),
                &new.tenant_id.as_uuid(),
                &new.email,
                &new.role.as_str(),
                &new.token.digest(),
                &new.invited_by,
                &new.created_at,
                &new.expires_at,
            ],
        )
        .await;
    match inserted {
        Ok(row) => from_row(&row),
        Err(error) if violates(&error, "invitations_one_pending") => {
            Err(ApiError::Conflict("a pending invitation for this email already exists; revoke it to invite again".to_owned()))
        }
        Err(error) => Err(error.into()),
    }
}

fn violates(error: &tokio_postgres::Error, constraint: &str) -> bool {
    error.as_db_error().and_then(|db| db.constraint()).is_some_and(|name| name == constraint)
}

/// Locks one invitation of the transaction's tenant; another tenant's id is
/// invisible under RLS and answers 404 like an unknown one.
pub async fn lock_by_id(tx: &Transaction<'_>, id: Uuid) -> Result<InvitationRow, ApiError> {
    let row = tx.query_opt(&format!("SELECT {COLUMNS} FROM invitations WHERE id = $1 FOR UPDATE"), &[&id]).await?;
    from_row(&row.ok_or(ApiError::NotFound)?)
}

/// Finds the invitation a token belongs to before any tenant is known: the
/// `lookup_by_hash` policy shows only the row whose hash the transaction
/// names. The transaction then continues under that row's tenant, where the
/// row can be locked (locking needs the tenant policy, which covers UPDATE).
pub async fn lock_by_token(tx: &Transaction<'_>, token: &InvitationToken) -> Result<InvitationRow, ApiError> {
    tx.execute("SELECT set_config('app.token_hash', $1, true)", &[&token.digest_hex()]).await?;
    let found = tx.query_opt("SELECT tenant_id FROM invitations WHERE token_hash = $1", &[&token.digest()]).await?;
    let tenant = TenantId::from_uuid(found.ok_or(ApiError::NotFound)?.try_get(0)?);
    // The lookup grant has done its job; nothing later should lean on it.
    tx.execute("SELECT set_config('app.token_hash', '', true)", &[]).await?;
    set_tenant(tx, tenant).await?;
    let row = tx.query_opt(&format!("SELECT {COLUMNS} FROM invitations WHERE token_hash = $1 FOR UPDATE"), &[&token.digest()]).await?;
    from_row(&row.ok_or(ApiError::NotFound)?)
}

/// Closes a locked pending invitation in `to`.
pub async fn close(
    tx: &Transaction<'_>,
    invitation: &InvitationRow,
    to: InvitationState,
    now: DateTime<Utc>,
    accepted_user_id: Option<Uuid>,
) -> Result<InvitationRow, ApiError> {
    let row = tx
        .query_opt(
            &format!(
                "UPDATE invitations SET state = $2, closed_at = $3, accepted_user_id = $4 \
                 WHERE id = $1 AND state = 'pending' RETURNING {COLUMNS}"
            ),
            &[&invitation.id, &to.as_str(), &now, &accepted_user_id],
        )
        .await?;
    // The caller holds the row lock, so the row cannot have moved on.
    let row = row.ok_or_else(|| ApiError::Internal(anyhow::anyhow!("invitation {} was not pending under its lock", invitation.id)))?;
    from_row(&row)
}

/// Closes every overdue pending invitation for `email` as expired, so that
/// a stale one does not block a new invitation (one pending per email).
pub async fn expire_overdue_for_email(tx: &Transaction<'_>, email: &str, now: DateTime<Utc>) -> Result<Vec<InvitationRow>, ApiError> {
    let rows = tx
        .query(
            &format!(
                "UPDATE invitations SET state = 'expired', closed_at = $2 \
                 WHERE email = $1 AND state = 'pending' AND expires_at <= $2 RETURNING {COLUMNS}"
            ),
            &[&email, &now],
        )
        .await?;
    rows.iter().map(from_row).collect()
}

/// `invitation.<created|accepted|…>`: the audit action and event suffix of
/// the transition into `state`.
fn event_name(state: InvitationState) -> &'static str {
    match state {
        InvitationState::Pending => "created",
        other => other.as_str(),
    }
}

/// Records the transition that left `invitation` in its current state: an
/// audit entry and a staged `signalops.invitation.<state>` system event.
pub async fn record_transition(
    tx: &Transaction<'_>,
    invitation: &InvitationRow,
    actor: String,
    request_id: Option<&str>,
) -> Result<(), tokio_postgres::Error> {
    let name = event_name(invitation.state);
    let details = json!({
        "email": invitation.email,
        "role": invitation.role,
        "state": invitation.state,
        "accepted_user_id": invitation.accepted_user_id,
    });
    let entry = AuditEntry { actor, action: &format!("invitation.{name}"), target: format!("invitation/{}", invitation.id), details };
    audit::record(tx, invitation.tenant_id.as_uuid(), request_id, entry).await?;
    let data = json!({
        "invitation_id": invitation.id,
        "email": invitation.email,
        "role": invitation.role,
        "state": invitation.state,
        "invited_by": invitation.invited_by,
        "expires_at": invitation.expires_at,
        "accepted_user_id": invitation.accepted_user_id,
    });
    let event_type = format!("signalops.invitation.{name}");
    system_events::stage(tx, invitation.tenant_id, &event_type, &format!("invitation/{}", invitation.id), data).await
}
