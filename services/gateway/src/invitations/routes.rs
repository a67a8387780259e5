//! Managing invitations inside a tenant: create (the token is shown once),
//! list, read, revoke. Accepting and declining are public (`redeem.rs`).

use actix_web::{HttpRequest, HttpResponse, get, post, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use signalops_platform::postgres::begin_tenant_tx;
use tokio_postgres::Transaction;
use utoipa::ToSchema;
use uuid::Uuid;

use super::redeem;
use super::state_machine::{Action, InvitationState, TransitionError, transition};
use super::store::{self, InvitationRow, InvitationView, NewInvitation, SYSTEM_ACTOR};
use super::token::InvitationToken;
use crate::audit::{self, user_actor};
use crate::extract::{JsonBody, Principal};
use crate::pagination::{Page, PageQuery};
use crate::problem::{ApiError, ApiResult, Problem};
use crate::roles::{Permission, Role, authorize};
use crate::state::AppState;
use signalops_platform::email::Email;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateInvitation {
    pub email: String,
    /// The role the person gets on accepting; only owners may invite owners.
    pub role: Role,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedInvitation {
    #[serde(flatten)]
    pub invitation: InvitationView,
    /// The invitation token (`soi_…`). Shown once: pass it to the invitee,
    /// who accepts or declines with it.
    pub token: String,
}

/// Invites someone by email. The response holds the token, which is never
/// shown again (only its SHA-256 is stored).
#[utoipa::path(
    tag = "invitations",
    request_body = CreateInvitation,
    responses(
        (status = 201, body = CreatedInvitation),
        (status = 401, body = Problem),
        (status = 403, description = "Lacks invitations:manage, or invites an owner without being one", body = Problem),
        (status = 409, description = "Already a member, or a pending invitation for this email exists", body = Problem),
        (status = 422, body = Problem)
    ),
    security(("bearer" = []))
)]
#[post("/invitations")]
#[tracing::instrument(skip_all, fields(tenant_id = %principal.tenant_id, invitation_id = tracing::field::Empty))]
pub async fn create_invitation(
    state: web::Data<AppState>,
    principal: Principal,
    request: HttpRequest,
    body: JsonBody<CreateInvitation>,
) -> ApiResult<HttpResponse> {
    let email = Email::parse(&body.0.email).map_err(|invalid| ApiError::field("email", invalid.to_string()))?;
    let role = body.0.role;
    let now = Utc::now();
    let token = InvitationToken::generate();
    let mut client = state.pool.get().await?;
    let tx = begin_tenant_tx(&mut client, principal.tenant_id).await?;
    let caller_role = authorize(&tx, principal.user_id, Permission::ManageInvitations).await?;
    if role == Role::Owner && caller_role != Role::Owner {
        return Err(ApiError::Forbidden("only an owner may invite an owner".to_owned()));
    }
    refuse_existing_member(&tx, &email).await?;
    let request_id = audit::request_id(&request);
    expire_overdue(&tx, &email, now, request_id.as_deref()).await?;
    let expires_at = now + chrono::Duration::days(i64::from(state.config.auth.invitation_ttl_days));
    let new = NewInvitation {
        tenant_id: principal.tenant_id,
        email: email.as_str(),
        role,
        token: &token,
        invited_by: principal.user_id,
        created_at: now,
        expires_at,
    };
    let invitation = store::insert(&tx, new).await?;
    tracing::Span::current().record("invitation_id", tracing::field::display(invitation.id));
    store::record_transition(&tx, &invitation, user_actor(principal.user_id), request_id.as_deref()).await?;
    tx.commit().await?;
    state.outbox.notify_one();
    let created = CreatedInvitation { invitation: InvitationView::at(&invitation, now), token: token.expose().to_owned() };
    Ok(HttpResponse::Created().json(created))
}

/// 409 when the address already belongs to a member of this tenant.
async fn refuse_existing_member(tx: &Transaction<'_>, email: &Email) -> ApiResult<()> {
    let member =
        tx.query_opt("SELECT 1 FROM memberships m JOIN users u ON u.id = m.user_id WHERE u.email = $1", &[&email.as_str()]).await?;
    match member {
        Some(_) => Err(ApiError::Conflict("this person is already a member of the tenant".to_owned())),
        None => Ok(()),
    }
}

/// Records the expiry of overdue pending invitations for `email`, which
/// would otherwise keep occupying the one pending slot per address.
async fn expire_overdue(tx: &Transaction<'_>, email: &Email, now: DateTime<Utc>, request_id: Option<&str>) -> ApiResult<()> {
    for expired in store::expire_overdue_for_email(tx, email.as_str(), now).await? {
        store::record_transition(tx, &expired, SYSTEM_ACTOR.to_owned(), request_id).await?;
    }
    Ok(())
}

/// The tenant's invitations, newest first (closed ones included).
#[utoipa::path(
    tag = "invitations",
    params(PageQuery),
    responses(
        (status = 200, body = Page<InvitationView>),
        (status = 401, body = Problem),
        (status = 403, body = Problem),
        (status = 422, body = Problem)
    ),
    security(("bearer" = []))
)]
#[get("/invitations")]
#[tracing::instrument(skip_all, fields(tenant_id = %principal.tenant_id))]
pub async fn list_invitations(
    state: web::Data<AppState>,
    principal: Principal,
    query: web::Query<PageQuery>,
) -> ApiResult<web::Json<Page<InvitationView>>> {
    let limit = query.limit(state.config.api.max_page_size)?;
    let after: Option<(DateTime<Utc>, Uuid)> = query.after()?;
    let (after_at, after_id) = after.map_or((None, None), |(at, id)| (Some(at), Some(id)));
    let mut client = state.pool.get().await?;
    let tx = begin_tenant_tx(&mut client, principal.tenant_id).await?;
    authorize(&tx, principal.user_id, Permission::ReadInvitations).await?;
    let rows = tx
        .query(
            &format!(
                "SELECT {} FROM invitations WHERE ($1::timestamptz IS NULL OR (created_at, id) < ($1, $2)) \
                 ORDER BY created_at DESC, id DESC LIMIT $3",
                store::COLUMNS
            ),
            &[&after_at, &after_id, &(i64::from(limit) + 1)],
        )
        .await?;
    tx.commit().await?;
    let now = Utc::now();
    let views = rows.iter().map(|row| store::from_row(row).map(|r| InvitationView::at(&r, now))).collect::<ApiResult<Vec<_>>>()?;
    Ok(web::Json(Page::from_rows(views, limit, |v: &InvitationView| (v.created_at, v.id))))
}

