//! Opaque refresh tokens in rotating families (ADR 0007).
//!
//! A token is `sor_` + 32 random bytes (base64url, no padding). Only its
//! SHA-256 is stored: a database leak yields no usable token, and a plain
//! digest suffices because the token has 256 bits of entropy (no pepper or
//! slow hash needed, unlike passwords).
//!
//! Every use rotates the token: the presented one is marked used and a new
//! one is issued in the same family. Presenting a used or revoked token means
//! two parties hold the family (a thief and its owner), so the whole family
//! is revoked and both must sign in again. The presented row is locked
//! (`FOR UPDATE`) before it is judged, so two refreshes racing with one token
//! are serialised: the second sees it used and revokes the family.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, Utc};
use sha2::{Digest, Sha256};
use signalops_platform::TenantId;
use signalops_platform::postgres::set_tenant;
use tokio_postgres::{Client, Transaction};
use uuid::Uuid;

use crate::problem::ApiError;

pub const PREFIX: &str = "sor_";
const RANDOM_BYTES: usize = 32;
/// `sor_` + base64url of 32 bytes without padding (43 characters).
const TOKEN_LENGTH: usize = PREFIX.len() + 43;

/// A refresh token in the clear: only ever handed to the client.
#[derive(Clone, PartialEq, Eq)]
pub struct RefreshToken(String);

impl RefreshToken {
    pub fn generate() -> Self {
        let bytes: [u8; RANDOM_BYTES] = rand::random();
        Self(format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes)))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

/// Never prints the secret, so a stray `{:?}` cannot leak it into logs.
impl fmt::Debug for RefreshToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RefreshToken(sor_…)")
    }
}

