//! Where a tail starts: `from` (`now` or an RFC 3339 time), per-partition
//! `offsets`, and the `Last-Event-ID` resume point. Parsing is pure so every
//! rule is unit-tested; resolving against the broker happens in `reader`.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use crate::problem::ApiError;

/// The starting point for partitions without an explicit offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartFrom {
    /// Only records appended after the stream opened.
    Now,
    /// The first record at or after this time (Kafka record timestamps).
    Time(DateTime<Utc>),
}

/// Everything the client asked for, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartRequest {
    pub from: StartFrom,
    /// Partition → first offset to read.
    pub offsets: BTreeMap<i32, i64>,
}

impl StartRequest {
    /// Parses the query parameters and the `Last-Event-ID` header; each
    /// invalid input is a 422 naming it. `Last-Event-ID` wins for its
    /// partition because it is where this client actually stopped.
    pub fn parse(from: Option<&str>, offsets: Option<&str>, last_event_id: Option<&str>) -> Result<Self, ApiError> {
        let from = parse_from(from)?;
        let mut offsets = match offsets {
            Some(raw) => parse_offsets(raw)?,
            None => BTreeMap::new(),
        };
        if let Some(raw) = last_event_id {
            let (partition, offset) = parse_pair(raw.trim())
                .ok_or_else(|| ApiError::field("Last-Event-ID", "must be <partition>:<offset> as sent in the id of a frame, e.g. 1:42"))?;
            // Resume right after the last event the client saw.
            offsets.insert(partition, offset.saturating_add(1));
        }
        Ok(Self { from, offsets })
    }
}

fn parse_from(raw: Option<&str>) -> Result<StartFrom, ApiError> {
    match raw.map(str::trim) {
        None | Some("now") => Ok(StartFrom::Now),
        Some(text) => DateTime::parse_from_rfc3339(text)
            .map(|at| StartFrom::Time(at.with_timezone(&Utc)))
            .map_err(|_| ApiError::field("from", "must be now or an RFC 3339 time, e.g. 2026-11-22T10:00:00Z")),
    }
}

/// Maximum number of `offsets` entries; far above any partition count we run.
const MAX_OFFSET_ENTRIES: usize = 1024;

fn parse_offsets(raw: &str) -> Result<BTreeMap<i32, i64>, ApiError> {
    let invalid = || ApiError::field("offsets", "must be a comma-separated list of <partition>:<offset>, e.g. 0:120,1:0,2:55");
    let mut offsets = BTreeMap::new();
    for entry in raw.split(',') {
        let (partition, offset) = parse_pair(entry.trim()).ok_or_else(invalid)?;
        if offsets.insert(partition, offset).is_some() {
            return Err(ApiError::field("offsets", format!("partition {partition} appears twice")));
        }
    }
    if offsets.len() > MAX_OFFSET_ENTRIES {
        return Err(invalid());
    }
    Ok(offsets)
}

/// `<partition>:<offset>`, both non-negative.
fn parse_pair(text: &str) -> Option<(i32, i64)> {
    let (partition, offset) = text.split_once(':')?;
    let partition: i32 = partition.parse().ok()?;
    let offset: i64 = offset.parse().ok()?;
    (partition >= 0 && offset >= 0).then_some((partition, offset))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field_of(error: ApiError) -> String {
        match error {
            ApiError::Validation(errors) => errors[0].field.clone(),
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn defaults_to_now_without_offsets() {
        assert_eq!(StartRequest::parse(None, None, None).expect("valid"), StartRequest { from: StartFrom::Now, offsets: BTreeMap::new() });
        assert_eq!(StartRequest::parse(Some("now"), None, None).expect("valid").from, StartFrom::Now);
    }

    #[test]
    fn from_accepts_rfc3339_in_any_offset() {
        let parsed = StartRequest::parse(Some("2026-11-22T11:00:00+01:00"), None, None).expect("valid");
        assert_eq!(parsed.from, StartFrom::Time("2026-11-22T10:00:00Z".parse().expect("time")));
    }

    #[test]
    fn offsets_are_parsed_per_partition() {
        let parsed = StartRequest::parse(None, Some("0:120, 1:0,2:55"), None).expect("valid");
        assert_eq!(parsed.offsets, BTreeMap::from([(0, 120), (1, 0), (2, 55)]));
    }

    #[test]
    fn last_event_id_resumes_after_the_seen_offset_and_wins_for_its_partition() {
        let parsed = StartRequest::parse(None, Some("0:5,1:7"), Some("1:41")).expect("valid");
        assert_eq!(parsed.offsets, BTreeMap::from([(0, 5), (1, 42)]));
    }

    #[test]
    fn bad_inputs_are_422_naming_the_field() {
        for (from, offsets, last, field) in [
            (Some("yesterday"), None, None, "from"),
            (Some("2026-11-22"), None, None, "from"),
            (None, Some(""), None, "offsets"),
            (None, Some("0"), None, "offsets"),
            (None, Some("0:-1"), None, "offsets"),
            (None, Some("-1:0"), None, "offsets"),
            (None, Some("a:b"), None, "offsets"),
            (None, Some("0:1,0:2"), None, "offsets"),
            (None, None, Some("abc"), "Last-Event-ID"),
        ] {
            let error = StartRequest::parse(from, offsets, last).expect_err("invalid");
            assert_eq!(field_of(error), field, "{from:?} {offsets:?} {last:?}");
        }
    }
}
