//! Schema migrations (refinery, `schemas/migrations/V{n}__name.sql`), run by
//! the owner role. A session advisory lock serialises concurrent runs, so two
//! `signalctl migrate` started at once both succeed.

use tokio_postgres::Client;

use super::DbError;
use super::pool::connect_one;

mod embedded {
    refinery::embed_migrations!("../../schemas/migrations");
}

/// Arbitrary but fixed: "signalop" in ASCII.
const MIGRATION_LOCK_KEY: i64 = 0x7369_676e_616c_6f70;

#[derive(Debug)]
pub struct MigrationReport {
    pub applied: Vec<String>,
    pub current_version: Option<i32>,
}

/// Applies every pending migration through `owner_url`.
pub async fn migrate(owner_url: &str) -> Result<MigrationReport, DbError> {
    let mut client = connect_one(owner_url).await?;
    client.execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK_KEY]).await?;
    let outcome = run_locked(&mut client).await;
    // Unlock even on failure; the lock also dies with the session.
    let _ = client.execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK_KEY]).await;
    outcome
}

async fn run_locked(client: &mut Client) -> Result<MigrationReport, DbError> {
    let report = embedded::migrations::runner().run_async(client).await.map_err(|e| DbError::Migration(e.to_string()))?;
    let applied = report.applied_migrations().iter().map(|m| format!("V{}__{}", m.version(), m.name())).collect();
    let current_version = embedded::migrations::runner()
        .get_last_applied_migration_async(client)
        .await
        .map_err(|e| DbError::Migration(e.to_string()))?
        .map(|m| m.version());
    Ok(MigrationReport { applied, current_version })
}
