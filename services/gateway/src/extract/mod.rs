//! Request extractors that fail as problem+json.

pub mod json;
pub mod principal;

pub use json::{JsonBody, JsonLimit};
pub use principal::{BearerToken, Principal};
