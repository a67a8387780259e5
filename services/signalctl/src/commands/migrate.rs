use clap::Args;
use serde_json::json;
use signalops_platform::postgres;

use super::Output;

#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// URL of the role that owns the schema (not the application role).
    #[arg(long, env = "SIGNALOPS_DATABASE_OWNER_URL", hide_env_values = true)]
    pub owner_url: String,
}

pub async fn run(args: MigrateArgs, output: Output) -> anyhow::Result<()> {
    let report = postgres::migrate(&args.owner_url).await?;
    let version = report.current_version.map_or_else(|| "none".to_owned(), |v| v.to_string());
    let text = if report.applied.is_empty() {
        format!("schema up to date (version {version})")
    } else {
        format!("applied {} migration(s): {}; schema at version {version}", report.applied.len(), report.applied.join(", "))
    };
    output.print(text, json!({"applied": report.applied, "version": report.current_version}));
    Ok(())
}
