//! Window and throttle state in `rule_states`: one row per rule version,
//! kind and key, keyed by the SHA-256 of the key text (keys can be long JSON
//! texts). A batch loads every state its events touch in one query per
//! tenant, carries them across its events in memory, and writes back the
//! ones that changed, each with the instant after which it can no longer
//! change a verdict (`expires_at`).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use signalops_platform::TenantId;
use signalops_platform::consumer::Transaction;
use signalops_rule_engine::{CompiledRule, StateKey, ThrottleState, WindowState};
use uuid::Uuid;

/// Which state of a rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Window,
    Throttle,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Window => "window",
            Kind::Throttle => "throttle",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        match text {
            "window" => Some(Kind::Window),
            "throttle" => Some(Kind::Throttle),
            _ => None,
        }
    }
}

/// One state: a rule version, a kind and a key. Window and throttle state
/// belong to a version, so a new version of a rule starts empty (ADR 0025).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StateId {
    pub rule_id: Uuid,
    pub version: u32,
    pub kind: Kind,
    pub digest: [u8; 32],
    pub key: String,
}

impl StateId {
    /// The state `rule` uses for `key`, when it uses one.
    pub fn of(rule: &CompiledRule, kind: Kind, key: &StateKey) -> Option<Self> {
        let StateKey::Key(key) = key else { return None };
        let r = rule.rule();
        Some(StateId { rule_id: r.id, version: r.version, kind, digest: Sha256::digest(key.as_bytes()).into(), key: key.clone() })
    }
}

/// A state's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Window(WindowState),
    Throttle(ThrottleState),
}

#[derive(Debug)]
struct Entry {
    value: Value,
    expires_at: Option<DateTime<Utc>>,
    dirty: bool,
}

/// The states of one tenant during one batch.
#[derive(Debug, Default)]
pub struct StateCache {
    entries: HashMap<StateId, Entry>,
}

impl StateCache {
    pub fn window(&self, id: Option<&StateId>) -> WindowState {
        match id.and_then(|id| self.entries.get(id)).map(|e| &e.value) {
            Some(Value::Window(w)) => w.clone(),
            _ => WindowState::default(),
        }
    }

    pub fn throttle(&self, id: Option<&StateId>) -> ThrottleState {
        match id.and_then(|id| self.entries.get(id)).map(|e| &e.value) {
            Some(Value::Throttle(t)) => t.clone(),
            _ => ThrottleState::default(),
        }
    }

    /// Stores a state the firing step changed.
    pub fn put(&mut self, id: StateId, value: Value, expires_at: Option<DateTime<Utc>>) {
        self.entries.insert(id, Entry { value, expires_at, dirty: true });
    }

    fn loaded(&mut self, id: StateId, value: Value) {
        self.entries.insert(id, Entry { value, expires_at: None, dirty: false });
    }

