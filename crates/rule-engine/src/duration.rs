//! Durations as rules write them: a whole number and a unit, `30s`, `10m`,
//! `2h`, `1d`, between [`MIN_DURATION_SECONDS`] and [`MAX_DURATION_SECONDS`].

use std::fmt;
use std::str::FromStr;

use chrono::TimeDelta;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::limits::{MAX_DURATION_SECONDS, MIN_DURATION_SECONDS};

/// A bounded duration that keeps the unit it was written with, so it
/// serialises back to the same text.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RuleDuration {
    amount: u32,
    unit: Unit,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Unit {
    Seconds,
    Minutes,
    Hours,
    Days,
}

impl Unit {
    fn seconds(self) -> u64 {
        match self {
            Unit::Seconds => 1,
            Unit::Minutes => 60,
            Unit::Hours => 3_600,
            Unit::Days => 86_400,
        }
    }

    fn suffix(self) -> char {
        match self {
            Unit::Seconds => 's',
            Unit::Minutes => 'm',
            Unit::Hours => 'h',
            Unit::Days => 'd',
        }
    }
}

/// Why a duration was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    #[error("bad duration {0:?}: expected a whole number followed by s, m, h or d (e.g. \"30s\", \"10m\", \"2h\", \"1d\")")]
    Syntax(String),
    #[error("duration {0} is out of bounds (1s to 30d)")]
    OutOfBounds(String),
}

impl RuleDuration {
    /// Parses `"10m"`-style text and checks the bounds.
    pub fn parse(text: &str) -> Result<Self, DurationError> {
        let syntax = || DurationError::Syntax(text.to_owned());
        let unit = match text.chars().last() {
            Some('s') => Unit::Seconds,
            Some('m') => Unit::Minutes,
            Some('h') => Unit::Hours,
            Some('d') => Unit::Days,
            _ => return Err(syntax()),
        };
        let digits = &text[..text.len() - 1];
        if digits.is_empty() || digits.len() > 9 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(syntax());
        }
        let amount: u32 = digits.parse().map_err(|_| syntax())?;
        let seconds = u64::from(amount) * unit.seconds();
        if seconds < u64::from(MIN_DURATION_SECONDS) || seconds > u64::from(MAX_DURATION_SECONDS) {
            return Err(DurationError::OutOfBounds(text.to_owned()));
        }
        Ok(RuleDuration { amount, unit })
    }

    /// The length in whole seconds.
    pub fn seconds(&self) -> u32 {
        // In bounds by construction, so it fits.
        u32::try_from(u64::from(self.amount) * self.unit.seconds()).unwrap_or(MAX_DURATION_SECONDS)
    }

    /// The length as a chrono delta.
    pub fn delta(&self) -> TimeDelta {
        TimeDelta::seconds(i64::from(self.seconds()))
    }
}

impl fmt::Display for RuleDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.amount, self.unit.suffix())
    }
}

impl FromStr for RuleDuration {
    type Err = DurationError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        RuleDuration::parse(s)
    }
}

impl Serialize for RuleDuration {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for RuleDuration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        RuleDuration::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_unit_parses_and_prints_back() {
        for (text, seconds) in [("30s", 30), ("10m", 600), ("2h", 7_200), ("1d", 86_400), ("30d", 2_592_000)] {
            let d = RuleDuration::parse(text).expect(text);
            assert_eq!(d.seconds(), seconds, "{text}");
            assert_eq!(d.to_string(), text);
        }
    }

    #[test]
    fn bounds_are_one_second_to_thirty_days() {
        assert!(matches!(RuleDuration::parse("0s"), Err(DurationError::OutOfBounds(_))));
        assert!(matches!(RuleDuration::parse("31d"), Err(DurationError::OutOfBounds(_))));
        assert!(matches!(RuleDuration::parse("721h"), Err(DurationError::OutOfBounds(_))));
        assert!(RuleDuration::parse("1s").is_ok());
        assert!(RuleDuration::parse("720h").is_ok());
    }

    #[test]
    fn malformed_text_is_a_syntax_error() {
        for text in ["", "s", "10", "10x", "-5m", "+5m", "1.5h", "10 m", "m10", "99999999999s"] {
            assert!(matches!(RuleDuration::parse(text), Err(DurationError::Syntax(_))), "{text:?}");
        }
    }
}
