//! A person's email address, normalised (trimmed, lowercased) and checked
//! once at the edge, so the rest of the code never sees a malformed one.
//!
//! The check is deliberately shallow: it refuses what is certainly not an
//! address (no `@`, two of them, no dot in the domain, spaces), not
//! everything RFC 5322 forbids. Whether the address works is for the
//! mailbox to say.

use std::fmt;

/// RFC 5321 limits a forward path to 256 octets including the angle
/// brackets, so 254 is the longest usable address.
pub const MAX_LENGTH: usize = 254;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidEmail {
    #[error("is required")]
    Empty,
    #[error("must be at most {MAX_LENGTH} characters")]
    TooLong,
    #[error("must contain exactly one @")]
    AtSigns,
    #[error("needs a name before the @")]
    EmptyLocalPart,
    #[error("needs a domain with a dot after the @ (e.g. example.com)")]
    BadDomain,
    #[error("must not contain spaces or control characters")]
    Whitespace,
}

impl Email {
    pub fn parse(raw: &str) -> Result<Self, InvalidEmail> {
        let email = raw.trim().to_lowercase();
        if email.is_empty() {
            return Err(InvalidEmail::Empty);
        }
        if email.chars().count() > MAX_LENGTH {
            return Err(InvalidEmail::TooLong);
        }
        if email.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(InvalidEmail::Whitespace);
        }
        let (local, domain) = split_once_exactly(&email, '@').ok_or(InvalidEmail::AtSigns)?;
        if local.is_empty() {
            return Err(InvalidEmail::EmptyLocalPart);
        }
        // Every label non-empty: refuses `a@.com`, `a@b.`, `a@b..c`.
        if !domain.contains('.') || domain.split('.').any(str::is_empty) {
            return Err(InvalidEmail::BadDomain);
        }
        Ok(Self(email))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The part before the `@` (the password policy refuses passwords containing it).
    pub fn local_part(&self) -> &str {
        self.0.split('@').next().unwrap_or_default()
    }
}

fn split_once_exactly(text: &str, separator: char) -> Option<(&str, &str)> {
    let (before, after) = text.split_once(separator)?;
    (!after.contains(separator)).then_some((before, after))
}

impl AsRef<str> for Email {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_addresses_are_trimmed_and_lowercased() {
        let email = Email::parse("  Alice.Smith+ops@Example.CO.uk \n").expect("valid");
        assert_eq!(email.as_str(), "alice.smith+ops@example.co.uk");
        assert_eq!(email.local_part(), "alice.smith+ops");
        assert_eq!(email.to_string(), email.as_str());
    }

    #[test]
    fn each_kind_of_bad_address_is_named() {
        let cases = [
            ("", InvalidEmail::Empty),
            ("   ", InvalidEmail::Empty),
            ("alice.example.com", InvalidEmail::AtSigns),
            ("alice@@example.com", InvalidEmail::AtSigns),
            ("a@b@example.com", InvalidEmail::AtSigns),
            ("@example.com", InvalidEmail::EmptyLocalPart),
            ("alice@", InvalidEmail::BadDomain),
            ("alice@localhost", InvalidEmail::BadDomain),
            ("alice@.com", InvalidEmail::BadDomain),
            ("alice@example.", InvalidEmail::BadDomain),
            ("alice@example..com", InvalidEmail::BadDomain),
            ("ali ce@example.com", InvalidEmail::Whitespace),
            ("alice@exa mple.com", InvalidEmail::Whitespace),
            ("alice@example.com\u{0}", InvalidEmail::Whitespace),
        ];
        for (raw, expected) in cases {
            assert_eq!(Email::parse(raw), Err(expected), "{raw:?}");
        }
    }

    #[test]
    fn the_length_limit_is_254_characters() {
        let at_limit = format!("{}@example.com", "a".repeat(MAX_LENGTH - "@example.com".len()));
        assert!(Email::parse(&at_limit).is_ok());
        let over = format!("a{at_limit}");
        assert_eq!(Email::parse(&over), Err(InvalidEmail::TooLong));
    }

    /// Property-style: inserting a space, a second `@` or removing the `@`
    /// anywhere in valid addresses always makes them invalid; parsing is
    /// idempotent on everything it accepts.
    #[test]
    fn mutations_of_valid_addresses_are_refused_and_parsing_is_idempotent() {
        let valid = ["a@b.co", "alice@example.com", "first.last+tag@sub.example.org", "x_y-z@mail.example.io"];
        for address in valid {
            let parsed = Email::parse(address).expect("valid");
            assert_eq!(Email::parse(parsed.as_str()), Ok(parsed.clone()), "idempotent: {address}");
            assert_eq!(Email::parse(&address.to_uppercase()), Ok(parsed), "case-insensitive: {address}");
            for index in 1..address.len() {
                let (before, after) = address.split_at(index);
                for inserted in [" ", "@", "\t"] {
                    let mutated = format!("{before}{inserted}{after}");
                    assert!(Email::parse(&mutated).is_err(), "{mutated:?}");
                }
            }
            let without_at = address.replace('@', "");
            assert!(Email::parse(&without_at).is_err(), "{without_at:?}");
        }
    }

    #[test]
    fn arbitrary_garbage_never_panics() {
        // A cheap deterministic generator over a hostile alphabet.
        let alphabet: Vec<char> = "a@. \t\u{0}é💥-+_\"\\".chars().collect();
        let mut seed: u64 = 0x5eed;
        for _ in 0..5_000 {
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            let length = usize::try_from(seed >> 58).unwrap_or(0);
            let text: String = (0..length)
                .map(|i| {
                    let shift = (i * 5) % 60;
                    alphabet[usize::try_from((seed >> shift) % alphabet.len() as u64).unwrap_or(0)]
                })
                .collect();
            if let Ok(email) = Email::parse(&text) {
                assert_eq!(email.as_str().matches('@').count(), 1, "{text:?}");
                assert!(!email.as_str().contains(char::is_whitespace), "{text:?}");
            }
        }
    }
}
