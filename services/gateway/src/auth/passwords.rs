//! Password policy and hashing. bcrypt (cost configurable, default 12) is
//! for low-entropy secrets people choose; API keys use HMAC instead (ADR 0003).

use std::sync::OnceLock;

use crate::problem::{ApiError, FieldError};

/// Common passwords long enough to pass the length check (shorter ones fail
/// it anyway). Compared case-insensitively.
const COMMON_PASSWORDS: &[&str] = &[
    "1234567890",
    "12345678910",
    "0123456789",
    "9876543210",
    "1111111111",
    "0000000000",
    "1234512345",
    "1122334455",
    "password12",
    "password123",
    "password1234",
    "password!!",
    "passw0rd123",
    "p@ssw0rd123",
    "p@ssword123",
    "qwertyuiop",
    "qwerty1234",
    "qwerty12345",
    "qwerty123456",
    "1q2w3e4r5t",
    "1q2w3e4r5t6y",
    "1qaz2wsx3edc",
    "zaq12wsxcde3",
    "qazwsxedcrfv",
    "asdfghjkl1",
    "asdfghjkl;",
    "zxcvbnm123",
    "abcdefghij",
    "abcd123456",
    "abc1234567",
    "iloveyou12",
    "iloveyou123",
    "letmein123",
    "welcome123",
    "welcome1234",
    "changeme123",
    "administrator",
    "admin12345",
    "admin123456",
    "sunshine123",
    "football123",
    "baseball123",
    "princess123",
    "monkey12345",
    "dragon12345",
    "trustno1234",
    "superman123",
    "starwars123",
    "whatever123",
    "michael123",
    "aaaaaaaaaa",
    "password2024",
    "password2025",
    "password2026",
    "summer2026!",
    "winter2026!",
    "secret1234",
    "letmeinnow",
    "mypassword",
    "mypassword1",
    "thisismypassword",
    "correcthorsebatterystaple",
];

pub struct PasswordPolicy {
    pub min_length: usize,
}

impl PasswordPolicy {
    /// Problems with `password` for `email`, as field errors on `field`.
    pub fn check(&self, field: &str, password: &str, email: &str) -> Result<(), ApiError> {
        let length = password.chars().count();
        let mut problems = Vec::new();
        if length < self.min_length {
            problems.push(format!("must be at least {} characters", self.min_length));
        }
        // bcrypt reads only the first 72 bytes; a longer password would be
        // silently truncated, so refuse it instead.
        if password.len() > 72 {
            problems.push("must be at most 72 bytes (about 72 ASCII characters)".to_owned());
        }
        let lowered = password.to_lowercase();
        if COMMON_PASSWORDS.iter().any(|common| *common == lowered) {
            problems.push("is one of the most common passwords".to_owned());
        }
        if length > 0 && password.chars().all(|c| password.starts_with(c)) {
            problems.push("must not repeat a single character".to_owned());
        }
        let local_part = email.split('@').next().unwrap_or("").to_lowercase();
        if local_part.len() >= 4 && lowered.contains(&local_part) {
            problems.push("must not contain your email address".to_owned());
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ApiError::Validation(problems.into_iter().map(|m| FieldError::new(field, m)).collect()))
        }
    }
}

/// Hashes on a blocking thread: bcrypt is deliberately slow.
pub async fn hash(password: String, cost: u32) -> anyhow::Result<String> {
    Ok(tokio::task::spawn_blocking(move || bcrypt::hash(password, cost)).await??)
}

/// Verifies on a blocking thread; a malformed stored hash counts as a mismatch.
pub async fn verify(password: String, hash: String) -> anyhow::Result<bool> {
    Ok(tokio::task::spawn_blocking(move || bcrypt::verify(password, &hash).unwrap_or(false)).await?)
}

/// A hash to verify against when the email is unknown, so a login for a
/// missing account costs the same time as one with a wrong password.
fn compute_decoy_hash(cost: u32) -> String {
    bcrypt::hash("signalops-decoy-password", cost).unwrap_or_default()
}

static DECOY_HASH: OnceLock<String> = OnceLock::new();

/// A hash at the configured cost for unknown emails, computed once per
/// process. (Tests run apps of different costs in one process; a cost
/// mismatch recomputes rather than verifying at the wrong speed.)
pub async fn decoy_hash(cost: u32) -> anyhow::Result<String> {
    if let Some(hash) = DECOY_HASH.get().filter(|hash| bcrypt_cost_of(hash) == Some(cost)) {
        return Ok(hash.clone());
    }
    let hash = tokio::task::spawn_blocking(move || compute_decoy_hash(cost)).await?;
    // First writer wins; a racing computation is merely wasted work.
    let _ = DECOY_HASH.set(hash.clone());
    Ok(hash)
}

/// The cost field of a `$2b$12$…` hash.
pub fn bcrypt_cost_of(hash: &str) -> Option<u32> {
    hash.split('$').nth(2)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> PasswordPolicy {
        PasswordPolicy { min_length: 10 }
    }

    #[test]
    fn short_common_repeated_and_email_passwords_are_refused() {
        for bad in ["short", "password123", "QWERTYUIOP", "zzzzzzzzzzzz", "alice-is-great-2026"] {
            assert!(policy().check("password", bad, "alice@example.com").is_err(), "{bad}");
        }
    }

    #[test]
    fn a_long_uncommon_password_passes() {
        policy().check("password", "violet-harbour-lantern-42", "alice@example.com").expect("fine");
    }

    #[tokio::test]
    async fn hashes_verify_and_wrong_passwords_do_not() {
        let hash = hash("violet-harbour-lantern-42".into(), 4).await.expect("hash");
        assert!(verify("violet-harbour-lantern-42".into(), hash.clone()).await.expect("verify"));
        assert!(!verify("violet-harbour-lantern-43".into(), hash).await.expect("verify"));
        assert!(!verify("x".into(), "not a bcrypt hash".into()).await.expect("verify"));
    }
}
