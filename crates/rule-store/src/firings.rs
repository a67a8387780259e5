//! Reading the firings the rules group recorded for a rule.

use chrono::{DateTime, Utc};
use tokio_postgres::GenericClient;
use uuid::Uuid;

use crate::error::StoreResult;
use crate::records::{FIRING_COLUMNS, FiringRecord, firing_from};
use crate::versions::require_rule;

/// The position of a firing in [`list`]: `((received_at, event id), version)`.
pub type FiringKey = ((DateTime<Utc>, String), i64);

/// The firings of a rule that is not deleted (all its versions), newest
/// first, at most `limit` after `after`. The order is unique: a rule
/// version decides once per event.
pub async fn list<C: GenericClient>(tx: &C, rule_id: Uuid, after: Option<FiringKey>, limit: i64) -> StoreResult<Vec<FiringRecord>> {
    require_rule(tx, rule_id).await?;
    let ((after_at, after_event), after_version) = match after {
        Some(((at, event), version)) => ((Some(at), Some(event)), Some(version)),
        None => ((None, None), None),
    };
    let sql = format!(
        "SELECT {FIRING_COLUMNS} FROM rule_firings WHERE rule_id = $1 \
           AND ($2::timestamptz IS NULL OR (received_at, event_id, version) < ($2, $3::text, $4::bigint)) \
         ORDER BY received_at DESC, event_id DESC, version DESC LIMIT $5"
    );
    let rows = tx.query(&sql, &[&rule_id, &after_at, &after_event, &after_version, &limit]).await?;
    rows.iter().map(firing_from).collect()
}

/// The key of `firing` in [`list`].
pub fn list_key(firing: &FiringRecord) -> FiringKey {
    ((firing.received_at, firing.event_id.clone()), i64::from(firing.version))
}
