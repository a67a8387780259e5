//! Every error leaves the gateway as RFC 9457 problem+json with a stable
//! `type`. Mapping lives here only; 5xx bodies say nothing internal and the
//! cause goes to the log.

use std::fmt;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use utoipa::ToSchema;

/// Base of every problem `type` URI; the suffix is the stable slug.
pub const PROBLEM_BASE: &str = "https://signalops.dev/problems/";

/// One offending field of a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct FieldError {
    /// JSON pointer-like path of the field, e.g. `email` or `members[2].role`.
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self { field: field.into(), message: message.into() }
    }
}

/// The problem document (RFC 9457).
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    #[serde(rename = "type")]
    pub problem_type: String,
    pub title: &'static str,
    pub status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("malformed request: {0}")]
    Malformed(String),
    #[error("validation failed")]
    Validation(Vec<FieldError>),
    #[error("unsupported media type: {0}")]
    UnsupportedMediaType(String),
    #[error("payload too large (limit {limit} bytes)")]
    PayloadTooLarge { limit: usize },
    #[error("unauthorized: {0}")]
    Unauthorized(&'static str),
    #[error("forbidden: {0}")]
    Forbidden(String),
    #[error("not found")]
    NotFound,
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("idempotency conflict: {0}")]
    IdempotencyConflict(String),
    #[error("gone: {0}")]
    Gone(String),
    #[error("rate limited")]
    RateLimited { retry_after_secs: u64 },
    /// A live-tail limit; `detail` says which one.
    #[error("too many streams: {detail}")]
    TooManyStreams { detail: String, retry_after_secs: u64 },
    #[error("service unavailable: {0}")]
    Unavailable(String),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl ApiError {
    pub fn field(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Validation(vec![FieldError::new(field, message)])
    }

    fn slug_and_title(&self) -> (&'static str, &'static str) {
        match self {
            Self::Malformed(_) => ("malformed-request", "Malformed request"),
            Self::Validation(_) => ("validation-failed", "Validation failed"),
            Self::UnsupportedMediaType(_) => ("unsupported-media-type", "Unsupported media type"),
            Self::PayloadTooLarge { .. } => ("payload-too-large", "Payload too large"),
            Self::Unauthorized(_) => ("unauthorized", "Authentication required"),
            Self::Forbidden(_) => ("forbidden", "Forbidden"),
            Self::NotFound => ("not-found", "Not found"),
            Self::Conflict(_) => ("conflict", "Conflict"),
            Self::IdempotencyConflict(_) => ("idempotency-conflict", "Idempotency key reused with different content"),
            Self::Gone(_) => ("gone", "Gone"),
            Self::RateLimited { .. } => ("rate-limited", "Too many requests"),
            Self::TooManyStreams { .. } => ("too-many-streams", "Too many open streams"),
            Self::Unavailable(_) => ("unavailable", "Service unavailable"),
            Self::Internal(_) => ("internal", "Internal error"),
        }
    }

    pub fn problem(&self) -> Problem {
        let (slug, title) = self.slug_and_title();
        let detail = match self {
            Self::Malformed(d)
            | Self::UnsupportedMediaType(d)
            | Self::Forbidden(d)
            | Self::Conflict(d)
            | Self::IdempotencyConflict(d)
            | Self::Gone(d) => Some(d.clone()),
            Self::Unauthorized(d) => Some((*d).to_owned()),
            Self::PayloadTooLarge { limit } => Some(format!("the body exceeds {limit} bytes")),
            Self::RateLimited { retry_after_secs } => Some(format!("retry after {retry_after_secs} s")),
            Self::TooManyStreams { detail, .. } => Some(detail.clone()),
            Self::Validation(_) => Some("one or more fields are invalid".to_owned()),
            Self::NotFound => None,
            // Never describe internal failures to clients.
            Self::Unavailable(_) => Some("a dependency is unavailable; retry later".to_owned()),
            Self::Internal(_) => None,
        };
        let errors = match self {
            Self::Validation(errors) => errors.clone(),
            _ => Vec::new(),
        };
        Problem { problem_type: format!("{PROBLEM_BASE}{slug}"), title, status: self.status_code().as_u16(), detail, errors }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::Malformed(_) => StatusCode::BAD_REQUEST,
            Self::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::Conflict(_) | Self::IdempotencyConflict(_) => StatusCode::CONFLICT,
            Self::Gone(_) => StatusCode::GONE,
            Self::RateLimited { .. } | Self::TooManyStreams { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            Self::Internal(error) => tracing::error!(error = %format!("{error:#}"), "request failed"),
            Self::Unavailable(cause) => tracing::warn!(cause, "dependency unavailable"),
            _ => {}
        }
        let mut response = HttpResponse::build(self.status_code());
        response.insert_header((header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json")));
        match self {
            Self::RateLimited { retry_after_secs } | Self::TooManyStreams { retry_after_secs, .. } => {
                response.insert_header((header::RETRY_AFTER, retry_after_secs.to_string()));
            }
            Self::Unauthorized(_) => {
                response.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
            }
            Self::Unavailable(_) => {
                response.insert_header((header::RETRY_AFTER, "5"));
            }
            _ => {}
        }
        response.body(serde_json::to_string(&self.problem()).unwrap_or_default())
    }
}

impl From<tokio_postgres::Error> for ApiError {
    fn from(error: tokio_postgres::Error) -> Self {
        if signalops_platform::postgres::is_transient_pg(&error) {
            return Self::Unavailable(error.to_string());
        }
        match error.code() {
            Some(code) if code == &tokio_postgres::error::SqlState::UNIQUE_VIOLATION => {
                Self::Conflict("a resource with these values already exists".to_owned())
            }
            _ => Self::Internal(error.into()),
        }
    }
}

impl From<deadpool_postgres::PoolError> for ApiError {
    fn from(error: deadpool_postgres::PoolError) -> Self {
        Self::Unavailable(error.to_string())
    }
}

/// A problem for errors raised by actix itself (bad path parameters, queries).
pub fn from_actix(detail: impl fmt::Display) -> actix_web::Error {
    ApiError::Malformed(detail.to_string()).into()
}

pub type ApiResult<T> = Result<T, ApiError>;
