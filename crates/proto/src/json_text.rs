//! What every reader of event data can take: checks on JSON text that a
//! JSON parser accepts but a reader downstream refuses. Postgres `jsonb`
//! cannot store the escape `\u0000`, a lone UTF-16 surrogate, or a number
//! with more than 16,383 decimal places; serde_json (and JavaScript) cannot
//! read a number beyond a 64-bit float, and serde_json stops at 128 levels
//! of nesting.
//!
//! The scan is one pass over the bytes with no recursion, so it is safe on
//! any input; it assumes the text already parsed as JSON and does not
//! re-check the grammar.

use std::fmt;

/// The most decimal places Postgres `numeric` (and so `jsonb`) stores.
pub const POSTGRES_MAX_SCALE: i64 = 16_383;

/// What to refuse besides what Postgres cannot store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Arrays and objects nested deeper than this are refused.
    pub max_depth: usize,
    /// Refuse numbers beyond the range of a 64-bit float (±1.8e308).
    pub float_range: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    TooDeep { limit: usize },
    Nul,
    LoneSurrogate,
    NumberOutOfRange,
}

/// A problem and where it is (`user.names[2]`; empty at the top level).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub problem: Problem,
    pub path: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooDeep { limit } => write!(f, "is nested deeper than {limit} levels"),
            Self::Nul => f.write_str("contains the escape \\u0000 (NUL), which cannot be stored"),
            Self::LoneSurrogate => f.write_str("contains a \\u escape of a lone UTF-16 surrogate, which is not a character"),
            Self::NumberOutOfRange => {
                f.write_str("contains a number out of range (at most ±1.7976931348623157e308 and 16383 decimal places)")
            }
        }
    }
}

enum Frame {
    /// Inside an object: the last key seen (raw text between the quotes).
    Object(Option<(usize, usize)>),
    Array(usize),
}

