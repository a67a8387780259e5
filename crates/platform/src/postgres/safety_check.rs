//! Refuses to run as a role for which row-level security would not hold:
//! a superuser or BYPASSRLS role skips every policy, an owner skips them
//! unless FORCE is set, and a tenant table without FORCE RLS is one mistake
//! away from leaking.

use std::fmt;

use tokio_postgres::Client;

use super::DbError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SafetyProblem {
    Superuser(String),
    BypassRls(String),
    OwnsTables { role: String, tables: Vec<String> },
    RlsNotForced(Vec<String>),
    NotMigrated,
}

impl fmt::Display for SafetyProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Superuser(role) => write!(f, "role {role} is a superuser; connect as the application role (e.g. signalops_app)"),
            Self::BypassRls(role) => write!(f, "role {role} has BYPASSRLS; run ALTER ROLE {role} NOBYPASSRLS"),
            Self::OwnsTables { role, tables } => {
                write!(f, "role {role} owns tables ({}); migrations must run as a separate owner role", tables.join(", "))
            }
            Self::NotMigrated => write!(f, "the schema is not migrated (no tenants table); run `signalctl migrate`"),
            Self::RlsNotForced(tables) => {
                write!(f, "tenant tables without FORCE ROW LEVEL SECURITY: {}; run the migrations", tables.join(", "))
            }
        }
    }
}

/// Checks the role `client` is connected as.
pub async fn check_application_role(client: &Client) -> Result<(), DbError> {
    let problems = find_problems(client).await?;
    if problems.is_empty() { Ok(()) } else { Err(DbError::Unsafe(problems)) }
}

async fn find_problems(client: &Client) -> Result<Vec<SafetyProblem>, DbError> {
    let mut problems = Vec::new();
    let role =
        client.query_one("SELECT current_user::text, rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user", &[]).await?;
    let name: String = role.try_get(0)?;
    if role.try_get::<_, bool>(1)? {
        problems.push(SafetyProblem::Superuser(name.clone()));
    }
    if role.try_get::<_, bool>(2)? {
        problems.push(SafetyProblem::BypassRls(name.clone()));
    }

    let owned: Vec<String> = client
        .query(
            "SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') \
               AND pg_get_userbyid(c.relowner) = current_user ORDER BY 1",
            &[],
        )
        .await?
        .iter()
        .map(|r| r.try_get(0))
        .collect::<Result<_, _>>()?;
    if !owned.is_empty() {
        problems.push(SafetyProblem::OwnsTables { role: name, tables: owned });
    }

    let migrated: bool = client.query_one("SELECT to_regclass('tenants') IS NOT NULL", &[]).await?.try_get(0)?;
    if !migrated {
        problems.push(SafetyProblem::NotMigrated);
    }

    // Tenant tables: `tenants` itself and every table with a tenant_id column
    // (partitions inherit their parent's policy when queried through it).
    let unforced: Vec<String> = client
        .query(
            "SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') AND NOT c.relispartition \
               AND (c.relname = 'tenants' OR EXISTS (SELECT 1 FROM pg_attribute a \
                    WHERE a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped)) \
               AND NOT (c.relrowsecurity AND c.relforcerowsecurity) ORDER BY 1",
            &[],
        )
        .await?
        .iter()
        .map(|r| r.try_get(0))
        .collect::<Result<_, _>>()?;
    if !unforced.is_empty() {
        problems.push(SafetyProblem::RlsNotForced(unforced));
    }
    Ok(problems)
}
