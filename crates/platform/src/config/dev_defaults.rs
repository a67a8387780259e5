//! The development secrets `docker-compose.kafka.yml` ships so that
//! `docker compose up` works out of the box. They are public (they are in
//! this repository), so a deployment that is not `dev` refuses to start
//! with them (ADR 0021).
//!
//! "Not dev" is read from `api_keys.environment`, the `<env>` every issued
//! key carries (`so_<env>_…`): it already says which deployment a process
//! belongs to, and compose sets it to `dev` next to these defaults.

/// `SIGNALOPS_API_KEYS__PEPPER`'s default in docker-compose.kafka.yml.
pub const DEV_PEPPER: &str = "signalops-dev-pepper-not-for-production";

/// The secret of `SIGNALOPS_AUTH__JWT_KEYS`'s default (`dev1:<this>`).
pub const DEV_JWT_SECRET: &str = "signalops-dev-jwt-secret-not-for-production-0123";

/// The secret of `SIGNALOPS_CHANNELS__SECRET_KEYS`'s default (`dev1:<this>`):
/// the 32 bytes `signalops-dev-not-for-production` in base64.
pub const DEV_CHANNEL_KEY: &str = "c2lnbmFsb3BzLWRldi1ub3QtZm9yLXByb2R1Y3Rpb24=";

/// The environment in which the shipped development secrets are allowed.
pub const DEV_ENVIRONMENT: &str = "dev";

/// Every shipped development secret contains this, so edited copies of
/// them (another key id, a changed suffix) are caught too.
const MARKER: &str = "not-for-production";

/// True for a shipped development secret or anything derived from one.
pub fn is_dev_secret(secret: &str) -> bool {
    secret == DEV_PEPPER || secret == DEV_JWT_SECRET || secret.contains(DEV_CHANNEL_KEY) || secret.contains(MARKER)
}

/// The problem message for `field` holding a development secret outside `dev`.
pub fn refusal(environment: &str, generate: &str) -> String {
    format!(
        "is a development default from docker-compose.kafka.yml, which is public; api_keys.environment is {environment:?}, and only \
         {DEV_ENVIRONMENT:?} may use it: set a secret of your own ({generate})"
    )
}
