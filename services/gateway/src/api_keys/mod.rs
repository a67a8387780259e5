//! API keys for machines: issued and revoked by tenant admins, verified on
//! every machine request (ingest) with a short-lived in-memory cache.

mod failures;
pub(crate) mod lookup;
pub mod routes;
pub mod verifier;

#[cfg(test)]
mod race_tests;

pub use verifier::{ApiKeyAuth, ApiKeyIdentity, ApiKeyVerifier, KeyStatus};
