//! Sign-up, sign-in, token refresh and sign-out (`/v1/auth/*`).
//!
//! Every successful call answers with the same token pair: a short JWT
//! access token and an opaque, rotating refresh token (ADR 0007). Failed
//! sign-ins look the same whether or not the email exists: same status, same
//! body, and one bcrypt verification either way.

use actix_web::{HttpRequest, HttpResponse, post, web};
use serde::{Deserialize, Serialize};
use serde_json::json;
use signalops_platform::TenantId;
use signalops_platform::postgres::{begin_tenant_tx, set_tenant};
use tokio_postgres::Transaction;
use tracing::field::{Empty, display};
use utoipa::ToSchema;
use uuid::Uuid;

use super::jwt::JwtKeys;
use super::passwords::{self, PasswordPolicy};
use super::refresh_tokens::{self, RefreshToken};
use crate::audit::{self, AuditEntry, user_actor};
use crate::extract::JsonBody;
use crate::problem::{ApiError, ApiResult, FieldError, Problem};
use crate::roles::Role;
use crate::state::AppState;
use crate::system_events;
use signalops_platform::email::Email;

/// The one answer to every failed sign-in, whatever went wrong.
const INVALID_CREDENTIALS: &str = "invalid email or password";
const TENANT_NAME_MAX: usize = 200;

// Request bodies hold passwords and tokens, so they derive no `Debug`:
// nothing can print them by accident.

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignupRequest {
    #[schema(example = "alice@example.com")]
    pub email: String,
    /// At least `auth.password_min_length` characters (default 10), not one
    /// of the most common passwords, not containing the email's name.
    #[schema(example = "violet-harbour-lantern-42", format = Password)]
    pub password: String,
    /// Name of the new tenant, 1–200 characters.
    #[schema(example = "Acme")]
    pub tenant_name: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    #[schema(example = "alice@example.com")]
    pub email: String,
    #[schema(format = Password)]
    pub password: String,
    /// The tenant to act in; required when you belong to several.
    pub tenant_id: Option<Uuid>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    /// A refresh token (`sor_…`) from sign-up, sign-in or a previous refresh.
    pub refresh_token: String,
}

/// The token pair every auth endpoint answers with.
#[derive(Serialize, ToSchema)]
pub struct TokenResponse {
    pub user_id: Uuid,
    /// The tenant the access token acts in.
    pub tenant_id: Uuid,
    /// A JWT for `Authorization: Bearer …`.
    pub access_token: String,
    /// Opaque, single-use: exchange it at `/v1/auth/refresh` for a new pair.
    pub refresh_token: String,
    #[schema(example = "Bearer")]
    pub token_type: String,
    /// Seconds until the access token expires.
    #[schema(example = 600)]
    pub expires_in: i64,
}

fn token_response(jwt: &JwtKeys, user: Uuid, tenant: TenantId, refresh_token: RefreshToken) -> anyhow::Result<TokenResponse> {
    let (access_token, expires_in) = jwt.issue(user, tenant.as_uuid())?;
    Ok(TokenResponse {
        user_id: user,
        tenant_id: tenant.as_uuid(),
        access_token,
        refresh_token: refresh_token.into_string(),
        token_type: "Bearer".to_owned(),
        expires_in,
    })
}

fn invalid_credentials() -> ApiError {
    ApiError::Unauthorized(INVALID_CREDENTIALS)
}

/// A sign-up that passed validation.
struct NewAccount {
    email: Email,
    password: String,
    tenant_name: String,
}

impl SignupRequest {
    /// Every offending field at once, so a form can show them all.
    fn validate(self, policy: &PasswordPolicy) -> Result<NewAccount, ApiError> {
        let mut errors = Vec::new();
        let email = Email::parse(&self.email).map_err(|e| errors.push(FieldError::new("email", e.to_string()))).ok();
        let email_text = email.as_ref().map_or(self.email.as_str(), Email::as_str);
        match policy.check("password", &self.password, email_text) {
            Ok(()) => {}
            Err(ApiError::Validation(found)) => errors.extend(found),
            Err(other) => return Err(other),
        }
        let tenant_name = self.tenant_name.trim().to_owned();
        errors.extend(tenant_name_problem(&tenant_name).map(|m| FieldError::new("tenant_name", m)));
        match email {
            Some(email) if errors.is_empty() => Ok(NewAccount { email, password: self.password, tenant_name }),
            _ => Err(ApiError::Validation(errors)),
        }
    }
}

