//! What ingest accepts as an event's `data` (ADR 0020), for every producer
//! of events: the gateway for what backends send, the rules group for the
//! events its rules derive. An event that passes is one every reader takes.

use crate::json_text::{self, Limits};

/// Largest `data`, in bytes.
pub const MAX_DATA_BYTES: usize = 64 * 1024;
/// Levels of arrays and objects in `data`. Readers parse data with
/// serde_json, which stops at 128 levels, and wrap it in envelopes and
/// pages of their own; half of that leaves room for them.
pub const MAX_DATA_DEPTH: usize = 64;
/// What every reader of JSON `data` can take (see `json_text`).
pub const DATA_LIMITS: Limits = Limits { max_depth: MAX_DATA_DEPTH, float_range: true };
/// Longest event type, in bytes.
pub const MAX_TYPE_LENGTH: usize = 128;

/// Checks JSON `data` (already valid JSON text): its size and what every
/// reader can take. The message says what is wrong and where.
pub fn check_json(data: &[u8]) -> Result<(), String> {
    if data.len() > MAX_DATA_BYTES {
        return Err(format!("data must be at most {MAX_DATA_BYTES} bytes (it is {})", data.len()));
    }
    json_text::check(data, DATA_LIMITS).map_err(|refusal| {
        if refusal.path.is_empty() || matches!(refusal.problem, json_text::Problem::TooDeep { .. }) {
            format!("data {}", refusal.problem)
        } else {
            format!("data {} (at {})", refusal.problem, refusal.path)
        }
    })
}

/// Dotted lowercase type: `^[a-z0-9]+([._-][a-z0-9]+)*$`, at most 128 bytes.
pub fn valid_type(value: &str) -> bool {
    !value.is_empty()
        && value.len() <= MAX_TYPE_LENGTH
        && value.split(['.', '_', '-']).all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_within_the_limits_passes_and_the_rest_is_named() {
        assert_eq!(check_json(br#"{"a":[1,2,{"b":"c"}]}"#), Ok(()));
        let big = format!("\"{}\"", "x".repeat(MAX_DATA_BYTES));
        assert!(check_json(big.as_bytes()).expect_err("too large").contains("at most 65536 bytes"));
        let deep = format!("{}{}", "[".repeat(65), "]".repeat(65));
        assert!(check_json(deep.as_bytes()).expect_err("too deep").contains("deeper than 64"));
        assert!(check_json(br#"{"a":"\u0000"}"#).expect_err("nul").contains("(at a)"));
        assert!(check_json(b"1e400").is_err());
    }

    #[test]
    fn event_types_follow_the_dotted_lowercase_form() {
        for good in ["invoice.paid", "user.signed_up", "a", "payment-failed.v2"] {
            assert!(valid_type(good), "{good}");
        }
        for bad in ["", "Invoice.paid", "invoice..paid", ".paid", "paid.", "in voice", "x".repeat(129).as_str(), "é.t"] {
            assert!(!valid_type(bad), "{bad}");
        }
    }
}
