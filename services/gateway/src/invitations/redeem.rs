//! Accepting and declining, by token, without an access token (the invitee
//! may have no account yet). Each runs in one transaction that first locks
//! the invitation row, so two concurrent accepts serialise: the second sees
//! the first's result and gets 409. Accepting creates the user if needed,
//! adds the membership and closes the invitation — or, on any failure,
//! rolls all of it back.

use actix_web::{HttpRequest, HttpResponse, post, web};
use chrono::Utc;
use serde::{Deserialize, Serialize};
use tokio_postgres::Transaction;
use utoipa::ToSchema;
use uuid::Uuid;

use super::routes::refuse;
use super::state_machine::{Action, transition};
use super::store::{self, INVITEE_ACTOR, InvitationRow};
use super::token::InvitationToken;
use crate::audit::{self, user_actor};
use crate::auth::passwords::{self, PasswordPolicy};
use crate::extract::JsonBody;
use crate::problem::{ApiError, ApiResult, Problem};
use crate::roles::Role;
use crate::state::AppState;

/// Said for a wrong or missing password of an existing account; the same
/// words whatever went wrong, as at login.
const BAD_PASSWORD: &str = "the password does not match the invited account";

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AcceptInvitation {
    /// The `soi_…` token from the invitation.
    pub token: String,
    /// The password of the invited email's existing account, or the one to
    /// create the account with when there is none.
    pub password: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AcceptedInvitation {
    pub tenant_id: Uuid,
    pub user_id: Uuid,
    pub role: Role,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeclineInvitation {
    pub token: String,
}

/// Accepts an invitation: the invited email's account (created when there
/// is none) joins the tenant with the invited role. Sign in afterwards with
/// `POST /v1/auth/login`.
#[utoipa::path(
    tag = "invitations",
    request_body = AcceptInvitation,
    responses(
        (status = 200, body = AcceptedInvitation),
        (status = 401, description = "The account exists and the password does not match", body = Problem),
        (status = 404, description = "No invitation has this token", body = Problem),
        (status = 409, description = "Already accepted, declined or revoked, or already a member", body = Problem),
        (status = 410, description = "Expired", body = Problem),
        (status = 422, description = "A password is needed to create the account, or it breaks the policy", body = Problem),
        (status = 429, description = "Too many password attempts for this email or address (shared with login)", body = Problem)
    )
)]
#[post("/invitations/accept")]
#[tracing::instrument(skip_all, fields(tenant_id = tracing::field::Empty, invitation_id = tracing::field::Empty))]
pub async fn accept_invitation(
    state: web::Data<AppState>,
    request: HttpRequest,
    body: JsonBody<AcceptInvitation>,
) -> ApiResult<web::Json<AcceptedInvitation>> {
    let AcceptInvitation { token, password } = body.0;
    let token = InvitationToken::parse(&token).ok_or(ApiError::NotFound)?;
    let now = Utc::now();
    let request_id = audit::request_id(&request);
    let mut client = state.pool.get().await?;
    let tx = tokio_postgres::Client::transaction(&mut client).await?;
    let invitation = locked(&tx, &token).await?;
    let to = match transition(invitation.state, Action::Accept, now, invitation.expires_at) {
        Ok(to) => to,
        Err(refusal) => return Err(refuse(&state, tx, &invitation, refusal, now, request_id.as_deref()).await),
    };
    let user_id = account_for(&state, &tx, &invitation.email, password, &client_ip(&request)).await?;
    join(&tx, &invitation, user_id).await?;
    let accepted = store::close(&tx, &invitation, to, now, Some(user_id)).await?;
    store::record_transition(&tx, &accepted, user_actor(user_id), request_id.as_deref()).await?;
    tx.commit().await?;
    state.outbox.notify_one();
    Ok(web::Json(AcceptedInvitation { tenant_id: invitation.tenant_id.as_uuid(), user_id, role: invitation.role }))
}