fn tenant_name_problem(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        Some("must not be empty")
    } else if name.chars().count() > TENANT_NAME_MAX {
        Some("must be at most 200 characters")
    } else if name.chars().any(char::is_control) {
        Some("must not contain control characters")
    } else {
        None
    }
}

/// Creates a tenant and its owner, and signs the owner in.
#[utoipa::path(
    tag = "auth",
    request_body = SignupRequest,
    responses(
        (status = 201, description = "Account and tenant created; signed in", body = TokenResponse),
        (status = 409, description = "An account with this email exists", body = Problem),
        (status = 422, description = "Invalid email, password or tenant name", body = Problem),
        (status = 429, description = "Too many sign-ups or sign-in attempts from this address; see Retry-After", body = Problem),
    )
)]
#[post("/auth/signup")]
#[tracing::instrument(skip_all, fields(user_id = Empty, tenant_id = Empty))]
pub async fn signup(
    state: web::Data<AppState>,
    jwt: web::Data<JwtKeys>,
    request: HttpRequest,
    body: JsonBody<SignupRequest>,
) -> ApiResult<HttpResponse> {
    let settings = &state.config.auth;
    let ip = request.peer_addr().map_or_else(|| "unknown".to_owned(), |peer| peer.ip().to_string());
    state.login_limiter.check_ip(&ip)?;
    let account = body.0.validate(&PasswordPolicy { min_length: settings.password_min_length })?;
    // Hashed before the transaction opens: bcrypt is slow on purpose and
    // must not hold a connection or locks while it runs.
    let password_hash = passwords::hash(account.password.clone(), settings.bcrypt_cost).await?;
    let (user, tenant) = (Uuid::now_v7(), TenantId::new());
    let span = tracing::Span::current();
    span.record("user_id", display(user));
    span.record("tenant_id", display(tenant));

    let mut client = state.pool.get().await?;
    let tx = begin_tenant_tx(&mut client, tenant).await?;
    create_account(&tx, &account, &password_hash, user, tenant, audit::request_id(&request).as_deref()).await?;
    // Staged in the same transaction (ADR 0009): the welcome flow hangs off
    // this event, so a committed sign-up must never miss it.
    let data = json!({"user_id": user, "email": account.email.as_str(), "tenant_id": tenant});
    system_events::stage(&tx, tenant, "signalops.user.signed_up", &format!("user/{user}"), data).await?;
    let refresh_token = refresh_tokens::issue(&tx, tenant, user, None, settings.refresh_token_ttl_days).await?;
    // Signed before the commit, so a signing failure leaves no account behind.
    let response = token_response(&jwt, user, tenant, refresh_token)?;
    tx.commit().await?;
    state.outbox.notify_one();
    Ok(HttpResponse::Created().json(response))
}

/// The user, the tenant, the owner membership and their audit entries.
async fn create_account(
    tx: &Transaction<'_>,
    account: &NewAccount,
    password_hash: &str,
    user: Uuid,
    tenant: TenantId,
    request_id: Option<&str>,
) -> ApiResult<()> {
    // ON CONFLICT rather than catching 23505: a concurrent sign-up with the
    // same email waits for the other to commit, then lands here as well.
    let inserted = tx
        .execute(
            "INSERT INTO users (id, email, password_hash) VALUES ($1, $2, $3) ON CONFLICT (email) DO NOTHING",
            &[&user, &account.email.as_str(), &password_hash],
        )
        .await?;
    if inserted == 0 {
        return Err(ApiError::Conflict("an account with this email already exists; sign in instead".to_owned()));
    }
    tx.execute("INSERT INTO tenants (id, name) VALUES ($1, $2)", &[&tenant.as_uuid(), &account.tenant_name]).await?;
    tx.execute(
        "INSERT INTO memberships (tenant_id, user_id, role) VALUES ($1, $2, $3)",
        &[&tenant.as_uuid(), &user, &Role::Owner.as_str()],
    )
    .await?;
    let entries = [
        AuditEntry {
            actor: user_actor(user),
            action: "tenant.created",
            target: format!("tenant/{tenant}"),
            details: json!({"name": account.tenant_name}),
        },
        AuditEntry {
            actor: user_actor(user),
            action: "member.added",
            target: format!("user/{user}"),
            details: json!({"role": Role::Owner}),
        },
    ];
    for entry in entries {
        audit::record(tx, tenant.as_uuid(), request_id, entry).await?;
    }
    Ok(())
}

