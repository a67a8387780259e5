//! Tenant-scoped transactions: the only way handlers touch tenant tables.
//! Row-level security policies compare every row with `app.tenant_id`, which
//! is set transaction-locally, so it can never leak to the next user of a
//! pooled connection.

use tokio_postgres::{Client, Transaction};

use crate::ids::TenantId;

/// Starts a transaction whose tenant-scoped queries see only `tenant`'s rows.
pub async fn begin_tenant_tx(client: &mut Client, tenant: TenantId) -> Result<Transaction<'_>, tokio_postgres::Error> {
    let tx = client.transaction().await?;
    set_tenant(&tx, tenant).await?;
    Ok(tx)
}

/// Switches the tenant of an open transaction (consumers that write several
/// tenants' rows in one batch transaction call this per tenant).
pub async fn set_tenant(tx: &Transaction<'_>, tenant: TenantId) -> Result<(), tokio_postgres::Error> {
    // One round trip in the simple protocol, where a parameter would take
    // two (prepare, then execute). A tenant id is a UUID, printed as hex
    // and hyphens only, so it is safe as a literal.
    tx.batch_execute(&format!("SELECT set_config('app.tenant_id', '{}', true)", tenant.as_uuid().hyphenated())).await
}
