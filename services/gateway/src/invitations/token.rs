//! Invitation tokens: `soi_` + 32 random bytes (base64url, no padding).
//! The `soi_` prefix lets secret scanners recognise a leaked link; only the
//! SHA-256 of the token is stored. A fast hash is enough here because the
//! token carries 256 random bits (nothing to brute-force), unlike a password.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

const PREFIX: &str = "soi_";
const RANDOM_BYTES: usize = 32;
/// base64url without padding of 32 bytes.
const ENCODED_LEN: usize = 43;

/// A well-formed invitation token. `Debug` hides it, so it cannot reach a
/// log by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct InvitationToken(String);

impl InvitationToken {
    pub fn generate() -> Self {
        let bytes: [u8; RANDOM_BYTES] = rand::random();
        Self(format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes)))
    }

    /// Checks the shape before any database work; `None` for anything that
    /// cannot have been issued by `generate`.
    pub fn parse(text: &str) -> Option<Self> {
        let encoded = text.strip_prefix(PREFIX)?;
        let decoded = URL_SAFE_NO_PAD.decode(encoded).ok()?;
        (encoded.len() == ENCODED_LEN && decoded.len() == RANDOM_BYTES).then(|| Self(text.to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    /// What `invitations.token_hash` holds.
    pub fn digest(&self) -> Vec<u8> {
        Sha256::digest(self.0.as_bytes()).to_vec()
    }

    /// The digest as lower-case hex, the form the `lookup_by_hash` RLS policy
    /// reads from `app.token_hash`.
    pub fn digest_hex(&self) -> String {
        self.digest().iter().map(|byte| format!("{byte:02x}")).collect()
    }
}

impl fmt::Debug for InvitationToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("InvitationToken(***)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_tokens_parse_and_differ() {
        let token = InvitationToken::generate();
        assert!(token.expose().starts_with("soi_"));
        assert_eq!(token.expose().len(), PREFIX.len() + ENCODED_LEN);
        assert_eq!(InvitationToken::parse(token.expose()), Some(token.clone()));
        assert_ne!(InvitationToken::generate(), token);
    }

    #[test]
    fn malformed_tokens_are_refused_without_a_lookup() {
        let good = InvitationToken::generate();
        let body = &good.expose()[PREFIX.len()..];
        for bad in [
            String::new(),
            body.to_owned(),
            format!("so_{body}"),
            format!("soi_{}", &body[1..]),
            format!("soi_{body}A"),
            format!("soi_{}+", &body[1..]),
        ] {
            assert_eq!(InvitationToken::parse(&bad), None, "{bad}");
        }
    }

    #[test]
    fn the_digest_is_sha256_and_its_hex_matches() {
        let token = InvitationToken::generate();
        assert_eq!(token.digest().len(), 32);
        let hex = token.digest_hex();
        assert_eq!(hex.len(), 64);
        assert!(hex.chars().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
        assert_eq!(format!("{:02x}", token.digest()[0]), hex[..2]);
    }

    #[test]
    fn debug_output_hides_the_token() {
        let token = InvitationToken::generate();
        assert!(!format!("{token:?}").contains(&token.expose()[4..]));
    }
}