/// Signs a person in to one of their tenants.
#[utoipa::path(
    tag = "auth",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Signed in", body = TokenResponse),
        (status = 401, description = "Invalid email or password (or a tenant you do not belong to)", body = Problem),
        (status = 403, description = "You belong to no tenant", body = Problem),
        (status = 422, description = "Malformed email, or `tenant_id` missing while you belong to several tenants", body = Problem),
        (status = 429, description = "Too many attempts for this email or address; see Retry-After", body = Problem),
    )
)]
#[post("/auth/login")]
#[tracing::instrument(skip_all, fields(user_id = Empty, tenant_id = Empty))]
pub async fn login(
    state: web::Data<AppState>,
    jwt: web::Data<JwtKeys>,
    request: HttpRequest,
    body: JsonBody<LoginRequest>,
) -> ApiResult<web::Json<TokenResponse>> {
    let body = body.0;
    // The TCP peer, never X-Forwarded-For: any client can write that header,
    // and trusting it would let one client spread its guesses over invented
    // addresses. Behind a proxy all clients share the proxy's budget.
    let ip = request.peer_addr().map_or_else(|| "unknown".to_owned(), |peer| peer.ip().to_string());
    // Before anything else, so refused attempts cost no bcrypt and no query.
    state.login_limiter.check(&body.email.trim().to_lowercase(), &ip)?;
    let email = Email::parse(&body.email).map_err(|e| ApiError::field("email", e.to_string()))?;
    let user = authenticate(&state, &email, body.password).await?;
    tracing::Span::current().record("user_id", display(user));

    let mut client = state.pool.get().await?;
    let tx = client.transaction().await?;
    let tenant = choose_tenant(&tx, user, body.tenant_id).await?;
    tracing::Span::current().record("tenant_id", display(tenant));
    set_tenant(&tx, tenant).await?;
    let refresh_token = refresh_tokens::issue(&tx, tenant, user, None, state.config.auth.refresh_token_ttl_days).await?;
    let response = token_response(&jwt, user, tenant, refresh_token)?;
    tx.commit().await?;
    Ok(web::Json(response))
}

/// The user whose password this is. Costs one bcrypt verification whether
/// or not the email exists, so response times do not tell them apart.
async fn authenticate(state: &AppState, email: &Email, password: String) -> ApiResult<Uuid> {
    // The connection goes back to the pool before the slow bcrypt check.
    let row = {
        let client = state.pool.get().await?;
        client.query_opt("SELECT id, password_hash FROM users WHERE email = $1", &[&email.as_str()]).await?
    };
    // A person without a password (none set yet) cannot sign in with one.
    let account: Option<(Uuid, String)> = match row {
        Some(r) => r.try_get::<_, Option<String>>(1)?.map(|hash| r.try_get(0).map(|id| (id, hash))).transpose()?,
        None => None,
    };
    match account {
        Some((user, hash)) => {
            if passwords::verify(password, hash).await? {
                Ok(user)
            } else {
                Err(invalid_credentials())
            }
        }
        None => {
            // The result is irrelevant (even a match must fail); the time is the point.
            let _ = passwords::verify(password, passwords::decoy_hash(state.config.auth.bcrypt_cost).await?).await?;
            Err(invalid_credentials())
        }
    }
}

/// The tenant to sign in to, among the person's memberships (read across
/// tenants through the `own_memberships` policy, keyed on `app.user_id`).
async fn choose_tenant(tx: &Transaction<'_>, user: Uuid, requested: Option<Uuid>) -> ApiResult<TenantId> {
    tx.execute("SELECT set_config('app.user_id', $1, true)", &[&user.to_string()]).await?;
    let tenants: Vec<Uuid> = tx
        .query("SELECT tenant_id FROM memberships WHERE user_id = $1 ORDER BY created_at, tenant_id", &[&user])
        .await?
        .iter()
        .map(|row| row.try_get(0))
        .collect::<Result<_, _>>()?;
    match (requested, tenants.as_slice()) {
        (Some(wanted), _) if tenants.contains(&wanted) => Ok(TenantId::from_uuid(wanted)),
        // The same answer as a wrong password: which tenants exist, and who
        // belongs to them, is not for a caller to probe.
        (Some(_), _) => Err(invalid_credentials()),
        (None, [only]) => Ok(TenantId::from_uuid(*only)),
        (None, []) => Err(ApiError::Forbidden("you are not a member of any tenant".to_owned())),
        (None, _) => Err(ApiError::field("tenant_id", "required: you belong to several tenants")),
    }
}

