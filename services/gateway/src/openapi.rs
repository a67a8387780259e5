//! The OpenAPI 3.1 document, generated from the handlers' annotations:
//! utoipa-actix-web collects every `service(...)` registered under `/v1`, and
//! `finish` adds the error responses every operation shares.

mod problems;

use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
use utoipa::{Modify, OpenApi};

use crate::problem::{FieldError, Problem};

#[derive(OpenApi)]
#[openapi(
    info(title = "SignalOps API", description = "Stream business events into Kafka and manage tenants, people and API keys. Every error is RFC 9457 problem+json."),
    modifiers(&SecuritySchemes),
    components(schemas(Problem, FieldError)),
    tags(
        (name = "auth", description = "Sign-up, sign-in, token refresh and sign-out"),
        (name = "tenant", description = "The tenant of the caller"),
        (name = "members", description = "People in a tenant and their roles"),
        (name = "invitations", description = "Invitations: pending → accepted | declined | expired | revoked"),
        (name = "api-keys", description = "API keys for machines"),
        (name = "audit", description = "The audit log of control-plane changes"),
        (name = "events", description = "Sending events (API key with events:write)"),
        (name = "rules", description = "Rules: immutable versions, pause and resume, firings, dry runs and backtests"),
        (name = "channels", description = "Notification channels: webhooks, email, Slack, Telegram, WhatsApp; credentials shown once"),
    )
)]
pub struct ApiDoc;

struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("JWT").build()),
        );
        components.add_security_scheme("api_key", SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("x-api-key"))));
    }
}

/// Answers any route can give, whatever its handler: 400 from the URL guard
/// (a NUL character in the path or query) and 500 from the panic guard or
/// an unexpected failure (see `request_guard`). Applied to the finished
/// document, once every route is in it.
pub struct AnyRouteProblems;

impl Modify for AnyRouteProblems {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let problem = |description: &str| {
            ResponseBuilder::new()
                .description(description)
                .content("application/problem+json", ContentBuilder::new().schema(Some(Ref::from_schema_name("Problem"))).build())
                .build()
        };
        for item in openapi.paths.paths.values_mut() {
            let operations =
                [&mut item.get, &mut item.put, &mut item.post, &mut item.delete, &mut item.patch, &mut item.head, &mut item.options];
            for operation in operations.into_iter().flatten() {
                let responses = &mut operation.responses.responses;
                responses.entry("400".to_owned()).or_insert_with(|| problem("Malformed request (e.g. a NUL character in the URL)").into());
                responses.entry("500".to_owned()).or_insert_with(|| problem("Internal error; the body says nothing internal").into());
            }
        }
    }
}

/// The served document: the collected operations plus their shared error
/// responses (`problems`). Modifiers in `#[openapi]` run before
/// utoipa-actix-web adds the paths, so this runs after `split_for_parts`.
pub fn finish(mut api: utoipa::openapi::OpenApi) -> utoipa::openapi::OpenApi {
    problems::add_to(&mut api);
    utoipa::Modify::modify(&AnyRouteProblems, &mut api);
    api
}
