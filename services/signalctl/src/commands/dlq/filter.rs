//! Which dead letters a command works on: the filters `list` and `redrive`
//! share, and `PARTITION:OFFSET` positions.

use chrono::{DateTime, Utc};
use clap::Args;
use serde_json::{Value, json};
use signalops_platform::consumer::ErrorClass;

use super::letter::{Letter, UNKNOWN_CLASS};

#[derive(Debug, Clone, Default, Args)]
pub struct Filter {
    /// Only dead letters of this consumer group.
    #[arg(long)]
    pub group: Option<String>,
    /// Only records that came from this topic.
    #[arg(long, value_name = "TOPIC")]
    pub source_topic: Option<String>,
    /// Only this error class: decode, data, constraint, schema, panic,
    /// poison, or unknown (dead letters written before classes existed).
    #[arg(long, value_name = "CLASS", value_parser = parse_class)]
    pub error_class: Option<String>,
    /// Only this tenant (the record key).
    #[arg(long)]
    pub tenant: Option<String>,
    /// Only dead letters written at or after this time (RFC 3339).
    #[arg(long, value_name = "TIME")]
    pub since: Option<DateTime<Utc>>,
    /// Only dead letters written before this time (RFC 3339).
    #[arg(long, value_name = "TIME")]
    pub until: Option<DateTime<Utc>>,
}

fn parse_class(text: &str) -> Result<String, String> {
    if text == UNKNOWN_CLASS || ErrorClass::parse(text).is_some() {
        Ok(text.to_owned())
    } else {
        let known: Vec<&str> = ErrorClass::ALL.iter().map(|c| c.as_str()).chain([UNKNOWN_CLASS]).collect();
        Err(format!("{text:?} is not an error class (one of {})", known.join(", ")))
    }
}

/// `PARTITION:OFFSET` of a record in the dead-letter topic.
pub fn parse_position(text: &str) -> Result<(i32, i64), String> {
    let (p, o) = text.split_once(':').ok_or_else(|| format!("{text:?} is not PARTITION:OFFSET"))?;
    let p = p.parse::<i32>().ok().filter(|p| *p >= 0).ok_or_else(|| format!("{p:?} is not a partition number"))?;
    let o = o.parse::<i64>().ok().filter(|o| *o >= 0).ok_or_else(|| format!("{o:?} is not an offset"))?;
    Ok((p, o))
}

impl Filter {
    pub fn is_empty(&self) -> bool {
        self.group.is_none()
            && self.source_topic.is_none()
            && self.error_class.is_none()
            && self.tenant.is_none()
            && self.since.is_none()
            && self.until.is_none()
    }

    pub fn validate(&self) -> anyhow::Result<()> {
        if let (Some(since), Some(until)) = (self.since, self.until)
            && since >= until
        {
            anyhow::bail!("--since {since} is not before --until {until}");
        }
        Ok(())
    }

    pub fn matches(&self, letter: &Letter) -> bool {
        let same = |wanted: &Option<String>, actual: &str| wanted.as_deref().is_none_or(|w| w == actual);
        same(&self.group, &letter.group)
            && same(&self.source_topic, &letter.source_topic)
            && same(&self.error_class, &letter.error_class)
            && same(&self.tenant, &letter.tenant)
            && self.since.is_none_or(|since| letter.at.is_some_and(|at| at >= since))
            && self.until.is_none_or(|until| letter.at.is_some_and(|at| at < until))
    }

    pub fn to_json(&self) -> Value {
        json!({
            "group": self.group, "source_topic": self.source_topic, "error_class": self.error_class,
            "tenant": self.tenant, "since": self.since.map(|t| t.to_rfc3339()), "until": self.until.map(|t| t.to_rfc3339()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_are_checked_and_unknown_is_one() {
        assert!(parse_class("poison").is_ok() && parse_class("unknown").is_ok());
        assert!(parse_class("transient").is_err_and(|e| e.contains("one of decode")));
    }

    #[test]
    fn positions_parse_and_garbage_is_refused() {
        assert_eq!(parse_position("3:42"), Ok((3, 42)));
        assert!(parse_position("3").is_err() && parse_position("-1:2").is_err() && parse_position("1:x").is_err());
    }
}
