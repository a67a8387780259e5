//! The `channels` table: create, list, get, update, delete, rotate a
//! webhook's secret, enable; credentials go in and out sealed.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use serde_json::Value;
use signalops_platform::TenantId;
use tokio_postgres::GenericClient;
use tokio_postgres::error::SqlState;
use uuid::Uuid;

use crate::definition::{Config, Credentials, Kind, new_webhook_secret};
use crate::error::{StoreError, StoreResult};
use crate::sealing::{Keyring, channel_binding};

/// A channel as the API shows it: no credential.
#[derive(Debug, Clone, PartialEq)]
pub struct ChannelRecord {
    pub id: String,
    pub kind: Kind,
    pub name: String,
    pub settings: Value,
    pub status: Status,
    pub disabled_reason: Option<String>,
    pub disabled_at: Option<DateTime<Utc>>,
    pub failing_since: Option<DateTime<Utc>>,
    /// Until when the previous webhook secret signs beside the current one.
    pub previous_secret_until: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Active,
    Disabled,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Active => "active",
            Status::Disabled => "disabled",
        }
    }
}

/// A channel with its credentials opened: for updates and for sending.
#[derive(Debug, Clone)]
pub struct OpenedChannel {
    pub record: ChannelRecord,
    pub credentials: Credentials,
    /// The previous webhook secret while it still signs.
    pub previous: Option<Credentials>,
}

const COLUMNS: &str =
    "id, kind, name, settings, status, disabled_reason, disabled_at, failing_since, previous_until, created_at, updated_at";
const SEALED_COLUMNS: &str = "tenant_id, sealed, key_id, previous_sealed, previous_key_id";

fn record_from(row: &tokio_postgres::Row) -> StoreResult<ChannelRecord> {
    let id: String = row.try_get("id")?;
    let kind: String = row.try_get("kind")?;
    let status: String = row.try_get("status")?;
    let corrupt = |message: String| StoreError::Corrupt { channel_id: id.clone(), message };
    Ok(ChannelRecord {
        kind: Kind::parse(&kind).ok_or_else(|| corrupt(format!("unknown kind {kind:?}")))?,
        status: match status.as_str() {
            "active" => Status::Active,
            "disabled" => Status::Disabled,
            other => return Err(corrupt(format!("unknown status {other:?}"))),
        },
        name: row.try_get("name")?,
        settings: row.try_get("settings")?,
        disabled_reason: row.try_get("disabled_reason")?,
        disabled_at: row.try_get("disabled_at")?,
        failing_since: row.try_get("failing_since")?,
        previous_secret_until: row.try_get("previous_until")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        id,
    })
}

fn seal(keyring: &Keyring, tenant: TenantId, id: &str, credentials: &Credentials) -> StoreResult<(String, Vec<u8>)> {
    let plaintext =
        serde_json::to_vec(credentials).map_err(|e| StoreError::Corrupt { channel_id: id.to_owned(), message: e.to_string() })?;
    Ok(keyring.seal(&channel_binding(tenant.as_uuid(), id), &plaintext))
}

fn open(keyring: &Keyring, tenant: Uuid, id: &str, key_id: &str, sealed: &[u8]) -> StoreResult<Credentials> {
    let plaintext = keyring.open(key_id, &channel_binding(tenant, id), sealed)?;
    serde_json::from_slice(&plaintext)
        .map_err(|e| StoreError::Corrupt { channel_id: id.to_owned(), message: format!("sealed credentials: {e}") })
}

/// A channel to create.
pub struct NewChannel<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub kind: Kind,
    pub config: &'a Config,
    pub created_by: Option<Uuid>,
}

/// Creates the channel; [`StoreError::Conflict`] when the tenant has one by that id.
pub async fn create<C: GenericClient>(tx: &C, keyring: &Keyring, tenant: TenantId, new: &NewChannel<'_>) -> StoreResult<ChannelRecord> {
    let NewChannel { id, name, kind, config, created_by } = *new;
    let (key_id, sealed) = seal(keyring, tenant, id, &config.credentials)?;
    let inserted = tx
        .query_one(
            &format!(
                "INSERT INTO channels (tenant_id, id, kind, name, settings, sealed, key_id, created_by) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING {COLUMNS}"
            ),
            &[&tenant.as_uuid(), &id, &kind.as_str(), &name, &config.settings, &sealed, &key_id, &created_by],
        )
        .await;
    match inserted {
        Ok(row) => record_from(&row),
        Err(error) if error.code() == Some(&SqlState::UNIQUE_VIOLATION) => Err(StoreError::Conflict),
        Err(error) => Err(error.into()),
    }
}

