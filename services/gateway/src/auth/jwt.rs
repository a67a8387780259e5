//! JWT access tokens for people. The server pins the algorithm (HS256), and
//! always checks `exp`, `nbf`, `iss` and `aud`; the `kid` header selects one
//! of the configured keys, so keys rotate without logging everyone out.

use std::collections::HashMap;

use chrono::Utc;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::config::AuthSettings;

/// Claims of an access token. `typ` separates it from any other token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    pub sub: Uuid,
    pub tid: Uuid,
    pub typ: String,
    pub iss: String,
    pub aud: String,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
    pub jti: Uuid,
}

pub const ACCESS_TYPE: &str = "access";

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    #[error("the token is not a valid access token")]
    Invalid,
    #[error("the token names an unknown key")]
    UnknownKey,
}

pub struct JwtKeys {
    active_kid: String,
    encoding: EncodingKey,
    decoding: HashMap<String, DecodingKey>,
    validation: Validation,
    issuer: String,
    audience: String,
    ttl_secs: i64,
}

impl JwtKeys {
    pub fn from_settings(settings: &AuthSettings) -> anyhow::Result<Self> {
        let keys = settings.parsed_keys();
        let active_kid = if settings.jwt_active_kid.is_empty() {
            keys.first().map(|(kid, _)| kid.clone()).ok_or_else(|| anyhow::anyhow!("auth.jwt_keys is empty"))?
        } else {
            settings.jwt_active_kid.clone()
        };
        let active_secret = keys
            .iter()
            .find(|(kid, _)| *kid == active_kid)
            .map(|(_, secret)| secret.clone())
            .ok_or_else(|| anyhow::anyhow!("auth.jwt_active_kid names no configured key"))?;
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[&settings.jwt_issuer]);
        validation.set_audience(&[&settings.jwt_audience]);
        validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
        validation.validate_nbf = true;
        validation.leeway = 5;
        Ok(Self {
            active_kid,
            encoding: EncodingKey::from_secret(active_secret.as_bytes()),
            decoding: keys.iter().map(|(kid, secret)| (kid.clone(), DecodingKey::from_secret(secret.as_bytes()))).collect(),
            validation,
            issuer: settings.jwt_issuer.clone(),
            audience: settings.jwt_audience.clone(),
            ttl_secs: i64::try_from(settings.access_token_ttl_secs).unwrap_or(600),
        })
    }

    /// A signed access token for `user` in `tenant`, and its lifetime in seconds.
    pub fn issue(&self, user: Uuid, tenant: Uuid) -> anyhow::Result<(String, i64)> {
        let now = Utc::now().timestamp();
        let claims = AccessClaims {
            sub: user,
            tid: tenant,
            typ: ACCESS_TYPE.to_owned(),
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            iat: now,
            nbf: now,
            exp: now + self.ttl_secs,
            jti: Uuid::now_v7(),
        };
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(self.active_kid.clone());
        Ok((jsonwebtoken::encode(&header, &claims, &self.encoding)?, self.ttl_secs))
    }

    pub fn verify(&self, token: &str) -> Result<AccessClaims, TokenError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Invalid)?;
        if header.alg != Algorithm::HS256 {
            return Err(TokenError::Invalid);
        }
        let key = header.kid.as_deref().and_then(|kid| self.decoding.get(kid)).ok_or(TokenError::UnknownKey)?;
        let data = jsonwebtoken::decode::<AccessClaims>(token, key, &self.validation).map_err(|_| TokenError::Invalid)?;
        if data.claims.typ != ACCESS_TYPE {
            return Err(TokenError::Invalid);
        }
        Ok(data.claims)
    }
}

#[cfg(test)]
mod tests;
