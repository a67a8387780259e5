//! The live tail of a tenant's events (Server-Sent Events).

pub mod routes;