/// The tenant's channels, oldest first, after the `(created_at, id)` cursor.
pub async fn list<C: GenericClient>(tx: &C, after: Option<(DateTime<Utc>, String)>, limit: i64) -> StoreResult<Vec<ChannelRecord>> {
    let (at, id) = after.map_or((None, None), |(at, id)| (Some(at), Some(id)));
    let rows = tx
        .query(
            &format!(
                "SELECT {COLUMNS} FROM channels WHERE ($1::timestamptz IS NULL OR (created_at, id) > ($1, $2)) \
                 ORDER BY created_at, id LIMIT $3"
            ),
            &[&at, &id, &limit],
        )
        .await?;
    rows.iter().map(record_from).collect()
}

pub async fn get<C: GenericClient>(tx: &C, id: &str) -> StoreResult<ChannelRecord> {
    let row = tx.query_opt(&format!("SELECT {COLUMNS} FROM channels WHERE id = $1"), &[&id]).await?.ok_or(StoreError::NotFound)?;
    record_from(&row)
}

/// The channel with its credentials, the row locked for the rest of `tx`.
pub async fn open_for_update<C: GenericClient>(tx: &C, keyring: &Keyring, id: &str) -> StoreResult<OpenedChannel> {
    let row = tx
        .query_opt(&format!("SELECT {COLUMNS}, {SEALED_COLUMNS} FROM channels WHERE id = $1 FOR UPDATE"), &[&id])
        .await?
        .ok_or(StoreError::NotFound)?;
    opened_from(keyring, &row)
}

/// The channel with its credentials (for sending).
pub async fn open_channel<C: GenericClient>(tx: &C, keyring: &Keyring, id: &str) -> StoreResult<OpenedChannel> {
    let row = tx
        .query_opt(&format!("SELECT {COLUMNS}, {SEALED_COLUMNS} FROM channels WHERE id = $1"), &[&id])
        .await?
        .ok_or(StoreError::NotFound)?;
    opened_from(keyring, &row)
}

fn opened_from(keyring: &Keyring, row: &tokio_postgres::Row) -> StoreResult<OpenedChannel> {
    let record = record_from(row)?;
    let tenant: Uuid = row.try_get("tenant_id")?;
    let sealed: Vec<u8> = row.try_get("sealed")?;
    let key_id: String = row.try_get("key_id")?;
    let credentials = open(keyring, tenant, &record.id, &key_id, &sealed)?;
    let previous_sealed: Option<Vec<u8>> = row.try_get("previous_sealed")?;
    let previous_key_id: Option<String> = row.try_get("previous_key_id")?;
    let signing = record.previous_secret_until.is_some_and(|until| until > Utc::now());
    let previous = match (previous_sealed, previous_key_id) {
        (Some(sealed), Some(key_id)) if signing => Some(open(keyring, tenant, &record.id, &key_id, &sealed)?),
        _ => None,
    };
    Ok(OpenedChannel { record, credentials, previous })
}

/// Changes the name and/or the configuration (credentials re-sealed with
/// the current key).
pub async fn update<C: GenericClient>(
    tx: &C,
    keyring: &Keyring,
    tenant: TenantId,
    id: &str,
    name: Option<&str>,
    config: Option<&Config>,
) -> StoreResult<ChannelRecord> {
    let sealed = config.map(|c| seal(keyring, tenant, id, &c.credentials)).transpose()?;
    let (key_id, sealed) = sealed.map_or((None, None), |(k, s)| (Some(k), Some(s)));
    let row = tx
        .query_opt(
            &format!(
                "UPDATE channels SET name = coalesce($2, name), settings = coalesce($3, settings), sealed = coalesce($4, sealed), \
                 key_id = coalesce($5, key_id), updated_at = now() WHERE id = $1 RETURNING {COLUMNS}"
            ),
            &[&id, &name, &config.map(|c| &c.settings), &sealed, &key_id],
        )
        .await?
        .ok_or(StoreError::NotFound)?;
    record_from(&row)
}

