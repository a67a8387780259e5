//! `GET /v1/events` (filters, cursor pages) and `GET /v1/events/{id}`.

use actix_web::{HttpRequest, get, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
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
    /// The event's data as stored (`jsonb`: keys sorted, numbers in plain
    /// notation); data of a non-JSON media type is `{"base64": "…"}`.
    #[schema(value_type = Option<serde_json::Value>)]
    pub data: Option<Box<RawValue>>,
    pub schema_version: i32,
    /// Where the event is in `signalops.events.v1`.
    pub partition: i32,
    pub offset: i64,
}

impl TryFrom<&Row> for StoredEvent {
    type Error = ApiError;

    fn try_from(r: &Row) -> Result<Self, ApiError> {
        // Data is read as the text Postgres prints: no reparse into a tree,
        // so any depth or number the column holds reads back.
        let data: Option<String> = r.try_get(7)?;
        let data =
            data.map(RawValue::from_string).transpose().map_err(|e| ApiError::Internal(anyhow::anyhow!("stored data is not JSON: {e}")))?;
        Ok(Self {
            id: r.try_get(0)?,
            event_type: r.try_get(1)?,
            source: r.try_get(2)?,
            subject: r.try_get(3)?,
            time: r.try_get(4)?,
            received_at: r.try_get(5)?,
            data_content_type: r.try_get(6)?,
            data,
            schema_version: r.try_get(8)?,
            partition: r.try_get(9)?,
            offset: r.try_get(10)?,
        })
    }
}

const COLUMNS: &str =
    "id, type, source, subject, time, received_at, data_content_type, data::text, schema_version, kafka_partition, kafka_offset";

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
            if value.as_ref().is_some_and(|v| v.is_empty() || v.len() > 128 || v.chars().any(char::is_control)) {
                errors.push(crate::problem::FieldError::new(field, "must be 1-128 characters, none of them control characters"));
            }
        }
        if self.subject.as_ref().is_some_and(|s| s.len() > 256 || s.chars().any(char::is_control)) {
            errors.push(crate::problem::FieldError::new("subject", "must be at most 256 bytes, without control characters"));
        }
        for (field, value) in [("from", &self.from), ("to", &self.to)] {
            if value.as_ref().is_some_and(|at| !crate::pagination::rfc3339_year(at)) {
                errors.push(crate::problem::FieldError::new(field, "must be an RFC 3339 time with a four-digit year"));
            }
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
    let events = rows.iter().map(StoredEvent::try_from).collect::<Result<Vec<_>, _>>()?;
    Ok(web::Json(Page::from_rows(events, limit, |e: &StoredEvent| (e.time, e.id.clone()))))
}

/// One event by id (the client's id or the gateway's UUIDv7).
#[utoipa::path(
    tag = "events",
    params(("id" = String, Path, description = "event id: 1-128 printable ASCII characters")),
    responses(
        (status = 200, body = StoredEvent), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 422, body = Problem, description = "the id cannot be an event id")
    ),
    security(("api_key" = []), ("bearer" = []))
)]
#[get("/events/{id}")]
#[tracing::instrument(skip_all, fields(tenant_id = tracing::field::Empty))]
pub async fn get_event(request: HttpRequest, state: web::Data<AppState>, id: web::Path<String>) -> ApiResult<web::Json<StoredEvent>> {
    let tenant = caller_tenant(&request, &state).await?;
    tracing::Span::current().record("tenant_id", tracing::field::display(tenant));
    if !crate::ingest::event_input::valid_id(&id) {
        return Err(ApiError::field("id", "must be 1-128 printable ASCII characters, as event ids are"));
    }
    let mut client = state.pool.get().await?;
    let tx = begin_tenant_tx(&mut client, tenant).await?;
    super::use_serving_read_model(&tx).await?;
    // Ids are unique per tenant in practice; should a client reuse one, the
    // newest event wins.
    let row = tx.query_opt(&format!("SELECT {COLUMNS} FROM events WHERE id = $1 ORDER BY time DESC LIMIT 1"), &[&id.as_str()]).await?;
    tx.commit().await?;
    row.as_ref().map(StoredEvent::try_from).transpose()?.map(web::Json).ok_or(ApiError::NotFound)
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
