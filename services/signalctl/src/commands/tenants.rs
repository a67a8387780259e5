use clap::Subcommand;
use serde_json::json;
use signalops_platform::TenantId;
use signalops_platform::postgres::{self, begin_tenant_tx};

use super::Output;
use crate::CtlConfig;

#[derive(Debug, Subcommand)]
pub enum TenantsCommand {
    /// Create a tenant (through the application role, under row-level security).
    Create {
        #[arg(long)]
        name: String,
    },
    /// List every tenant (needs the owner role: the application role can
    /// only ever see one tenant at a time).
    List {
        #[arg(long, env = "SIGNALOPS_DATABASE_OWNER_URL", hide_env_values = true)]
        owner_url: String,
    },
}

pub async fn run(command: TenantsCommand, output: Output) -> anyhow::Result<()> {
    match command {
        TenantsCommand::Create { name } => create(name, output).await,
        TenantsCommand::List { owner_url } => list(&owner_url, output).await,
    }
}

async fn create(name: String, output: Output) -> anyhow::Result<()> {
    let name = name.trim().to_owned();
    if name.is_empty() || name.chars().count() > 200 {
        anyhow::bail!("--name must be 1-200 characters");
    }
    let config = CtlConfig::load()?;
    let mut client = postgres::connect_one(config.require_database()?.url.expose()).await?;
    let tenant = TenantId::new();
    let tx = begin_tenant_tx(&mut client, tenant).await?;
    tx.execute("INSERT INTO tenants (id, name) VALUES ($1, $2)", &[&tenant.as_uuid(), &name]).await?;
    tx.execute(
        "INSERT INTO audit_log (tenant_id, actor, action, target) VALUES ($1, 'signalctl', 'tenant.created', $2)",
        &[&tenant.as_uuid(), &tenant.to_string()],
    )
    .await?;
    tx.commit().await?;
    output.print(format!("created tenant {tenant} ({name})"), json!({"id": tenant, "name": name}));
    Ok(())
}

async fn list(owner_url: &str, output: Output) -> anyhow::Result<()> {
    let client = postgres::connect_one(owner_url).await?;
    let rows = client.query("SELECT id, name, created_at FROM tenants ORDER BY created_at, id", &[]).await?;
    let mut lines = vec![format!("{:<36}  {:<25}  {}", "ID", "CREATED", "NAME")];
    let mut values = Vec::new();
    for row in rows {
        let (id, name, created): (uuid::Uuid, String, chrono::DateTime<chrono::Utc>) = (row.try_get(0)?, row.try_get(1)?, row.try_get(2)?);
        lines.push(format!("{id:<36}  {:<25}  {name}", created.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)));
        values.push(json!({"id": id, "name": name, "created_at": created}));
    }
    output.print(lines.join("\n"), json!(values));
    Ok(())
}
