//! One scenario's measurement as a JSON line: scenarios run as separate
//! processes (so each starts cold and alone), and the report reads them back.

use serde_json::{Value, json};

use crate::load::Outcome;

#[derive(Debug, Clone, Default)]
pub struct ScenarioResult {
    pub scenario: String,
    /// Which round of the ingest scenarios this is (bench.sh interleaves the
    /// ceilings and the gateway round by round); 0 when run once.
    pub round: u32,
    /// False when the system under test lacks the feature (e.g. batches).
    pub available: bool,
    /// Requests (or producer chunks) in flight.
    pub concurrency: usize,
    pub events_per_s: f64,
    pub requests_per_s: f64,
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    pub requests: u64,
    pub errors: u64,
    pub first_error: Option<String>,
    pub note: String,
    /// For the projector under live ingest: whether it had caught up
    /// (no lag left) right after the ingest stopped.
    pub kept_up: Option<bool>,
}

impl ScenarioResult {
    pub fn measured(scenario: &str, concurrency: usize, outcome: &Outcome, note: String) -> Self {
        Self {
            scenario: scenario.to_owned(),
            round: 0,
            available: true,
            concurrency,
            events_per_s: outcome.events_per_second(),
            requests_per_s: outcome.requests_per_second(),
            p50_ms: outcome.histogram.quantile_ms(0.50),
            p99_ms: outcome.histogram.quantile_ms(0.99),
            requests: outcome.requests,
            errors: outcome.errors,
            first_error: outcome.first_error.clone(),
            note,
            kept_up: None,
        }
    }

    pub fn unavailable(scenario: &str, note: String) -> Self {
        Self { scenario: scenario.to_owned(), note, ..Self::default() }
    }

    pub fn to_json(&self) -> Value {
        let mut line = json!({
            "scenario": self.scenario, "available": self.available, "concurrency": self.concurrency,
            "events_per_s": self.events_per_s, "requests_per_s": self.requests_per_s,
            "p50_ms": self.p50_ms, "p99_ms": self.p99_ms,
            "requests": self.requests, "errors": self.errors,
            "first_error": self.first_error, "note": self.note, "kept_up": self.kept_up,
        });
        // bench.sh tags each line with its round; a scenario run on its own
        // has none, and must not print a key that would shadow the tag.
        if self.round > 0 {
            line["round"] = self.round.into();
        }
        line
    }

    pub fn from_json(value: &Value) -> anyhow::Result<Self> {
        let text = |key: &str| value[key].as_str().map(str::to_owned);
        Ok(Self {
            scenario: text("scenario").ok_or_else(|| anyhow::anyhow!("a result without a scenario: {value}"))?,
            round: value["round"].as_u64().and_then(|r| u32::try_from(r).ok()).unwrap_or(0),
            available: value["available"].as_bool().unwrap_or(false),
            concurrency: value["concurrency"].as_u64().map_or(0, |c| c as usize),
            events_per_s: value["events_per_s"].as_f64().unwrap_or(0.0),
            requests_per_s: value["requests_per_s"].as_f64().unwrap_or(0.0),
            p50_ms: value["p50_ms"].as_f64(),
            p99_ms: value["p99_ms"].as_f64(),
            requests: value["requests"].as_u64().unwrap_or(0),
            errors: value["errors"].as_u64().unwrap_or(0),
            first_error: text("first_error"),
            note: text("note").unwrap_or_default(),
            kept_up: value["kept_up"].as_bool(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_survive_the_json_round_trip() {
        let result = ScenarioResult {
            scenario: "x".into(),
            available: true,
            round: 2,
            concurrency: 7,
            events_per_s: 12.5,
            p99_ms: Some(3.0),
            errors: 2,
            ..Default::default()
        };
        let back = ScenarioResult::from_json(&result.to_json()).expect("parse");
        assert_eq!(
            (
                back.scenario.as_str(),
                back.round,
                back.available,
                back.concurrency,
                back.events_per_s,
                back.p50_ms,
                back.p99_ms,
                back.errors
            ),
            ("x", 2, true, 7, 12.5, None, Some(3.0), 2)
        );
    }
}
