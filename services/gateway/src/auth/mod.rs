//! People's sign-in: passwords, access tokens, refresh-token families and
//! login rate limits.

pub mod jwt;
pub mod passwords;
pub mod rate_limit;
pub mod refresh_tokens;
pub mod routes;
