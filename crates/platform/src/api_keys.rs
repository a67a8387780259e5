//! API keys for machines: `so_<env>_<36 base62 chars><6 base62 checksum>`.
//!
//! - 36 random base62 chars: the first 12 are public (the lookup prefix), the
//!   other 24 (≈143 bits) are secret, so the key is not guessable and a fast
//!   hash is enough (docs/adr/0003).
//! - The `so_` prefix lets secret scanners recognise leaked keys; the CRC32
//!   checksum rejects typos and random strings without a database hit.
//! - The first 12 random chars (with `so_<env>_`) form the public *prefix*
//!   used to find the row; the database stores only HMAC-SHA-256(pepper, key),
//!   compared in constant time.

use std::fmt;

use hmac::{Hmac, Mac};
use rand::Rng;
use sha2::Sha256;

use crate::config::Secret;

/// Scopes a key may carry.
pub const SCOPES: &[&str] = &["events:write", "events:read"];

const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const RANDOM_LEN: usize = 36;
const CHECKSUM_LEN: usize = 6;
const LOOKUP_LEN: usize = 12;

/// A syntactically valid key (checksum verified). Never logged.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey {
    full: String,
    environment_end: usize,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ApiKeyError {
    #[error("not a SignalOps API key (expected so_<env>_<key>)")]
    Malformed,
    #[error("API key checksum mismatch (typo or truncated key)")]
    Checksum,
}

impl ApiKey {
    /// A new random key for `environment` (e.g. `live`, `test`, `dev`).
    pub fn generate(environment: &str) -> Self {
        let mut rng = rand::rng();
        let random: String = (0..RANDOM_LEN).map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char).collect();
        let body = format!("so_{environment}_{random}");
        let full = format!("{body}{}", checksum(&body));
        Self { environment_end: 3 + environment.len(), full }
    }

    /// Checks format and checksum only: no I/O.
    pub fn parse(candidate: &str) -> Result<Self, ApiKeyError> {
        let rest = candidate.strip_prefix("so_").ok_or(ApiKeyError::Malformed)?;
        let (environment, secret) = rest.split_once('_').ok_or(ApiKeyError::Malformed)?;
        let env_ok = (2..=8).contains(&environment.len()) && environment.bytes().all(|b| b.is_ascii_lowercase());
        if !env_ok || secret.len() != RANDOM_LEN + CHECKSUM_LEN || !secret.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(ApiKeyError::Malformed);
        }
        let (body, check) = candidate.split_at(candidate.len() - CHECKSUM_LEN);
        if checksum(body) != check {
            return Err(ApiKeyError::Checksum);
        }
        Ok(Self { full: candidate.to_owned(), environment_end: 3 + environment.len() })
    }

    /// The public part stored in clear and used to find the row.
    pub fn prefix(&self) -> &str {
        &self.full[..self.environment_end + 1 + LOOKUP_LEN]
    }

    pub fn environment(&self) -> &str {
        &self.full[3..self.environment_end]
    }

    /// The whole key: show it once, at creation.
    pub fn expose(&self) -> &str {
        &self.full
    }

    /// HMAC-SHA-256 of the key under the server-side pepper.
    pub fn digest(&self, pepper: &Secret) -> Vec<u8> {
        mac(pepper, &self.full).finalize().into_bytes().to_vec()
    }

    /// Constant-time comparison with a stored digest.
    pub fn verify(&self, pepper: &Secret, stored_digest: &[u8]) -> bool {
        mac(pepper, &self.full).verify_slice(stored_digest).is_ok()
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ApiKey({}…)", self.prefix())
    }
}

#[allow(clippy::expect_used)] // HMAC accepts keys of any length
fn mac(pepper: &Secret, key: &str) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(pepper.expose().as_bytes()).expect("hmac takes any key length");
    mac.update(key.as_bytes());
    mac
}

/// CRC32 of the body, as 6 base62 digits.
fn checksum(body: &str) -> String {
    let mut value = u64::from(crc32fast::hash(body.as_bytes()));
    let mut digits = [b'0'; CHECKSUM_LEN];
    for digit in digits.iter_mut().rev() {
        *digit = ALPHABET[(value % 62) as usize];
        value /= 62;
    }
    String::from_utf8_lossy(&digits).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_parse_and_expose_their_prefix() {
        let key = ApiKey::generate("live");
        assert!(key.expose().starts_with("so_live_"));
        assert_eq!(key.expose().len(), "so_live_".len() + RANDOM_LEN + CHECKSUM_LEN);
        let parsed = ApiKey::parse(key.expose()).expect("parses");
        assert_eq!(parsed.prefix(), key.prefix());
        assert_eq!(parsed.prefix().len(), "so_live_".len() + LOOKUP_LEN);
        assert_eq!(parsed.environment(), "live");
    }

    #[test]
    fn any_single_character_typo_is_caught_by_the_checksum_or_format() {
        let key = ApiKey::generate("test");
        let text = key.expose();
        for position in "so_test_".len()..text.len() {
            let mut bytes = text.as_bytes().to_vec();
            bytes[position] = if bytes[position] == b'a' { b'b' } else { b'a' };
            let typo = String::from_utf8(bytes).expect("ascii");
            assert!(ApiKey::parse(&typo).is_err(), "typo at {position} accepted");
        }
    }

    #[test]
    fn malformed_strings_are_rejected() {
        for candidate in ["", "so_", "sk_live_abc", "so_live_short", "so_LIVE_012345678901234567890123456789012345678901", "so_live_!!!"] {
            assert_eq!(ApiKey::parse(candidate), Err(ApiKeyError::Malformed), "{candidate}");
        }
    }

    #[test]
    fn digests_depend_on_the_pepper_and_verify_in_constant_time() {
        let key = ApiKey::generate("dev");
        let pepper = Secret::new("pepper-one-0123456789abcdef012345");
        let digest = key.digest(&pepper);
        assert!(key.verify(&pepper, &digest));
        assert!(!key.verify(&Secret::new("pepper-two-0123456789abcdef012345"), &digest));
        assert!(!ApiKey::generate("dev").verify(&pepper, &digest));
    }

    #[test]
    fn debug_output_never_contains_the_secret() {
        let key = ApiKey::generate("live");
        assert!(!format!("{key:?}").contains(&key.expose()[20..]));
    }
}