    /// The changed states, for writing.
    pub fn dirty(&self) -> impl Iterator<Item = (&StateId, &Value, DateTime<Utc>)> {
        self.entries.iter().filter(|(_, e)| e.dirty).filter_map(|(id, e)| e.expires_at.map(|at| (id, &e.value, at)))
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

const LOAD_SQL: &str = "SELECT s.rule_id, s.version, s.kind, s.key, s.state::text FROM rule_states s \
    JOIN unnest($2::uuid[], $3::int[], $4::text[], $5::bytea[]) AS k(rule_id, version, kind, key_digest) \
    ON s.rule_id = k.rule_id AND s.version = k.version AND s.kind = k.kind AND s.key_digest = k.key_digest \
    WHERE s.tenant_id = $1";

const UPSERT_SQL: &str = "INSERT INTO rule_states (tenant_id, rule_id, version, kind, key_digest, key, state, expires_at) \
    SELECT $1, r, v, k, d, t, s::jsonb, e \
    FROM unnest($2::uuid[], $3::int[], $4::text[], $5::bytea[], $6::text[], $7::text[], $8::timestamptz[]) AS x(r, v, k, d, t, s, e) \
    ON CONFLICT (tenant_id, rule_id, version, kind, key_digest) \
    DO UPDATE SET state = EXCLUDED.state, expires_at = EXCLUDED.expires_at";

const EXPIRE_SQL: &str = "DELETE FROM rule_states WHERE tenant_id = $1 AND expires_at < $2";

fn version_param(version: u32) -> i32 {
    i32::try_from(version).unwrap_or(i32::MAX)
}

/// Loads the stored states among `ids` (one query). The transaction's
/// tenant must be `tenant`.
pub async fn load(tx: &Transaction<'_>, tenant: TenantId, ids: &[StateId]) -> Result<StateCache, tokio_postgres::Error> {
    let mut cache = StateCache::default();
    if ids.is_empty() {
        return Ok(cache);
    }
    let rules: Vec<Uuid> = ids.iter().map(|i| i.rule_id).collect();
    let versions: Vec<i32> = ids.iter().map(|i| version_param(i.version)).collect();
    let kinds: Vec<&str> = ids.iter().map(|i| i.kind.as_str()).collect();
    let digests: Vec<&[u8]> = ids.iter().map(|i| &i.digest[..]).collect();
    let statement = tx.prepare_cached(LOAD_SQL).await?;
    for row in tx.query(&statement, &[&tenant.as_uuid(), &rules, &versions, &kinds, &digests]).await? {
        let rule_id: Uuid = row.try_get(0)?;
        let version: i32 = row.try_get(1)?;
        let kind: String = row.try_get(2)?;
        let key: String = row.try_get(3)?;
        let state: String = row.try_get(4)?;
        let (Some(kind), Ok(version)) = (Kind::parse(&kind), u32::try_from(version)) else { continue };
        let value = match kind {
            Kind::Window => serde_json::from_str(&state).map(Value::Window),
            Kind::Throttle => serde_json::from_str(&state).map(Value::Throttle),
        };
        let id = StateId { rule_id, version, kind, digest: Sha256::digest(key.as_bytes()).into(), key };
        match value {
            Ok(value) => cache.loaded(id, value),
            // Written by this service: only a bug gets here. The state
            // starts over rather than stopping the tenant's rules.
            Err(error) => {
                tracing::warn!(tenant = %tenant, rule = %rule_id, kind = kind.as_str(), %error, "stored rule state does not parse; it starts empty")
            }
        }
    }
    Ok(cache)
}

/// Writes the changed states back, then deletes the tenant's states that
/// expired before `expired_before`.
pub async fn store(
    tx: &Transaction<'_>,
    tenant: TenantId,
    cache: &StateCache,
    expired_before: Option<DateTime<Utc>>,
) -> Result<(), tokio_postgres::Error> {
    let dirty: Vec<_> = cache.dirty().collect();
    if !dirty.is_empty() {
        let rules: Vec<Uuid> = dirty.iter().map(|(i, ..)| i.rule_id).collect();
        let versions: Vec<i32> = dirty.iter().map(|(i, ..)| version_param(i.version)).collect();
        let kinds: Vec<&str> = dirty.iter().map(|(i, ..)| i.kind.as_str()).collect();
        let digests: Vec<&[u8]> = dirty.iter().map(|(i, ..)| &i.digest[..]).collect();
        let keys: Vec<&str> = dirty.iter().map(|(i, ..)| i.key.as_str()).collect();
        let states: Vec<String> = dirty
            .iter()
            // Timestamps and lists serialise; an empty text would only make
            // Postgres refuse the batch, never store a wrong state.
            .map(|(_, v, _)| match v {
                Value::Window(w) => serde_json::to_string(w).unwrap_or_default(),
                Value::Throttle(t) => serde_json::to_string(t).unwrap_or_default(),
            })
            .collect();
        let expires: Vec<DateTime<Utc>> = dirty.iter().map(|(.., at)| *at).collect();
        let statement = tx.prepare_cached(UPSERT_SQL).await?;
        tx.execute(&statement, &[&tenant.as_uuid(), &rules, &versions, &kinds, &digests, &keys, &states, &expires]).await?;
    }
    if let Some(before) = expired_before {
        let statement = tx.prepare_cached(EXPIRE_SQL).await?;
        tx.execute(&statement, &[&tenant.as_uuid(), &before]).await?;
    }
    Ok(())
}
