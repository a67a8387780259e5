//! The operator audit entry of a redrive or purge (`operator_audit`,
//! migration V16): one row per act, naming every tenant it touched.

use std::collections::BTreeSet;

use anyhow::Context as _;
use serde_json::Value;

pub struct Entry<'a> {
    pub actor: &'a str,
    pub action: &'a str,
    pub target: &'a str,
    pub tenants: BTreeSet<String>,
    pub details: Value,
}

/// Writes the entry; returns its id.
pub async fn write(client: &tokio_postgres::Client, entry: Entry<'_>) -> anyhow::Result<i64> {
    let tenants: Vec<String> = entry.tenants.into_iter().collect();
    let row = client
        .query_one(
            "INSERT INTO operator_audit (actor, action, target, tenants, details) VALUES ($1, $2, $3, $4, $5) RETURNING id",
            &[&entry.actor, &entry.action, &entry.target, &tenants, &entry.details],
        )
        .await
        .context("cannot write the audit entry to operator_audit (has `signalctl migrate` run on this database?)")?;
    row.try_get(0).context("operator_audit returned no id")
}

/// Who is acting: `--actor`, else the login name, else `unknown`.
pub fn actor(given: Option<String>) -> String {
    given
        .filter(|a| !a.trim().is_empty())
        .or_else(|| std::env::var("USER").ok().filter(|u| !u.is_empty()))
        .or_else(|| std::env::var("LOGNAME").ok().filter(|u| !u.is_empty()))
        .unwrap_or_else(|| "unknown".to_owned())
}