/// One invitation of the caller's tenant.
#[utoipa::path(
    tag = "invitations",
    params(("id" = Uuid, Path)),
    responses(
        (status = 200, body = InvitationView),
        (status = 401, body = Problem),
        (status = 403, body = Problem),
        (status = 404, body = Problem)
    ),
    security(("bearer" = []))
)]
#[get("/invitations/{id}")]
#[tracing::instrument(skip_all, fields(tenant_id = %principal.tenant_id, invitation_id = %id))]
pub async fn get_invitation(state: web::Data<AppState>, principal: Principal, id: web::Path<Uuid>) -> ApiResult<web::Json<InvitationView>> {
    let mut client = state.pool.get().await?;
    let tx = begin_tenant_tx(&mut client, principal.tenant_id).await?;
    authorize(&tx, principal.user_id, Permission::ReadInvitations).await?;
    let row = tx.query_opt(&format!("SELECT {} FROM invitations WHERE id = $1", store::COLUMNS), &[&id.into_inner()]).await?;
    tx.commit().await?;
    let invitation = store::from_row(&row.ok_or(ApiError::NotFound)?)?;
    Ok(web::Json(InvitationView::at(&invitation, Utc::now())))
}

/// Revokes a pending invitation: its token stops working at once.
#[utoipa::path(
    tag = "invitations",
    params(("id" = Uuid, Path)),
    responses(
        (status = 200, body = InvitationView),
        (status = 401, body = Problem),
        (status = 403, body = Problem),
        (status = 404, body = Problem),
        (status = 409, description = "Already accepted, declined or revoked", body = Problem),
        (status = 410, description = "Expired (and now recorded as such)", body = Problem)
    ),
    security(("bearer" = []))
)]
#[post("/invitations/{id}/revoke")]
#[tracing::instrument(skip_all, fields(tenant_id = %principal.tenant_id, invitation_id = %id))]
pub async fn revoke_invitation(
    state: web::Data<AppState>,
    principal: Principal,
    request: HttpRequest,
    id: web::Path<Uuid>,
) -> ApiResult<web::Json<InvitationView>> {
    let now = Utc::now();
    let request_id = audit::request_id(&request);
    let mut client = state.pool.get().await?;
    let tx = begin_tenant_tx(&mut client, principal.tenant_id).await?;
    authorize(&tx, principal.user_id, Permission::ManageInvitations).await?;
    let invitation = store::lock_by_id(&tx, id.into_inner()).await?;
    let to = match transition(invitation.state, Action::Revoke, now, invitation.expires_at) {
        Ok(to) => to,
        Err(refusal) => return Err(refuse(&state, tx, &invitation, refusal, now, request_id.as_deref()).await),
    };
    let revoked = store::close(&tx, &invitation, to, now, None).await?;
    store::record_transition(&tx, &revoked, user_actor(principal.user_id), request_id.as_deref()).await?;
    tx.commit().await?;
    state.outbox.notify_one();
    Ok(web::Json(InvitationView::at(&revoked, now)))
}

/// The answer to a refused transition. An overdue invitation is closed as
/// expired and that is committed before answering 410, so the expiry is
/// recorded (audit, event) exactly once, by whoever noticed it first.
pub(super) async fn refuse(
    state: &AppState,
    tx: Transaction<'_>,
    invitation: &InvitationRow,
    refusal: TransitionError,
    now: DateTime<Utc>,
    request_id: Option<&str>,
) -> ApiError {
    match refusal {
        // Expired is final like the others, but "gone" says more than "conflict".
        TransitionError::Closed(InvitationState::Expired) => ApiError::Gone("the invitation has expired".to_owned()),
        TransitionError::Closed(closed) => ApiError::Conflict(format!("the invitation is already {closed}")),
        TransitionError::NotYetExpired => ApiError::Conflict(refusal.to_string()),
        TransitionError::Expired => match commit_expiry(tx, invitation, now, request_id).await {
            Ok(()) => {
                state.outbox.notify_one();
                ApiError::Gone("the invitation has expired".to_owned())
            }
            Err(error) => error,
        },
    }
}

async fn commit_expiry(tx: Transaction<'_>, invitation: &InvitationRow, now: DateTime<Utc>, request_id: Option<&str>) -> ApiResult<()> {
    let expired = store::close(&tx, invitation, InvitationState::Expired, now, None).await?;
    store::record_transition(&tx, &expired, SYSTEM_ACTOR.to_owned(), request_id).await?;
    tx.commit().await?;
    Ok(())
}

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    // The fixed paths first, so `accept`/`decline` are never read as ids.
    cfg.service(redeem::accept_invitation)
        .service(redeem::decline_invitation)
        .service(create_invitation)
        .service(list_invitations)
        .service(get_invitation)
        .service(revoke_invitation);
}