/// Checks `text` (valid JSON) against `limits`; the first problem wins.
pub fn check(text: &[u8], limits: Limits) -> Result<(), Refusal> {
    let mut stack: Vec<Frame> = Vec::new();
    let mut i = 0;
    // After a string inside an object, whether that string was a key.
    let mut expect_key = false;
    while i < text.len() {
        match text[i] {
            b'{' | b'[' => {
                if stack.len() >= limits.max_depth {
                    return Err(refusal(Problem::TooDeep { limit: limits.max_depth }, text, &stack));
                }
                stack.push(if text[i] == b'{' { Frame::Object(None) } else { Frame::Array(0) });
                expect_key = text[i] == b'{';
                i += 1;
            }
            b'}' | b']' => {
                stack.pop();
                i += 1;
            }
            b',' => {
                match stack.last_mut() {
                    Some(Frame::Array(index)) => *index += 1,
                    Some(Frame::Object(_)) => expect_key = true,
                    None => {}
                }
                i += 1;
            }
            b'"' => {
                let start = i + 1;
                let end = scan_string(text, start).map_err(|problem| refusal(problem, text, &stack))?;
                if expect_key && let Some(Frame::Object(key)) = stack.last_mut() {
                    *key = Some((start, end));
                    expect_key = false;
                }
                i = end + 1;
            }
            b'-' | b'0'..=b'9' => {
                let end = text[i..]
                    .iter()
                    .position(|b| !matches!(b, b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9'))
                    .map_or(text.len(), |n| i + n);
                if !number_fits(&text[i..end], limits.float_range) {
                    return Err(refusal(Problem::NumberOutOfRange, text, &stack));
                }
                i = end;
            }
            _ => i += 1,
        }
    }
    Ok(())
}

/// Scans a string body from `start` (after the quote) to its closing quote.
fn scan_string(text: &[u8], start: usize) -> Result<usize, Problem> {
    let mut i = start;
    // A high surrogate must be followed at once by a low one.
    let mut pending_high = false;
    while i < text.len() {
        match text[i] {
            b'"' if !pending_high => return Ok(i),
            b'\\' if text.get(i + 1) == Some(&b'u') => {
                let unit = text.get(i + 2..i + 6).and_then(|h| std::str::from_utf8(h).ok()).and_then(|h| u16::from_str_radix(h, 16).ok());
                let Some(unit) = unit else { return Ok(skip_to_quote(text, i)) };
                match unit {
                    0 => return Err(Problem::Nul),
                    0xD800..=0xDBFF if pending_high => return Err(Problem::LoneSurrogate),
                    0xD800..=0xDBFF => pending_high = true,
                    0xDC00..=0xDFFF if !pending_high => return Err(Problem::LoneSurrogate),
                    0xDC00..=0xDFFF => pending_high = false,
                    _ if pending_high => return Err(Problem::LoneSurrogate),
                    _ => {}
                }
                i += 6;
            }
            _ if pending_high => return Err(Problem::LoneSurrogate),
            // Any other escape is two bytes (`\"`, `\\`, `\n` …).
            b'\\' => i += 2,
            _ => i += 1,
        }
    }
    Ok(text.len())
}

/// Invalid escapes cannot reach here (the text parsed); be lenient anyway.
fn skip_to_quote(text: &[u8], from: usize) -> usize {
    text[from + 1..].iter().position(|b| *b == b'"').map_or(text.len(), |n| from + 1 + n)
}

/// Whether a number token fits Postgres `numeric` and, if asked, an f64.
fn number_fits(token: &[u8], float_range: bool) -> bool {
    let Ok(token) = std::str::from_utf8(token) else { return false };
    let (mantissa, exponent) = match token.find(['e', 'E']) {
        Some(at) => (&token[..at], &token[at + 1..]),
        None => (token, ""),
    };
    let fraction_digits = mantissa.split_once('.').map_or(0, |(_, f)| f.len() as i64);
    // Saturates: an exponent of a thousand digits is out of range either way.
    let exponent: i64 = if exponent.is_empty() {
        0
    } else {
        exponent.parse().unwrap_or(if exponent.starts_with('-') { i64::MIN / 2 } else { i64::MAX / 2 })
    };
    let scale = fraction_digits.saturating_sub(exponent);
    if scale > POSTGRES_MAX_SCALE {
        return false;
    }
    // Postgres keeps at most 131,072 digits before the point.
    let integer_digits = mantissa.trim_start_matches('-').split('.').next().map_or(0, |d| d.trim_start_matches('0').len() as i64);
    if integer_digits.saturating_add(exponent.max(0)) > 131_072 {
        return false;
    }
    !float_range || token.parse::<f64>().is_ok_and(f64::is_finite)
}

fn refusal(problem: Problem, text: &[u8], stack: &[Frame]) -> Refusal {
    let mut path = String::new();
    for frame in stack {
        match frame {
            Frame::Object(Some((start, end))) => {
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(&String::from_utf8_lossy(&text[*start..*end]));
            }
            Frame::Object(None) => {}
            Frame::Array(index) => path.push_str(&format!("[{index}]")),
        }
        // A deep path says nothing more after a while.
        if path.len() > 200 {
            path.push('…');
            break;
        }
    }
    Refusal { problem, path }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STRICT: Limits = Limits { max_depth: 64, float_range: true };
    const STORABLE: Limits = Limits { max_depth: 1_000, float_range: false };

    fn problem(text: &str, limits: Limits) -> Option<(Problem, String)> {
        check(text.as_bytes(), limits).err().map(|r| (r.problem, r.path))
    }

    #[test]
    fn ordinary_json_passes() {
        for ok in [
            r#"{"a": [1, 2.5, -3e10, "x\"y\\u0000z", {"b": null}], "c": "\ud83d\ude00", "d": true}"#,
            r#""plain""#,
            "1.5e-300",
            "0.000001",
            r#"["\\", "\u00e9"]"#,
        ] {
            assert_eq!(problem(ok, STRICT), None, "{ok}");
        }
    }

    #[test]
    fn nesting_is_bounded_and_named() {
        let deep = format!("{}{}", "[".repeat(65), "]".repeat(65));
        assert_eq!(problem(&deep, STRICT).map(|p| p.0), Some(Problem::TooDeep { limit: 64 }));
        let at_limit = format!("{}{}", "[".repeat(64), "]".repeat(64));
        assert_eq!(problem(&at_limit, STRICT), None);
        let five_thousand = format!("{}{}", "[".repeat(5_000), "]".repeat(5_000));
        assert!(problem(&five_thousand, STRICT).is_some());
    }

    #[test]
    fn nul_escapes_and_lone_surrogates_are_found_where_they_are() {
        assert_eq!(problem(r#"{"user": {"names": ["a", "b\u0000"]}}"#, STRICT), Some((Problem::Nul, "user.names[1]".to_owned())));
        assert_eq!(problem(r#"{"k\u0000": 1}"#, STRICT).map(|p| p.0), Some(Problem::Nul));
        for lone in [r#""\ud800""#, r#""\udc00""#, r#""\ud800x""#, r#""\ud800\u0041""#, r#""\ud800\ud800""#] {
            assert_eq!(problem(lone, STORABLE).map(|p| p.0), Some(Problem::LoneSurrogate), "{lone}");
        }
    }

    #[test]
    fn numbers_must_fit_postgres_and_when_asked_a_double() {
        assert_eq!(problem("1e400", STORABLE), None, "Postgres stores it");
        assert_eq!(problem("1e400", STRICT).map(|p| p.0), Some(Problem::NumberOutOfRange));
        for refused in ["1e-16384", "1.5e-16383", "0e-99999", "1e131072", "1e99999999999999999999999"] {
            assert_eq!(problem(refused, STORABLE).map(|p| p.0), Some(Problem::NumberOutOfRange), "{refused}");
        }
        assert_eq!(problem("1e-16383", STORABLE), None);
    }
}
