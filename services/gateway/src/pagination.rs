//! Cursor pagination for every list: an opaque cursor (base64url of the last
//! row's sort key) and a bounded `limit`. Rows are ordered by a unique key,
//! so pages never repeat or skip rows.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::problem::ApiError;

pub const DEFAULT_LIMIT: u32 = 50;

#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Items per page (1 to the server's maximum, default 50).
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

impl PageQuery {
    /// The limit to use, refusing out-of-range values instead of clamping
    /// them silently.
    pub fn limit(&self, max: u32) -> Result<u32, ApiError> {
        match self.limit {
            None => Ok(DEFAULT_LIMIT.min(max)),
            Some(limit) if (1..=max).contains(&limit) => Ok(limit),
            Some(_) => Err(ApiError::field("limit", format!("must be between 1 and {max}"))),
        }
    }

    pub fn after<K: CursorKey>(&self) -> Result<Option<K>, ApiError> {
        self.cursor.as_deref().map(decode).transpose()
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// Builds a page from `limit + 1` fetched rows: the extra row only says
    /// whether another page exists.
    pub fn from_rows<K: Serialize>(mut rows: Vec<T>, limit: u32, key_of: impl Fn(&T) -> K) -> Self {
        let limit = limit as usize;
        let more = rows.len() > limit;
        rows.truncate(limit);
        let next_cursor = if more { rows.last().map(|last| encode(&key_of(last))) } else { None };
        Self { items: rows, next_cursor }
    }
}

pub fn encode<K: Serialize>(key: &K) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(key).unwrap_or_default())
}

/// A cursor is client input that reaches SQL: `decode` accepts only keys
/// the database can compare (no NUL in text, RFC 3339 years), so a forged
/// cursor is a 422 like any other, never a database error.
pub trait CursorKey: DeserializeOwned {
    fn storable(&self) -> bool;
}

impl CursorKey for i64 {
    fn storable(&self) -> bool {
        true
    }
}

impl CursorKey for uuid::Uuid {
    fn storable(&self) -> bool {
        true
    }
}

impl CursorKey for String {
    fn storable(&self) -> bool {
        self.len() <= 1024 && !self.contains('\0')
    }
}

impl CursorKey for chrono::DateTime<chrono::Utc> {
    fn storable(&self) -> bool {
        rfc3339_year(self)
    }
}

impl<A: CursorKey, B: CursorKey> CursorKey for (A, B) {
    fn storable(&self) -> bool {
        self.0.storable() && self.1.storable()
    }
}

/// RFC 3339 years have four digits; outside them Postgres may refuse the time.
pub fn rfc3339_year(at: &chrono::DateTime<chrono::Utc>) -> bool {
    use chrono::Datelike as _;
    (0..=9999).contains(&at.year())
}

pub fn decode<K: CursorKey>(cursor: &str) -> Result<K, ApiError> {
    URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|bytes| serde_json::from_slice::<K>(&bytes).ok())
        .filter(CursorKey::storable)
        .ok_or_else(|| ApiError::field("cursor", "is not a cursor returned by this list"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_garbage_is_a_field_error() {
        let key = ("2026-11-22T00:00:00Z".to_owned(), uuid::Uuid::nil());
        assert_eq!(decode::<(String, uuid::Uuid)>(&encode(&key)).expect("decodes"), key);
        assert!(matches!(decode::<(String, uuid::Uuid)>("%%%"), Err(ApiError::Validation(_))));
        assert!(matches!(decode::<(String, uuid::Uuid)>(&encode(&42)), Err(ApiError::Validation(_))));
    }

    #[test]
    fn forged_cursors_with_keys_sql_would_refuse_are_field_errors() {
        let nul = ("a\u{0}b".to_owned(), uuid::Uuid::nil());
        assert!(matches!(decode::<(String, uuid::Uuid)>(&encode(&nul)), Err(ApiError::Validation(_))));
        let ancient = URL_SAFE_NO_PAD.encode(br#"["-200000-01-01T00:00:00Z", "e1"]"#);
        assert!(matches!(decode::<(chrono::DateTime<chrono::Utc>, String)>(&ancient), Err(ApiError::Validation(_))));
    }

    #[test]
    fn a_page_has_a_cursor_only_when_more_rows_exist() {
        let page = Page::from_rows(vec![1_i64, 2, 3], 2, |n| *n);
        assert_eq!(page.items, vec![1, 2]);
        assert_eq!(page.next_cursor.map(|c| decode::<i64>(&c).expect("cursor")), Some(2));
        assert!(Page::from_rows(vec![1, 2], 2, |n| *n).next_cursor.is_none());
    }

    #[test]
    fn limits_out_of_range_are_refused() {
        assert_eq!(PageQuery::default().limit(200).expect("default"), 50);
        assert!(PageQuery { limit: Some(0), cursor: None }.limit(200).is_err());
        assert!(PageQuery { limit: Some(201), cursor: None }.limit(200).is_err());
    }
}