/// Declines an invitation; its token stops working.
#[utoipa::path(
    tag = "invitations",
    request_body = DeclineInvitation,
    responses(
        (status = 204, description = "Declined"),
        (status = 404, description = "No invitation has this token", body = Problem),
        (status = 409, description = "Already accepted, declined or revoked", body = Problem),
        (status = 410, description = "Expired", body = Problem)
    )
)]
#[post("/invitations/decline")]
#[tracing::instrument(skip_all, fields(tenant_id = tracing::field::Empty, invitation_id = tracing::field::Empty))]
pub async fn decline_invitation(
    state: web::Data<AppState>,
    request: HttpRequest,
    body: JsonBody<DeclineInvitation>,
) -> ApiResult<HttpResponse> {
    let token = InvitationToken::parse(&body.0.token).ok_or(ApiError::NotFound)?;
    let now = Utc::now();
    let request_id = audit::request_id(&request);
    let mut client = state.pool.get().await?;
    let tx = tokio_postgres::Client::transaction(&mut client).await?;
    let invitation = locked(&tx, &token).await?;
    let to = match transition(invitation.state, Action::Decline, now, invitation.expires_at) {
        Ok(to) => to,
        Err(refusal) => return Err(refuse(&state, tx, &invitation, refusal, now, request_id.as_deref()).await),
    };
    let declined = store::close(&tx, &invitation, to, now, None).await?;
    store::record_transition(&tx, &declined, INVITEE_ACTOR.to_owned(), request_id.as_deref()).await?;
    tx.commit().await?;
    state.outbox.notify_one();
    Ok(HttpResponse::NoContent().finish())
}

/// The token's invitation, locked, with the span naming it (never the token).
async fn locked(tx: &Transaction<'_>, token: &InvitationToken) -> ApiResult<InvitationRow> {
    let invitation = store::lock_by_token(tx, token).await?;
    let span = tracing::Span::current();
    span.record("tenant_id", tracing::field::display(invitation.tenant_id));
    span.record("invitation_id", tracing::field::display(invitation.id));
    Ok(invitation)
}

/// The client's address for the password-attempt budget (the proxy's, when
/// behind one: the same trade-off as at login).
fn client_ip(request: &HttpRequest) -> String {
    request.peer_addr().map_or_else(|| "unknown".to_owned(), |peer| peer.ip().to_string())
}

/// The id of the account for `email`: an existing one only with its
/// password (401 otherwise), else a new one with a password that passes the
/// policy. Created in the caller's transaction, so a later failure undoes it.
async fn account_for(state: &AppState, tx: &Transaction<'_>, email: &str, password: Option<String>, ip: &str) -> ApiResult<Uuid> {
    let existing = tx.query_opt("SELECT id, password_hash FROM users WHERE email = $1", &[&email]).await?;
    match existing {
        Some(row) => {
            // Checking an account's password here must cost the same budget
            // as at login, or a leaked invitation token would be an
            // unlimited password oracle for the invited address.
            state.login_limiter.check(email, ip)?;
            let hash: Option<String> = row.try_get(1)?;
            verify_existing(state, password, hash).await?;
            Ok(row.try_get(0)?)
        }
        None => create_account(state, tx, email, password).await,
    }
}

async fn verify_existing(state: &AppState, password: Option<String>, hash: Option<String>) -> ApiResult<()> {
    let cost = state.config.auth.bcrypt_cost;
    // Without a stored hash, verify against a decoy: same cost, same answer.
    let hash = match hash {
        Some(hash) => hash,
        None => passwords::decoy_hash(cost).await?,
    };
    let matches = match password {
        Some(password) => passwords::verify(password, hash).await?,
        None => false,
    };
    if matches { Ok(()) } else { Err(ApiError::Unauthorized(BAD_PASSWORD)) }
}

async fn create_account(state: &AppState, tx: &Transaction<'_>, email: &str, password: Option<String>) -> ApiResult<Uuid> {
    let password = password.ok_or_else(|| ApiError::field("password", "is required to create your account"))?;
    PasswordPolicy { min_length: state.config.auth.password_min_length }.check("password", &password, email)?;
    let hash = passwords::hash(password, state.config.auth.bcrypt_cost).await?;
    let user_id = Uuid::now_v7();
    tx.execute("INSERT INTO users (id, email, password_hash) VALUES ($1, $2, $3)", &[&user_id, &email, &hash]).await?;
    Ok(user_id)
}

/// Adds the membership with the invited role; 409 when the person already
/// belongs to the tenant (say, through another route since being invited).
async fn join(tx: &Transaction<'_>, invitation: &InvitationRow, user_id: Uuid) -> ApiResult<()> {
    let added = tx
        .execute(
            "INSERT INTO memberships (tenant_id, user_id, role) VALUES ($1, $2, $3) ON CONFLICT (tenant_id, user_id) DO NOTHING",
            &[&invitation.tenant_id.as_uuid(), &user_id, &invitation.role.as_str()],
        )
        .await?;
    if added == 1 { Ok(()) } else { Err(ApiError::Conflict("you are already a member of this tenant".to_owned())) }
}
