//! Request extractors that fail as problem+json.

mod json;
pub mod principal;

pub use json::{JsonBody, JsonLimit};
pub use principal::{BearerToken, Principal};