/// Deletes the channel; false when there was none.
pub async fn delete<C: GenericClient>(tx: &C, id: &str) -> StoreResult<bool> {
    Ok(tx.execute("DELETE FROM channels WHERE id = $1", &[&id]).await? == 1)
}

/// Gives a webhook channel a new secret; the current one keeps signing
/// beside it until `now + overlap`. Answers the record and the new secret
/// (shown once). [`StoreError::NotAWebhook`] for other kinds.
pub async fn rotate_secret<C: GenericClient>(
    tx: &C,
    keyring: &Keyring,
    tenant: TenantId,
    id: &str,
    overlap: chrono::Duration,
) -> StoreResult<(ChannelRecord, String)> {
    let channel = open_for_update(tx, keyring, id).await?;
    let Credentials::Webhook { headers, secret: old } = channel.credentials else {
        return Err(StoreError::NotAWebhook);
    };
    let fresh = new_webhook_secret();
    let (key_id, sealed) = seal(keyring, tenant, id, &Credentials::Webhook { secret: fresh.clone(), headers: headers.clone() })?;
    let (previous_key_id, previous_sealed) = seal(keyring, tenant, id, &Credentials::Webhook { secret: old, headers })?;
    let row = tx
        .query_one(
            &format!(
                "UPDATE channels SET sealed = $2, key_id = $3, previous_sealed = $4, previous_key_id = $5, \
                 previous_until = now() + $6 * interval '1 second', updated_at = now() WHERE id = $1 RETURNING {COLUMNS}"
            ),
            &[&id, &sealed, &key_id, &previous_sealed, &previous_key_id, &(overlap.num_seconds() as f64)],
        )
        .await?;
    Ok((record_from(&row)?, fresh))
}

/// Makes a disabled channel active again and forgets its failure streak.
pub async fn enable<C: GenericClient>(tx: &C, id: &str) -> StoreResult<ChannelRecord> {
    let row = tx
        .query_opt(
            &format!(
                "UPDATE channels SET status = 'active', disabled_reason = NULL, disabled_at = NULL, failing_since = NULL, \
                 failing_warned_at = NULL, updated_at = now() WHERE id = $1 RETURNING {COLUMNS}"
            ),
            &[&id],
        )
        .await?
        .ok_or(StoreError::NotFound)?;
    record_from(&row)
}

/// The ids of the tenant's channels (for checking a rule's fallback chains).
pub async fn ids<C: GenericClient>(tx: &C) -> StoreResult<HashSet<String>> {
    let rows = tx.query("SELECT id FROM channels", &[]).await?;
    rows.iter().map(|r| r.try_get::<_, String>(0).map_err(StoreError::from)).collect()
}

/// The channels named by `(tenant, id)`, opened for sending, across
/// tenants: `tx` must be the notifier's (it declares itself, and row-level
/// security lets it read every tenant's channels, so every key names its
/// tenant). A channel that does not exist is absent from the answer; one
/// whose credentials do not open is there as its error.
pub async fn open_for_sending<C: GenericClient>(
    tx: &C,
    keyring: &Keyring,
    keys: &[(Uuid, String)],
) -> StoreResult<std::collections::HashMap<(Uuid, String), StoreResult<OpenedChannel>>> {
    let (tenants, ids): (Vec<Uuid>, Vec<String>) = keys.iter().cloned().unzip();
    let rows = tx
        .query(
            &format!(
                "SELECT {COLUMNS}, {SEALED_COLUMNS} FROM channels \
                 WHERE (tenant_id, id) IN (SELECT * FROM unnest($1::uuid[], $2::text[]))"
            ),
            &[&tenants, &ids],
        )
        .await?;
    let mut opened = std::collections::HashMap::with_capacity(rows.len());
    for row in &rows {
        let tenant: Uuid = row.try_get("tenant_id")?;
        let id: String = row.try_get("id")?;
        opened.insert((tenant, id), opened_from(keyring, row));
    }
    Ok(opened)
}
