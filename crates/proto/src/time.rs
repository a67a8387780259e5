//! Conversions between chrono and protobuf timestamps.

use chrono::{DateTime, TimeZone, Utc};
use prost_types::Timestamp;

pub fn to_timestamp(at: DateTime<Utc>) -> Timestamp {
    Timestamp { seconds: at.timestamp(), nanos: i32::try_from(at.timestamp_subsec_nanos()).unwrap_or(0) }
}

/// `None` when the timestamp is outside chrono's range (a corrupt record).
pub fn from_timestamp(ts: &Timestamp) -> Option<DateTime<Utc>> {
    let nanos = u32::try_from(ts.nanos).ok()?;
    Utc.timestamp_opt(ts.seconds, nanos).single()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_round_trip_to_the_nanosecond() {
        let now = Utc::now();
        assert_eq!(from_timestamp(&to_timestamp(now)), Some(now));
    }

    #[test]
    fn negative_nanos_are_rejected() {
        assert_eq!(from_timestamp(&Timestamp { seconds: 1, nanos: -5 }), None);
    }
}