/// What is stored and looked up: SHA-256 of the whole token text.
pub fn digest(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// Refuses strings that cannot be one of our tokens without a database hit.
fn well_formed(token: &str) -> bool {
    token.len() == TOKEN_LENGTH
        && token.strip_prefix(PREFIX).is_some_and(|rest| rest.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
}

#[derive(Debug, thiserror::Error)]
pub enum RefreshError {
    /// Unknown, malformed or expired; or its owner left the tenant.
    #[error("the refresh token is invalid or expired")]
    Invalid,
    /// Presented after it was used or revoked: its family is now revoked.
    #[error("the refresh token was already used; its family is revoked")]
    Reused { family_id: Uuid, tenant_id: TenantId },
    #[error(transparent)]
    Database(#[from] tokio_postgres::Error),
}

impl From<RefreshError> for ApiError {
    fn from(error: RefreshError) -> Self {
        match error {
            // One message for both, so the response tells an attacker nothing
            // about which tokens exist.
            RefreshError::Invalid | RefreshError::Reused { .. } => ApiError::Unauthorized("the refresh token is invalid or expired"),
            RefreshError::Database(error) => error.into(),
        }
    }
}

/// Inserts a new token for `user` in `tenant`, in `family` or a new family.
/// `tx` must already be scoped to `tenant` (RLS checks the insert).
pub async fn issue(
    tx: &Transaction<'_>,
    tenant: TenantId,
    user: Uuid,
    family: Option<Uuid>,
    ttl_days: u32,
) -> Result<RefreshToken, tokio_postgres::Error> {
    let token = RefreshToken::generate();
    let expires_at: DateTime<Utc> = Utc::now() + Duration::days(i64::from(ttl_days));
    tx.execute(
        "INSERT INTO refresh_tokens (id, family_id, tenant_id, user_id, token_hash, expires_at) VALUES ($1, $2, $3, $4, $5, $6)",
        &[&Uuid::now_v7(), &family.unwrap_or_else(Uuid::now_v7), &tenant.as_uuid(), &user, &digest(token.expose()), &expires_at],
    )
    .await?;
    Ok(token)
}

/// The outcome of a successful rotation.
#[derive(Debug)]
pub struct Rotated {
    pub user_id: Uuid,
    pub tenant_id: TenantId,
    pub family_id: Uuid,
    pub token: RefreshToken,
}

/// The presented token's row, locked for the rest of the transaction.
struct Presented {
    id: Uuid,
    family_id: Uuid,
    user_id: Uuid,
    spent: bool,
    expired: bool,
}

/// Exchanges `token` for a new one in the same family (see the module doc).
/// Owns its transaction because a reuse must *commit* the family's
/// revocation and still fail.
#[tracing::instrument(skip_all, fields(tenant_id = tracing::field::Empty, family_id = tracing::field::Empty), err(level = "debug"))]
pub async fn rotate(client: &mut Client, token: &str, ttl_days: u32) -> Result<Rotated, RefreshError> {
    if !well_formed(token) {
        return Err(RefreshError::Invalid);
    }
    let hash = digest(token);
    let tx = client.transaction().await?;
    let tenant = find_tenant(&tx, &hash).await?.ok_or(RefreshError::Invalid)?;
    set_tenant(&tx, tenant).await?;
    let presented = lock_presented(&tx, &hash).await?.ok_or(RefreshError::Invalid)?;
    let span = tracing::Span::current();
    span.record("tenant_id", tracing::field::display(tenant));
    span.record("family_id", tracing::field::display(presented.family_id));
    if presented.spent {
        revoke_family(&tx, presented.family_id).await?;
        tx.commit().await?;
        tracing::warn!(tenant_id = %tenant, family_id = %presented.family_id, "refresh token reused; family revoked");
        return Err(RefreshError::Reused { family_id: presented.family_id, tenant_id: tenant });
    }
    if presented.expired {
        return Err(RefreshError::Invalid);
    }
    // A removed member's session ends here rather than living on in
    // refreshed access tokens (which would fail every request anyway).
    if !is_member(&tx, presented.user_id).await? {
        revoke_family(&tx, presented.family_id).await?;
        tx.commit().await?;
        return Err(RefreshError::Invalid);
    }
    tx.execute("UPDATE refresh_tokens SET used_at = now() WHERE id = $1", &[&presented.id]).await?;
    let next = issue(&tx, tenant, presented.user_id, Some(presented.family_id), ttl_days).await?;
    tx.commit().await?;
    Ok(Rotated { user_id: presented.user_id, tenant_id: tenant, family_id: presented.family_id, token: next })
}

/// Revokes the family of `token` (sign-out). Unknown tokens are not an
/// error: sign-out must not reveal which tokens exist. Returns the tenant
/// and family when one was revoked, for the log.
#[tracing::instrument(skip_all, err(level = "debug"))]
pub async fn revoke_family_of(client: &mut Client, token: &str) -> Result<Option<(TenantId, Uuid)>, tokio_postgres::Error> {
    if !well_formed(token) {
        return Ok(None);
    }
    let hash = digest(token);
    let tx = client.transaction().await?;
    let Some(tenant) = find_tenant(&tx, &hash).await? else {
        return Ok(None);
    };
    set_tenant(&tx, tenant).await?;
    let family: Option<Uuid> = tx
        .query_opt("SELECT family_id FROM refresh_tokens WHERE token_hash = $1", &[&hash])
        .await?
        .map(|row| row.try_get(0))
        .transpose()?;
    if let Some(family) = family {
        revoke_family(&tx, family).await?;
    }
    tx.commit().await?;
    Ok(family.map(|f| (tenant, f)))
}

/// The tenant of the token with this hash, read through the `lookup_by_hash`
/// policy: the one row the caller can name, before any tenant is set.
async fn find_tenant(tx: &Transaction<'_>, hash: &[u8]) -> Result<Option<TenantId>, tokio_postgres::Error> {
    tx.execute("SELECT set_config('app.token_hash', encode($1::bytea, 'hex'), true)", &[&hash]).await?;
    let row = tx.query_opt("SELECT tenant_id FROM refresh_tokens WHERE token_hash = $1", &[&hash]).await?;
    row.map(|r| r.try_get(0).map(TenantId::from_uuid)).transpose()
}

/// Locks the presented row. `FOR UPDATE` needs the tenant policy (the lookup
/// policy only grants SELECT), hence the tenant is set first.
async fn lock_presented(tx: &Transaction<'_>, hash: &[u8]) -> Result<Option<Presented>, tokio_postgres::Error> {
    let row = tx
        .query_opt(
            "SELECT id, family_id, user_id, used_at IS NOT NULL OR revoked_at IS NOT NULL, expires_at <= now() \
             FROM refresh_tokens WHERE token_hash = $1 FOR UPDATE",
            &[&hash],
        )
        .await?;
    row.map(|r| {
        Ok(Presented { id: r.try_get(0)?, family_id: r.try_get(1)?, user_id: r.try_get(2)?, spent: r.try_get(3)?, expired: r.try_get(4)? })
    })
    .transpose()
}

async fn revoke_family(tx: &Transaction<'_>, family: Uuid) -> Result<(), tokio_postgres::Error> {
    tx.execute("UPDATE refresh_tokens SET revoked_at = coalesce(revoked_at, now()) WHERE family_id = $1", &[&family]).await?;
    Ok(())
}

async fn is_member(tx: &Transaction<'_>, user: Uuid) -> Result<bool, tokio_postgres::Error> {
    Ok(tx.query_opt("SELECT 1 FROM memberships WHERE user_id = $1", &[&user]).await?.is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_have_the_prefix_and_256_random_bits() {
        let token = RefreshToken::generate();
        assert!(token.expose().starts_with("sor_"));
        assert_eq!(token.expose().len(), TOKEN_LENGTH);
        let decoded = URL_SAFE_NO_PAD.decode(&token.expose()[PREFIX.len()..]).expect("base64url");
        assert_eq!(decoded.len(), 32);
        assert!(well_formed(token.expose()));
        assert_ne!(token, RefreshToken::generate());
    }

    #[test]
    fn debug_output_hides_the_secret() {
        let token = RefreshToken::generate();
        assert!(!format!("{token:?}").contains(&token.expose()[PREFIX.len()..]));
    }

    #[test]
    fn the_digest_is_sha256_of_the_text() {
        assert_eq!(digest("sor_x").len(), 32);
        assert_eq!(digest("sor_x"), digest("sor_x"));
        assert_ne!(digest("sor_x"), digest("sor_y"));
    }

    #[test]
    fn malformed_tokens_are_refused_before_the_database() {
        let good = RefreshToken::generate().into_string();
        let wrong_prefix = format!("xyz_{}", &good[PREFIX.len()..]);
        let truncated = &good[..good.len() - 1];
        let padded = format!("{good}=");
        let bad_char = format!("{}+", &good[..good.len() - 1]);
        for bad in ["", "sor_", wrong_prefix.as_str(), truncated, padded.as_str(), bad_char.as_str(), "eyJhbGciOiJIUzI1NiJ9.e30.x"] {
            assert!(!well_formed(bad), "{bad:?}");
        }
    }
}
