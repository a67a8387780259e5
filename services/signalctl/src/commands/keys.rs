use anyhow::Context as _;
use clap::Subcommand;
use serde_json::json;
use signalops_platform::TenantId;
use signalops_platform::api_keys::{ApiKey, SCOPES};
use signalops_platform::postgres::{self, begin_tenant_tx, set_tenant};

use super::Output;
use crate::CtlConfig;

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Create an API key; the secret is printed once and never stored.
    Create {
        #[arg(long)]
        tenant: TenantId,
        /// Comma-separated scopes: events:write, events:read.
        #[arg(long, value_delimiter = ',', default_value = "events:write")]
        scopes: Vec<String>,
        #[arg(long, default_value = "")]
        label: String,
        /// Days until the key expires (no expiry when omitted).
        #[arg(long)]
        expires_in_days: Option<u32>,
    },
    /// Revoke a key by its public prefix (`so_<env>_xxxxxxxxxxxx`).
    Revoke { prefix: String },
}

pub async fn run(command: KeysCommand, output: Output) -> anyhow::Result<()> {
    match command {
        KeysCommand::Create { tenant, scopes, label, expires_in_days } => create(tenant, scopes, label, expires_in_days, output).await,
        KeysCommand::Revoke { prefix } => revoke(&prefix, output).await,
    }
}

async fn create(tenant: TenantId, scopes: Vec<String>, label: String, expires_in_days: Option<u32>, output: Output) -> anyhow::Result<()> {
    if let Some(unknown) = scopes.iter().find(|s| !SCOPES.contains(&s.as_str())) {
        anyhow::bail!("unknown scope {unknown:?}; known scopes: {}", SCOPES.join(", "));
    }
    let config = CtlConfig::load()?;
    let settings = config.require_api_keys()?;
    let mut client = postgres::connect_one(config.require_database()?.url.expose()).await?;
    let key = ApiKey::generate(&settings.environment);
    let expires_at = expires_in_days.map(|days| chrono::Utc::now() + chrono::Duration::days(i64::from(days)));
    let tx = begin_tenant_tx(&mut client, tenant).await?;
    let exists = tx.query_opt("SELECT 1 FROM tenants WHERE id = $1", &[&tenant.as_uuid()]).await?.is_some();
    if !exists {
        anyhow::bail!("no tenant {tenant}");
    }
    tx.execute(
        "INSERT INTO api_keys (id, tenant_id, prefix, digest, label, scopes, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        &[&uuid::Uuid::now_v7(), &tenant.as_uuid(), &key.prefix(), &key.digest(&settings.pepper), &label, &scopes, &expires_at],
    )
    .await?;
    tx.execute(
        "INSERT INTO audit_log (tenant_id, actor, action, target) VALUES ($1, 'signalctl', 'api_key.created', $2)",
        &[&tenant.as_uuid(), &key.prefix()],
    )
    .await?;
    tx.commit().await?;
    output.print(
        format!(
            "created API key {} for tenant {tenant} (scopes {})\n{}\nStore it now: it is not shown again.",
            key.prefix(),
            scopes.join(","),
            key.expose()
        ),
        json!({"prefix": key.prefix(), "key": key.expose(), "tenant_id": tenant, "scopes": scopes, "expires_at": expires_at}),
    );
    Ok(())
}

async fn revoke(prefix: &str, output: Output) -> anyhow::Result<()> {
    let config = CtlConfig::load()?;
    let mut client = postgres::connect_one(config.require_database()?.url.expose()).await?;
    let tx = client.transaction().await?;
    // The lookup policy lets us read exactly the row whose prefix we name.
    tx.execute("SELECT set_config('app.api_key_prefix', $1, true)", &[&prefix]).await?;
    let row = tx
        .query_opt("SELECT tenant_id FROM api_keys WHERE prefix = $1", &[&prefix])
        .await?
        .with_context(|| format!("no API key with prefix {prefix}"))?;
    let tenant = TenantId::from_uuid(row.try_get(0)?);
    set_tenant(&tx, tenant).await?;
    tx.execute("UPDATE api_keys SET revoked_at = coalesce(revoked_at, now()) WHERE prefix = $1", &[&prefix]).await?;
    tx.execute(
        "INSERT INTO audit_log (tenant_id, actor, action, target) VALUES ($1, 'signalctl', 'api_key.revoked', $2)",
        &[&tenant.as_uuid(), &prefix],
    )
    .await?;
    tx.commit().await?;
    output.print(format!("revoked API key {prefix}"), json!({"prefix": prefix, "status": "revoked"}));
    Ok(())
}
