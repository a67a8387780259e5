//! `GET /v1/events` (filters, cursor pages) and `GET /v1/events/{id}`.

use actix_web::{HttpRequest, get, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use signalops_platform::postgres::begin_tenant_tx;
use tokio_postgres::Row;
use utoipa::{IntoParams, ToSchema};

use crate::pagination::{Page, decode};
use crate::problem::{ApiError, ApiResult, Problem};
use crate::state::AppState;
use crate::tail::auth::caller_tenant;

/// One projected event.
#[derive(Debug, Serialize, ToSchema)]
pub struct StoredEvent {
    pub id: String,
    #[serde(rename = "type")]
    pub event_type: String,
    pub source: String,
    pub subject: Option<String>,
    pub time: DateTime<Utc>,
    pub received_at: DateTime<Utc>,
    pub data_content_type: String,
    /// The event's data; data of a non-JSON media type is `{"base64": "…"}`.
    pub data: Option<serde_json::Value>,
    pub schema_version: i32,
    /// Where the event is in `signalops.events.v1`.
    pub partition: i32,
    pub offset: i64,
}

impl From<&Row> for StoredEvent {
    fn from(r: &Row) -> Self {
        Self {
            id: r.get(0),
            event_type: r.get(1),
            source: r.get(2),
            subject: r.get(3),
            time: r.get(4),
            received_at: r.get(5),
            data_content_type: r.get(6),
            data: r.get(7),
            schema_version: r.get(8),
            partition: r.get(9),
            offset: r.get(10),
        }
    }
}

const COLUMNS: &str =
    "id, type, source, subject, time, received_at, data_content_type, data, schema_version, kafka_partition, kafka_offset";

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct EventFilter {
    /// Exact event type.
    #[serde(rename = "type")]
    pub event_type: Option<String>,
    /// Types starting with this, e.g. `invoice.`.
    pub type_prefix: Option<String>,
    pub subject: Option<String>,
    /// Events at or after this time (RFC 3339).
    pub from: Option<DateTime<Utc>>,
    /// Events before this time (RFC 3339).
    pub to: Option<DateTime<Utc>>,
    /// Items per page (1 to the server's maximum, default 50).
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

impl EventFilter {
    fn check(&self, max_limit: u32) -> Result<u32, ApiError> {
        let mut errors = Vec::new();
        for (field, value) in [("type", &self.event_type), ("type_prefix", &self.type_prefix)] {
            if value.as_ref().is_some_and(|v| v.is_empty() || v.len() > 128) {
                errors.push(crate::problem::FieldError::new(field, "must be 1-128 characters"));
            }
        }
        if self.subject.as_ref().is_some_and(|s| s.len() > 256) {
            errors.push(crate::problem::FieldError::new("subject", "must be at most 256 characters"));
        }
        if let (Some(from), Some(to)) = (self.from, self.to)
            && from >= to
        {
            errors.push(crate::problem::FieldError::new("to", "must be after from"));
        }
        let limit = match self.limit {
            None => crate::pagination::DEFAULT_LIMIT.min(max_limit),
            Some(limit) if (1..=max_limit).contains(&limit) => limit,
            Some(_) => {
                errors.push(crate::problem::FieldError::new("limit", format!("must be between 1 and {max_limit}")));
                0
            }
        };
        if errors.is_empty() { Ok(limit) } else { Err(ApiError::Validation(errors)) }
    }
}

/// The position of the last row of a page.
type Cursor = (DateTime<Utc>, String);

/// The tenant's events, newest first, filtered, in pages.
#[utoipa::path(
    tag = "events",
    params(EventFilter),
    responses(
        (status = 200, body = Page<StoredEvent>),
        (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem), (status = 422, body = Problem)
    ),
    security(("api_key" = []), ("bearer" = []))
)]
#[get("/events")]
#[tracing::instrument(skip_all, fields(tenant_id = tracing::field::Empty))]
pub async fn list_events(
    request: HttpRequest,
    state: web::Data<AppState>,
    filter: web::Query<EventFilter>,
) -> ApiResult<web::Json<Page<StoredEvent>>> {
    let tenant = caller_tenant(&request, &state).await?;
    tracing::Span::current().record("tenant_id", tracing::field::display(tenant));
    let limit = filter.check(state.config.api.max_page_size)?;
    let after: Option<Cursor> = filter.cursor.as_deref().map(decode).transpose()?;
    let (after_time, after_id) = after.unzip();
    let mut client = state.pool.get().await?;
    let tx = begin_tenant_tx(&mut client, tenant).await?;
    super::use_serving_read_model(&tx).await?;
    let sql = format!(
        "SELECT {COLUMNS} FROM events \
         WHERE ($1::text IS NULL OR type = $1) AND ($2::text IS NULL OR starts_with(type, $2)) \
           AND ($3::text IS NULL OR subject = $3) AND ($4::timestamptz IS NULL OR time >= $4) AND ($5::timestamptz IS NULL OR time < $5) \
           AND ($6::timestamptz IS NULL OR (time, id) < ($6, $7::text)) \
         ORDER BY time DESC, id DESC LIMIT $8"
    );
    let rows = tx
        .query(
            &sql,
            &[
                &filter.event_type,
                &filter.type_prefix,
                &filter.subject,
                &filter.from,
                &filter.to,
                &after_time,
                &after_id,
                &(i64::from(limit) + 1),
            ],
        )
        .await?;
    tx.commit().await?;
    let events = rows.iter().map(StoredEvent::from).collect();
    Ok(web::Json(Page::from_rows(events, limit, |e: &StoredEvent| (e.time, e.id.clone()))))
}

/// One event by id (the client's id or the gateway's UUIDv7).
#[utoipa::path(
    tag = "events",
    params(("id" = String, Path, description = "event id")),
    responses((status = 200, body = StoredEvent), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)),
    security(("api_key" = []), ("bearer" = []))
)]
#[get("/events/{id}")]
#[tracing::instrument(skip_all, fields(tenant_id = tracing::field::Empty))]
pub async fn get_event(request: HttpRequest, state: web::Data<AppState>, id: web::Path<String>) -> ApiResult<web::Json<StoredEvent>> {
    let tenant = caller_tenant(&request, &state).await?;
    tracing::Span::current().record("tenant_id", tracing::field::display(tenant));
    let mut client = state.pool.get().await?;
    let tx = begin_tenant_tx(&mut client, tenant).await?;
    super::use_serving_read_model(&tx).await?;
    // Ids are unique per tenant in practice; should a client reuse one, the
    // newest event wins.
    let row = tx.query_opt(&format!("SELECT {COLUMNS} FROM events WHERE id = $1 ORDER BY time DESC LIMIT 1"), &[&id.as_str()]).await?;
    tx.commit().await?;
    row.as_ref().map(StoredEvent::from).map(web::Json).ok_or(ApiError::NotFound)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pagination::encode;

    #[test]
    fn filters_name_every_bad_field() {
        let filter = EventFilter {
            event_type: Some(String::new()),
            from: Some(Utc::now()),
            to: Some(Utc::now() - chrono::Duration::hours(1)),
            limit: Some(0),
            ..EventFilter::default()
        };
        let Err(ApiError::Validation(errors)) = filter.check(200) else { panic!("refused") };
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, vec!["type", "to", "limit"]);
        assert_eq!(EventFilter::default().check(200).ok(), Some(50));
    }

    #[test]
    fn cursors_carry_time_and_id() {
        let key: Cursor = (Utc::now(), "e1".into());
        assert_eq!(decode::<Cursor>(&encode(&key)).ok(), Some(key));
    }
}
