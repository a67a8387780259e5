//! `GET /v1/stats/event-types`: how many events of each type, per hour or
//! day, from the hourly counts the projector keeps with the events.

use actix_web::{HttpRequest, get, web};
use chrono::{DateTime, Duration, DurationRound, Utc};
use serde::{Deserialize, Serialize};
use signalops_platform::postgres::begin_tenant_tx;
use utoipa::{IntoParams, ToSchema};

use crate::problem::{ApiError, ApiResult, FieldError, Problem};
use crate::state::AppState;
use crate::tail::auth::caller_tenant;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Bucket {
    #[default]
    Hour,
    Day,
}

impl Bucket {
    fn width(self) -> Duration {
        match self {
            Self::Hour => Duration::hours(1),
            Self::Day => Duration::days(1),
        }
    }

    /// The widest range one request may ask for (bounds the answer's size).
    fn max_range(self) -> Duration {
        match self {
            Self::Hour => Duration::days(31),
            Self::Day => Duration::days(366),
        }
    }
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct StatsQuery {
    /// Start (RFC 3339), rounded down to the bucket; default: 24 buckets ago.
    pub from: Option<DateTime<Utc>>,
    /// End (RFC 3339, exclusive), rounded up to the bucket; default: now.
    pub to: Option<DateTime<Utc>>,
    /// `hour` (default, at most 31 days) or `day` (at most 366 days); buckets are UTC.
    pub bucket: Option<Bucket>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TypeCount {
    #[serde(rename = "type")]
    pub event_type: String,
    pub bucket_start: DateTime<Utc>,
    pub count: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EventTypeStats {
    pub bucket: Bucket,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// Non-empty buckets only, by bucket then type.
    pub items: Vec<TypeCount>,
}

/// The range actually counted: whole buckets covering the request.
fn range(query: &StatsQuery, now: DateTime<Utc>) -> Result<(Bucket, DateTime<Utc>, DateTime<Utc>), ApiError> {
    let bucket = query.bucket.unwrap_or_default();
    for (field, value) in [("from", &query.from), ("to", &query.to)] {
        if value.as_ref().is_some_and(|at| !crate::pagination::rfc3339_year(at)) {
            return Err(ApiError::field(field, "must be an RFC 3339 time with a four-digit year"));
        }
    }
    let width = bucket.width();
    let round_down = |at: DateTime<Utc>| at.duration_trunc(width).map_err(|_| ApiError::field("from", "is out of range"));
    let to = query.to.unwrap_or(now);
    let to_start = round_down(to)?;
    let to = if to_start == to { to } else { to_start + width };
    let from = round_down(query.from.unwrap_or(to - width * 24))?;
    if from >= to {
        return Err(ApiError::field("to", "must be after from"));
    }
    if to - from > bucket.max_range() {
        let days = bucket.max_range().num_days();
        return Err(ApiError::Validation(vec![FieldError::new(
            "from",
            format!("the range may span at most {days} days with this bucket"),
        )]));
    }
    Ok((bucket, from, to))
}

/// Event counts per type and hour or day.
#[utoipa::path(
    tag = "events",
    params(StatsQuery),
    responses(
        (status = 200, body = EventTypeStats),
        (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem), (status = 422, body = Problem)
    ),
    security(("api_key" = []), ("bearer" = []))
)]
#[get("/stats/event-types")]
#[tracing::instrument(skip_all, fields(tenant_id = tracing::field::Empty))]
pub async fn event_type_stats(
    request: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<StatsQuery>,
) -> ApiResult<web::Json<EventTypeStats>> {
    let tenant = caller_tenant(&request, &state).await?;
    tracing::Span::current().record("tenant_id", tracing::field::display(tenant));
    let (bucket, from, to) = range(&query, Utc::now())?;
    let unit = match bucket {
        Bucket::Hour => "hour",
        Bucket::Day => "day",
    };
    let mut client = state.pool.get().await?;
    let tx = begin_tenant_tx(&mut client, tenant).await?;
    super::use_serving_read_model(&tx).await?;
    let rows = tx
        .query(
            "SELECT type, date_trunc($1, hour, 'UTC') AS bucket_start, sum(count)::bigint FROM event_type_counts \
             WHERE hour >= $2 AND hour < $3 GROUP BY 1, 2 ORDER BY 2, 1",
            &[&unit, &from, &to],
        )
        .await?;
    tx.commit().await?;
    let items = rows
        .iter()
        .map(|r| Ok(TypeCount { event_type: r.try_get(0)?, bucket_start: r.try_get(1)?, count: r.try_get(2)? }))
        .collect::<Result<Vec<_>, tokio_postgres::Error>>()?;
    Ok(web::Json(EventTypeStats { bucket, from, to, items }))
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn at(h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 1, h, m, 0).single().expect("valid")
    }

    #[test]
    fn ranges_cover_whole_buckets() {
        let query = StatsQuery { from: Some(at(3, 30)), to: Some(at(5, 10)), bucket: None };
        let (bucket, from, to) = range(&query, at(12, 0)).expect("range");
        assert_eq!((bucket, from, to), (Bucket::Hour, at(3, 0), at(6, 0)));
        let (_, from, to) = range(&StatsQuery::default(), at(12, 15)).expect("default");
        assert_eq!((from, to), (at(13, 0) - Duration::hours(24), at(13, 0)));
    }

    #[test]
    fn inverted_and_oversized_ranges_are_refused() {
        let inverted = StatsQuery { from: Some(at(5, 0)), to: Some(at(4, 0)), bucket: None };
        assert!(matches!(range(&inverted, at(12, 0)), Err(ApiError::Validation(_))));
        let huge = StatsQuery { from: Some(at(0, 0) - Duration::days(40)), to: Some(at(0, 0)), bucket: Some(Bucket::Hour) };
        assert!(matches!(range(&huge, at(12, 0)), Err(ApiError::Validation(_))));
        let by_day = StatsQuery { bucket: Some(Bucket::Day), ..huge };
        assert!(range(&by_day, at(12, 0)).is_ok());
    }
}
