//! What one attempt came back with.

use std::time::{Duration, SystemTime};

use signalops_notify_store::retry::{self, Verdict};

/// The first bytes of an answer kept with the attempt.
pub const EXCERPT_BYTES: usize = 1_024;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sent {
    /// The status code; `None` when no answer came (refused, timeout,
    /// connection failed).
    pub status: Option<u16>,
    /// A `Retry-After` the answer carried (or, for Telegram, its body's
    /// `parameters.retry_after`), as written.
    pub retry_after: Option<String>,
    /// The first KiB of the answer's body, as UTF-8 (invalid bytes replaced).
    pub excerpt: Option<String>,
    /// Why no answer came, or what the provider said went wrong.
    pub error: Option<String>,
    /// The address policy refused the destination: nothing was sent.
    pub refused: bool,
    /// `status` is an SMTP reply code, not an HTTP status.
    pub smtp_reply: bool,
    pub latency: Duration,
}

impl Sent {
    pub fn failed(error: impl Into<String>, latency: Duration) -> Self {
        Sent { error: Some(error.into()), latency, ..Sent::default() }
    }

    pub fn refused(error: impl Into<String>) -> Self {
        Sent { error: Some(error.into()), refused: true, ..Sent::default() }
    }
}

impl Sent {
    /// What the answer means for the delivery: HTTP statuses as
    /// [`retry::judge`] reads them; SMTP replies 2xx delivered, 4xx again,
    /// 5xx permanent; a refused address is permanent for the channel.
    pub fn verdict(&self, now: SystemTime) -> Verdict {
        if self.refused {
            return Verdict::Permanent;
        }
        if self.smtp_reply {
            return match self.status {
                Some(200..=299) => Verdict::Delivered,
                Some(500..=599) => Verdict::Permanent,
                _ => Verdict::Retry { retry_after: None },
            };
        }
        retry::judge(self.status, self.retry_after.as_deref(), now)
    }
}

/// `text` cut to at most `max` characters, with an ellipsis when cut
/// (providers refuse longer messages outright).
pub fn clip(text: &str, max: usize) -> String {
    match text.char_indices().nth(max.saturating_sub(1)) {
        Some((at, _)) if text.chars().count() > max => format!("{}…", &text[..at]),
        _ => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clip_keeps_short_text_and_cuts_long_text_on_a_character() {
        assert_eq!(clip("hello", 5), "hello");
        assert_eq!(clip("hello!", 5), "hell…");
        assert_eq!(clip("ééééé é", 3), "éé…");
        assert_eq!(clip("", 3), "");
    }
}
