//! Strict JSON bodies: the right content type (415 otherwise), a size limit
//! (413), well-formed JSON (400) and fields of the right type, with the
//! offending field's path named (422), holding nothing Postgres cannot
//! store (422 as well).

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, web};
use futures::StreamExt;
use serde::de::DeserializeOwned;
use signalops_proto::json_text::{self, Limits};

use crate::problem::{ApiError, FieldError};

/// Default body limit of admin endpoints; ingest has its own.
pub const DEFAULT_JSON_LIMIT: usize = 64 * 1024;

/// A JSON body. `LIMIT` (bytes) overrides the configured admin limit for
/// endpoints that take larger bodies, e.g. `JsonBody<Event, { 1 << 20 }>`.
#[derive(Debug)]
pub struct JsonBody<T, const LIMIT: usize = 0>(pub T);

impl<T: DeserializeOwned + 'static, const LIMIT: usize> FromRequest for JsonBody<T, LIMIT> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(request: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let configured = request.app_data::<web::Data<JsonLimit>>().map_or(DEFAULT_JSON_LIMIT, |l| l.0);
        let limit = if LIMIT > 0 { LIMIT } else { configured };
        let content_type_ok = request
            .headers()
            .get(actix_web::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.split(';').next().unwrap_or("").trim().to_ascii_lowercase())
            .is_some_and(|v| v == "application/json" || (v.starts_with("application/") && v.ends_with("+json")));
        let declared_length = request
            .headers()
            .get(actix_web::http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        let mut payload = payload.take();
        Box::pin(async move {
            if !content_type_ok {
                return Err(ApiError::UnsupportedMediaType("send the body as application/json".to_owned()));
            }
            let body = read_limited(&mut payload, declared_length, limit).await?;
            let value = parse(&body)?;
            storable(&body)?;
            Ok(JsonBody(value))
        })
    }
}

/// Reads a whole body, refusing (413) as soon as it exceeds `limit`.
pub async fn read_limited<S, B, E>(payload: &mut S, declared_length: Option<usize>, limit: usize) -> Result<web::BytesMut, ApiError>
where
    S: futures::Stream<Item = Result<B, E>> + Unpin,
    B: AsRef<[u8]>,
    E: std::fmt::Display,
{
    if declared_length.is_some_and(|len| len > limit) {
        return Err(ApiError::PayloadTooLarge { limit });
    }
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| ApiError::Malformed(e.to_string()))?;
        let chunk = chunk.as_ref();
        if body.len() + chunk.len() > limit {
            return Err(ApiError::PayloadTooLarge { limit });
        }
        body.extend_from_slice(chunk);
    }
    Ok(body)
}

/// Overrides the body limit for a scope: `.app_data(web::Data::new(JsonLimit(n)))`.
#[derive(Debug, Clone, Copy)]
pub struct JsonLimit(pub usize);

/// What admin bodies may nest and hold: they end up in Postgres (text,
/// jsonb) and are read back by serde_json.
const BODY_LIMITS: Limits = Limits { max_depth: 64, float_range: true };

/// Refuses (422, naming the field) what Postgres could not store or a reader
/// could not parse: `\u0000`, lone surrogates, huge numbers, deep nesting.
pub fn storable(body: &[u8]) -> Result<(), ApiError> {
    json_text::check(body, BODY_LIMITS).map_err(|refusal| {
        let field = if refusal.path.is_empty() { "(body)".to_owned() } else { refusal.path };
        ApiError::field(field, refusal.problem.to_string())
    })
}

/// Syntax errors are 400; type and field errors are 422 naming the field.
/// Text after the JSON value is a syntax error.
pub fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    // Tracking the path costs an allocation per key, and only a refusal
    // needs it: a body the plain parser refuses is parsed again to name it.
    serde_json::from_slice(body).map_err(|_| refusal::<T>(body))
}

fn refusal<T: DeserializeOwned>(body: &[u8]) -> ApiError {
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let error = match serde_path_to_error::deserialize::<_, T>(&mut deserializer) {
        Ok(_) => return malformed(deserializer.end().err()),
        Err(error) => error,
    };
    let path = error.path().to_string();
    let inner = error.into_inner();
    match inner.classify() {
        serde_json::error::Category::Data => {
            let field = if path == "." { "(body)".to_owned() } else { path };
            ApiError::Validation(vec![FieldError::new(field, clean_message(&inner))])
        }
        _ => malformed(Some(inner)),
    }
}

fn malformed(error: Option<serde_json::Error>) -> ApiError {
    match error {
        Some(error) => ApiError::Malformed(format!("the body is not valid JSON: {}", clean_message(&error))),
        None => ApiError::Malformed("the body is not valid JSON".to_owned()),
    }
}

/// serde's message without the " at line x column y" suffix.
fn clean_message(error: &serde_json::Error) -> String {
    let text = error.to_string();
    match text.rfind(" at line ") {
        Some(index) => text[..index].to_owned(),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Signup {
        email: String,
        age: u8,
    }

    #[test]
    fn wrong_types_and_unknown_fields_name_the_field() {
        match parse::<Signup>(br#"{"email": "a@b.c", "age": "old"}"#) {
            Err(ApiError::Validation(errors)) => assert_eq!(errors[0].field, "age"),
            other => panic!("{other:?}"),
        }
        match parse::<Signup>(br#"{"email": "a@b.c", "age": 3, "admin": true}"#) {
            Err(ApiError::Validation(errors)) => assert!(errors[0].message.contains("admin"), "{errors:?}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn broken_json_is_malformed() {
        assert!(matches!(parse::<Signup>(b"{\"email\": "), Err(ApiError::Malformed(_))));
        assert!(matches!(parse::<Signup>(br#"{"email": "a@b.c", "age": 3"#), Err(ApiError::Malformed(_))));
        assert!(matches!(parse::<Signup>(b"not json"), Err(ApiError::Malformed(_))));
    }

    #[test]
    fn text_after_the_value_is_malformed() {
        match parse::<Signup>(br#"{"email": "a@b.c", "age": 3} {"email": "x"}"#) {
            Err(ApiError::Malformed(message)) => assert!(message.contains("trailing"), "{message}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_valid_body_parses_without_tracking_its_path() {
        let signup: Signup = parse(br#"{"email": "a@b.c", "age": 3}"#).expect("valid");
        assert_eq!(signup.age, 3);
    }
}
