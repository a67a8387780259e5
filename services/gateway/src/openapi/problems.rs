//! The error responses every operation shares, added to the document from
//! the operation's shape so a new handler is documented the moment it is
//! registered: the extractors and `ApiError` answer these whatever the
//! handler does, and the document must say so.
//!
//! - Every 4xx/5xx is `application/problem+json` with the `Problem` schema
//!   (`ApiError::error_response` sets that media type).
//! - An operation with a security requirement can answer 401 (no, unknown,
//!   revoked or expired credential) and 429 (too many failed
//!   authentications from the client's address).
//! - Path and query parameters that do not parse answer 400 (the
//!   `PathConfig`/`QueryConfig` error handlers in `startup.rs`), and ones
//!   that parse but break a rule (an event type, a cursor) answer 422.
//! - A request body can be malformed (400), too large (413), of another
//!   media type (415) or fail validation (422) (`extract::JsonBody`).

use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::{Content, ContentBuilder, OpenApi, Ref, RefOr, Response, ResponseBuilder};

pub const PROBLEM_JSON: &str = "application/problem+json";

pub fn add_to(openapi: &mut OpenApi) {
    for item in openapi.paths.paths.values_mut() {
        let operations = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
            &mut item.head,
            &mut item.options,
            &mut item.trace,
        ];
        for operation in operations.into_iter().flatten() {
            add_shared(operation);
            problems_as_problem_json(operation);
        }
    }
}

fn add_shared(operation: &mut Operation) {
    let secured = operation.security.as_ref().is_some_and(|requirements| !requirements.is_empty());
    let has_body = operation.request_body.is_some();
    let has_parameters = operation.parameters.iter().flatten().any(|parameter| match parameter {
        RefOr::T(parameter) => matches!(parameter.parameter_in, ParameterIn::Path | ParameterIn::Query),
        RefOr::Ref(_) => true,
    });
    if secured {
        insert(operation, "401", "Missing, unknown, revoked or expired credential");
        // Too many failed authentications from this address (API keys).
        insert(operation, "429", "Too many requests or failed authentications; `Retry-After` says when to retry");
    }
    if has_parameters || has_body {
        insert(operation, "400", "Malformed request: a parameter or the body does not parse");
        insert(operation, "422", "A parameter or the body parses but breaks a rule; `errors` names the fields");
    }
    if has_body {
        insert(operation, "413", "The body exceeds the size limit");
        insert(operation, "415", "The body is not of a media type this operation accepts");
    }
}

fn insert(operation: &mut Operation, status: &str, description: &str) {
    operation.responses.responses.entry(status.to_owned()).or_insert_with(|| RefOr::T(problem_response(description)));
}

fn problem_response(description: &str) -> Response {
    ResponseBuilder::new().description(description).content(PROBLEM_JSON, problem_content()).build()
}

fn problem_content() -> Content {
    ContentBuilder::new().schema(Some(Ref::from_schema_name("Problem"))).build()
}

/// Error responses documented with a `body` get utoipa's default media type,
/// `application/json`; the gateway sends `application/problem+json`.
fn problems_as_problem_json(operation: &mut Operation) {
    for (status, response) in &mut operation.responses.responses {
        let RefOr::T(response) = response else { continue };
        if !(status.starts_with('4') || status.starts_with('5')) {
            continue;
        }
        if let Some(content) = response.content.shift_remove("application/json") {
            response.content.insert(PROBLEM_JSON.to_owned(), content);
        }
        if response.content.is_empty() {
            response.content.insert(PROBLEM_JSON.to_owned(), RefOr::T(problem_content()));
        }
    }
}

#[cfg(test)]
mod tests {
    use utoipa::OpenApi as _;

    use super::*;
    use crate::openapi::ApiDoc;

    fn document() -> serde_json::Value {
        let (_, api) = actix_web::App::new()
            .into_utoipa_app()
            .openapi(ApiDoc::openapi())
            .service(utoipa_actix_web::scope::scope("/v1").configure(crate::startup::configure_v1))
            .split_for_parts();
        serde_json::to_value(crate::openapi::finish(api)).expect("document serialises")
    }

    use utoipa_actix_web::AppExt as _;

    #[test]
    fn every_error_response_is_problem_json() {
        let document = document();
        let mut seen = 0;
        for (path, item) in document["paths"].as_object().expect("paths") {
            for (method, operation) in item.as_object().expect("path item") {
                for (status, response) in operation["responses"].as_object().expect("responses") {
                    if status.starts_with('4') || status.starts_with('5') {
                        seen += 1;
                        let content = response["content"].as_object().expect("content");
                        assert_eq!(content.keys().collect::<Vec<_>>(), [PROBLEM_JSON], "{method} {path} {status}");
                    }
                }
            }
        }
        assert!(seen > 50, "only {seen} error responses");
    }

    #[test]
    fn create_api_key_lists_every_scope() {
        let document = document();
        let listed = &document["components"]["schemas"]["CreateApiKey"]["properties"]["scopes"]["items"]["enum"];
        assert_eq!(listed, &serde_json::json!(signalops_platform::api_keys::SCOPES));
    }

    #[test]
    fn secured_operations_document_401_and_bodies_document_400_413_415_422() {
        let document = document();
        for (path, item) in document["paths"].as_object().expect("paths") {
            for (method, operation) in item.as_object().expect("path item") {
                let responses = operation["responses"].as_object().expect("responses");
                if operation.get("security").is_some() {
                    assert!(responses.contains_key("401"), "{method} {path} lacks 401");
                    assert!(responses.contains_key("429"), "{method} {path} lacks 429");
                }
                if operation.get("requestBody").is_some() {
                    for status in ["400", "413", "415", "422"] {
                        assert!(responses.contains_key(status), "{method} {path} lacks {status}");
                    }
                }
            }
        }
    }
}
