//! API keys for machines: issued and revoked by tenant admins, verified on
//! every machine request (ingest) with a short-lived in-memory cache.

pub mod routes;
pub mod verifier;

pub use verifier::{ApiKeyAuth, ApiKeyIdentity, ApiKeyVerifier};
