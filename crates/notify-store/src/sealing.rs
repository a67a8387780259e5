//! Channel credentials at rest: sealed with XChaCha20-Poly1305 under a key
//! named by its id, so keys can rotate (new seals use the first key, every
//! listed key still opens what it sealed).
//!
//! A sealed value is the random 24-byte nonce followed by the ciphertext.
//! The associated data binds it to its tenant and channel: a sealed value
//! copied into another row does not open.

use std::collections::HashMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore as _;

const NONCE_LENGTH: usize = 24;
const KEY_LENGTH: usize = 32;

/// The sealing keys, from configuration: `id:base64-key[,id:base64-key…]`,
/// the first one current.
#[derive(Clone)]
pub struct Keyring {
    current: String,
    keys: HashMap<String, XChaCha20Poly1305>,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keyring").field("current", &self.current).field("key_ids", &self.keys.keys().collect::<Vec<_>>()).finish()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    #[error("no sealing keys are configured")]
    NoKeys,
    #[error("entry {0} is not `id:base64-key`")]
    Malformed(usize),
    #[error("key {0:?}: the id must be 1-32 letters, digits, '-' or '_'")]
    BadId(String),
    #[error("key {0:?} is not {KEY_LENGTH} bytes of base64 (generate one with `openssl rand -base64 32`)")]
    BadKey(String),
    #[error("key id {0:?} is listed twice")]
    Duplicate(String),
    #[error("sealed with key {0:?}, which is not configured")]
    UnknownKey(String),
    #[error("the sealed value does not open with its key (altered, or moved from another channel)")]
    DoesNotOpen,
}

impl Keyring {
    pub fn parse(text: &str) -> Result<Self, SealError> {
        let mut current = None;
        let mut keys = HashMap::new();
        for (index, entry) in text.split(',').map(str::trim).filter(|e| !e.is_empty()).enumerate() {
            let (id, key) = entry.split_once(':').ok_or(SealError::Malformed(index + 1))?;
            let valid_id = (1..=32).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            if !valid_id {
                return Err(SealError::BadId(id.to_owned()));
            }
            let bytes =
                STANDARD.decode(key.trim()).ok().filter(|b| b.len() == KEY_LENGTH).ok_or_else(|| SealError::BadKey(id.to_owned()))?;
            let cipher = XChaCha20Poly1305::new_from_slice(&bytes).map_err(|_| SealError::BadKey(id.to_owned()))?;
            if keys.insert(id.to_owned(), cipher).is_some() {
                return Err(SealError::Duplicate(id.to_owned()));
            }
            current.get_or_insert_with(|| id.to_owned());
        }
        Ok(Keyring { current: current.ok_or(SealError::NoKeys)?, keys })
    }

    /// The id of the key new seals use.
    pub fn current_id(&self) -> &str {
        &self.current
    }

    /// Seals `plaintext` for `binding` under the current key: (key id, sealed bytes).
    pub fn seal(&self, binding: &str, plaintext: &[u8]) -> (String, Vec<u8>) {
        let cipher = &self.keys[&self.current];
        let mut nonce = [0u8; NONCE_LENGTH];
        rand::rng().fill_bytes(&mut nonce);
        // Encryption with a valid key and nonce cannot fail for inputs this size.
        let ciphertext =
            cipher.encrypt(XNonce::from_slice(&nonce), Payload { msg: plaintext, aad: binding.as_bytes() }).unwrap_or_default();
        let mut sealed = nonce.to_vec();
        sealed.extend_from_slice(&ciphertext);
        (self.current.clone(), sealed)
    }

    /// Opens what [`seal`](Self::seal) sealed for the same `binding`.
    pub fn open(&self, key_id: &str, binding: &str, sealed: &[u8]) -> Result<Vec<u8>, SealError> {
        let cipher = self.keys.get(key_id).ok_or_else(|| SealError::UnknownKey(key_id.to_owned()))?;
        if sealed.len() < NONCE_LENGTH {
            return Err(SealError::DoesNotOpen);
        }
        let (nonce, ciphertext) = sealed.split_at(NONCE_LENGTH);
        cipher.decrypt(XNonce::from_slice(nonce), Payload { msg: ciphertext, aad: binding.as_bytes() }).map_err(|_| SealError::DoesNotOpen)
    }
}

/// What a channel's sealed credentials are bound to.
pub fn channel_binding(tenant: uuid::Uuid, channel_id: &str) -> String {
    format!("signalops.channel.v1/{tenant}/{channel_id}")
}

#[cfg(test)]
mod tests {
    use super::*;

    const K1: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    const K2: &str = "HyAhIiMkJSYnKCkqKywtLi8wMTIzNDU2Nzg5Ojs8PT4=";

    #[test]
    fn a_sealed_value_opens_with_its_key_and_binding_only() {
        let ring = Keyring::parse(&format!("k1:{K1}")).expect("ring");
        let (id, sealed) = ring.seal("tenant-a/ops", b"whsec_secret");
        assert_eq!(id, "k1");
        assert!(!sealed.windows(6).any(|w| w == b"whsec_"), "the plaintext is not in the sealed bytes");
        assert_eq!(ring.open("k1", "tenant-a/ops", &sealed).expect("opens"), b"whsec_secret");
        assert_eq!(ring.open("k1", "tenant-b/ops", &sealed), Err(SealError::DoesNotOpen), "another row's binding");
        let mut altered = sealed.clone();
        let last = altered.len() - 1;
        altered[last] ^= 1;
        assert_eq!(ring.open("k1", "tenant-a/ops", &altered), Err(SealError::DoesNotOpen));
        assert_eq!(ring.open("k1", "tenant-a/ops", &sealed[..10]), Err(SealError::DoesNotOpen));
        let (_, again) = ring.seal("tenant-a/ops", b"whsec_secret");
        assert_ne!(again, sealed, "a fresh nonce every time");
    }

    #[test]
    fn after_a_rotation_new_seals_use_the_first_key_and_old_ones_still_open() {
        let old = Keyring::parse(&format!("k1:{K1}")).expect("ring");
        let (_, sealed) = old.seal("b", b"token");
        let rotated = Keyring::parse(&format!("k2:{K2}, k1:{K1}")).expect("ring");
        assert_eq!(rotated.current_id(), "k2");
        assert_eq!(rotated.open("k1", "b", &sealed).expect("opens"), b"token");
        assert_eq!(rotated.seal("b", b"x").0, "k2");
        let retired = Keyring::parse(&format!("k2:{K2}")).expect("ring");
        assert_eq!(retired.open("k1", "b", &sealed), Err(SealError::UnknownKey("k1".into())));
    }

    #[test]
    fn bad_key_lists_are_refused_without_echoing_a_key() {
        for (text, expected) in [
            ("", SealError::NoKeys),
            (" , ", SealError::NoKeys),
            ("k1", SealError::Malformed(1)),
            ("bad id:AAAA", SealError::BadId("bad id".into())),
            ("k1:c2hvcnQ=", SealError::BadKey("k1".into())),
            ("k1:not base64!", SealError::BadKey("k1".into())),
        ] {
            assert_eq!(Keyring::parse(text).err(), Some(expected.clone()), "{text:?}");
            assert!(!expected.to_string().contains("c2hvcnQ"), "{expected}");
        }
        assert_eq!(Keyring::parse(&format!("k1:{K1},k1:{K2}")).err(), Some(SealError::Duplicate("k1".into())));
        assert!(!format!("{:?}", Keyring::parse(&format!("k1:{K1}")).expect("ring")).contains(K1), "Debug shows ids only");
    }
}