/// Exchanges a refresh token for a new token pair. Each refresh token works
/// once; presenting a used one revokes every token of its sign-in.
#[utoipa::path(
    tag = "auth",
    request_body = RefreshRequest,
    responses(
        (status = 200, description = "A new token pair; the presented refresh token is now used", body = TokenResponse),
        (status = 401, description = "Unknown, expired, used or revoked refresh token", body = Problem),
    )
)]
#[post("/auth/refresh")]
#[tracing::instrument(skip_all, fields(user_id = Empty, tenant_id = Empty))]
pub async fn refresh(
    state: web::Data<AppState>,
    jwt: web::Data<JwtKeys>,
    body: JsonBody<RefreshRequest>,
) -> ApiResult<web::Json<TokenResponse>> {
    let mut client = state.pool.get().await?;
    let rotated = refresh_tokens::rotate(&mut client, &body.0.refresh_token, state.config.auth.refresh_token_ttl_days).await?;
    let span = tracing::Span::current();
    span.record("user_id", display(rotated.user_id));
    span.record("tenant_id", display(rotated.tenant_id));
    Ok(web::Json(token_response(&jwt, rotated.user_id, rotated.tenant_id, rotated.token)?))
}

/// Signs out: revokes the refresh token and every token rotated from the
/// same sign-in. Access tokens already issued expire on their own (≤ 15 min).
#[utoipa::path(
    tag = "auth",
    request_body = RefreshRequest,
    responses((status = 204, description = "Signed out (also for unknown tokens)"))
)]
#[post("/auth/logout")]
#[tracing::instrument(skip_all, fields(tenant_id = Empty))]
pub async fn logout(state: web::Data<AppState>, body: JsonBody<RefreshRequest>) -> ApiResult<HttpResponse> {
    let mut client = state.pool.get().await?;
    // Unknown tokens get the same 204: sign-out is no oracle for tokens.
    if let Some((tenant, family)) = refresh_tokens::revoke_family_of(&mut client, &body.0.refresh_token).await? {
        tracing::Span::current().record("tenant_id", display(tenant));
        tracing::debug!(%family, "refresh token family revoked at sign-out");
    }
    Ok(HttpResponse::NoContent().finish())
}

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(signup).service(login).service(refresh).service(logout);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> PasswordPolicy {
        PasswordPolicy { min_length: 10 }
    }

    fn signup(email: &str, password: &str, tenant_name: &str) -> SignupRequest {
        SignupRequest { email: email.to_owned(), password: password.to_owned(), tenant_name: tenant_name.to_owned() }
    }

    fn fields(error: ApiError) -> Vec<String> {
        match error {
            ApiError::Validation(errors) => errors.into_iter().map(|e| e.field).collect(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_valid_signup_is_normalised() {
        let account = signup(" Alice@Example.com ", "violet-harbour-lantern-42", "  Acme  ").validate(&policy()).expect("valid");
        assert_eq!(account.email.as_str(), "alice@example.com");
        assert_eq!(account.tenant_name, "Acme");
    }

    #[test]
    fn every_invalid_field_is_reported_at_once() {
        let error = signup("not-an-email", "short", "   ").validate(&policy()).err().expect("invalid");
        let fields = fields(error);
        for field in ["email", "password", "tenant_name"] {
            assert!(fields.iter().any(|f| f == field), "{field} missing in {fields:?}");
        }
    }

    #[test]
    fn tenant_names_are_bounded() {
        assert_eq!(tenant_name_problem(""), Some("must not be empty"));
        assert_eq!(tenant_name_problem(&"x".repeat(200)), None);
        assert!(tenant_name_problem(&"x".repeat(201)).is_some());
        assert!(tenant_name_problem("a\u{7}b").is_some());
        assert_eq!(tenant_name_problem("Café Ünïcode 東京"), None);
    }

    #[test]
    fn the_cost_is_read_from_a_bcrypt_hash() {
        assert_eq!(passwords::bcrypt_cost_of("$2b$04$abcdefghijklmnopqrstuv"), Some(4));
        assert_eq!(passwords::bcrypt_cost_of("$2b$12$abc"), Some(12));
        assert_eq!(passwords::bcrypt_cost_of(""), None);
    }

    #[tokio::test]
    async fn the_decoy_hash_has_the_requested_cost() {
        assert_eq!(passwords::bcrypt_cost_of(&passwords::decoy_hash(4).await.expect("decoy")), Some(4));
        assert_eq!(passwords::bcrypt_cost_of(&passwords::decoy_hash(5).await.expect("decoy")), Some(5));
    }
}
