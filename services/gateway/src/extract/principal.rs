//! Who is calling: a person with a JWT access token.

use std::future::{Ready, ready};

use actix_web::{FromRequest, HttpRequest, web};
use signalops_platform::TenantId;
use uuid::Uuid;

use crate::auth::jwt::JwtKeys;
use crate::problem::ApiError;

/// A verified access token: the person and the tenant they act in. Their
/// role is read from the database per request (see `roles::authorize`), so
/// removing a member takes effect at once, not when the token expires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Principal {
    pub user_id: Uuid,
    pub tenant_id: TenantId,
}

/// The raw bearer credential, for endpoints that accept several kinds.
#[derive(Debug, Clone)]
pub struct BearerToken(pub String);

pub fn bearer(request: &HttpRequest) -> Option<&str> {
    let value = request.headers().get(actix_web::http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then_some(token.trim()).filter(|t| !t.is_empty())
}

impl FromRequest for BearerToken {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(request: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        ready(bearer(request).map(|t| Self(t.to_owned())).ok_or(ApiError::Unauthorized("send Authorization: Bearer <token>")))
    }
}

impl FromRequest for Principal {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(request: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let result = (|| {
            let token = bearer(request).ok_or(ApiError::Unauthorized("send Authorization: Bearer <access token>"))?;
            let keys =
                request.app_data::<web::Data<JwtKeys>>().ok_or_else(|| ApiError::Internal(anyhow::anyhow!("JwtKeys not registered")))?;
            let claims = keys.verify(token).map_err(|_| ApiError::Unauthorized("the access token is invalid or expired"))?;
            tracing::Span::current().record("tenant_id", tracing::field::display(claims.tid));
            Ok(Self { user_id: claims.sub, tenant_id: TenantId::from_uuid(claims.tid) })
        })();
        ready(result)
    }
}
