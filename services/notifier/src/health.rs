//! Channel health: a channel whose every attempt failed for
//! `failing_warn_after_hours` gets a `signalops.channel.failing` event,
//! and after `disable_after_hours` it is disabled with
//! `signalops.channel.disabled`, so rules can act on both; a 410 disables
//! it at once. A delivery on a disabled channel falls back to the next
//! channel of its chain. `POST /v1/channels/{id}/enable` clears it all.

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::json;
use signalops_platform::TenantId;
use signalops_platform::postgres::Pool;
use tokio_postgres::GenericClient;
use uuid::Uuid;

/// The source of the notifier's system events.
pub const SOURCE: &str = "/signalops/notifier";

/// Disables an active channel, staging `signalops.channel.disabled`; false
/// when it was not active (already disabled, or gone).
pub async fn disable<C: GenericClient>(
    tx: &C,
    tenant: Uuid,
    channel: &str,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<bool, tokio_postgres::Error> {
    let row = tx
        .query_opt(
            "UPDATE channels SET status = 'disabled', disabled_reason = $3, disabled_at = $4, updated_at = $4 \
             WHERE tenant_id = $1 AND id = $2 AND status = 'active' RETURNING name, kind, failing_since",
            &[&tenant, &channel, &reason, &now],
        )
        .await?;
    let Some(row) = row else { return Ok(false) };
    let (name, kind, since): (String, String, Option<DateTime<Utc>>) = (row.try_get(0)?, row.try_get(1)?, row.try_get(2)?);
    let data = json!({"channel_id": channel, "name": name, "kind": kind, "status": "disabled", "reason": reason, "failing_since": since});
    signalops_platform::system_events::stage(
        tx,
        TenantId::from_uuid(tenant),
        SOURCE,
        "signalops.channel.disabled",
        &format!("channel/{channel}"),
        data,
    )
    .await?;
    Ok(true)
}

/// What one health pass did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Pass {
    pub warned: usize,
    pub disabled: usize,
}

/// Warns about and disables channels that have failed for long enough.
pub async fn pass(pool: &Pool, now: DateTime<Utc>, warn_after: TimeDelta, disable_after: TimeDelta) -> anyhow::Result<Pass> {
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    tx.batch_execute("SELECT set_config('app.notifier', 'on', true)").await?;
    let warned = tx
        .query(
            "UPDATE channels SET failing_warned_at = $1 \
             WHERE status = 'active' AND failing_since IS NOT NULL AND failing_warned_at IS NULL \
               AND failing_since <= $2 \
             RETURNING tenant_id, id, name, kind, failing_since",
            &[&now, &(now - warn_after)],
        )
        .await?;
    for row in &warned {
        let (tenant, id, name, kind, since): (Uuid, String, String, String, DateTime<Utc>) =
            (row.try_get(0)?, row.try_get(1)?, row.try_get(2)?, row.try_get(3)?, row.try_get(4)?);
        let data = json!({
            "channel_id": id, "name": name, "kind": kind, "status": "active", "failing_since": since,
            "disabled_at": since + disable_after,
        });
        signalops_platform::system_events::stage(
            &*tx,
            TenantId::from_uuid(tenant),
            SOURCE,
            "signalops.channel.failing",
            &format!("channel/{id}"),
            data,
        )
        .await?;
    }
    let due = tx
        .query(
            "SELECT tenant_id, id, failing_since FROM channels \
             WHERE status = 'active' AND failing_since IS NOT NULL AND failing_since <= $1 FOR UPDATE",
            &[&(now - disable_after)],
        )
        .await?;
    let mut disabled = 0;
    for row in &due {
        let (tenant, id): (Uuid, String) = (row.try_get(0)?, row.try_get(1)?);
        let hours = disable_after.num_hours();
        if disable(&*tx, tenant, &id, &format!("every attempt failed for {hours} hours"), now).await? {
            disabled += 1;
        }
    }
    tx.commit().await?;
    Ok(Pass { warned: warned.len(), disabled })
}
