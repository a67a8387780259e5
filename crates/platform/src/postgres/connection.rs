//! Reading a connection string the libpq way, TLS included.
//!
//! `tokio_postgres::Config` knows `sslmode=disable|prefer|require` but
//! neither `verify-ca`/`verify-full` nor the certificate files, so the TLS
//! parameters (`sslmode`, `sslrootcert`, `sslcert`, `sslkey`) are taken out
//! of the string here and the rest goes to tokio-postgres. Both forms are
//! read: `postgres://…?sslmode=verify-full&sslrootcert=/ca.pem` and
//! `host=… sslmode=verify-full sslrootcert=/ca.pem`.

use std::path::PathBuf;

use percent_encoding::percent_decode_str;

use super::tls::{SslMode, TlsOptions};

/// A parsed connection string: what tokio-postgres connects to, and how
/// the TLS handshake is checked.
#[derive(Debug, Clone)]
pub struct ConnectionSettings {
    pub config: tokio_postgres::Config,
    pub tls: TlsOptions,
}

/// Why a connection string was refused. Never contains the string itself
/// (it holds a password).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConnectionError {
    #[error("is not a valid postgres:// connection URL")]
    Invalid,
    #[error("sslmode must be one of disable, prefer, require, verify-ca, verify-full")]
    SslMode,
}

const TLS_KEYS: [&str; 4] = ["sslmode", "sslrootcert", "sslcert", "sslkey"];

impl ConnectionSettings {
    pub fn parse(text: &str) -> Result<Self, ConnectionError> {
        let (rest, tls_params) =
            if text.starts_with("postgres://") || text.starts_with("postgresql://") { split_url(text) } else { split_key_value(text)? };
        let mut tls = TlsOptions::default();
        for (key, value) in tls_params {
            match key.as_str() {
                "sslmode" => tls.mode = value.parse().map_err(|()| ConnectionError::SslMode)?,
                "sslrootcert" => tls.root_cert = Some(PathBuf::from(value)),
                "sslcert" => tls.client_cert = Some(PathBuf::from(value)),
                _ => tls.client_key = Some(PathBuf::from(value)),
            }
        }
        let mut config: tokio_postgres::Config = rest.parse().map_err(|_| ConnectionError::Invalid)?;
        config.ssl_mode(match tls.mode {
            SslMode::Disable => tokio_postgres::config::SslMode::Disable,
            SslMode::Prefer => tokio_postgres::config::SslMode::Prefer,
            SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => tokio_postgres::config::SslMode::Require,
        });
        Ok(Self { config, tls })
    }
}

/// The URL without its TLS query parameters, and those parameters decoded.
fn split_url(url: &str) -> (String, Vec<(String, String)>) {
    let Some((base, query)) = url.split_once('?') else { return (url.to_owned(), Vec::new()) };
    let decode = |s: &str| percent_decode_str(s).decode_utf8_lossy().into_owned();
    let mut kept = Vec::new();
    let mut tls = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let key = decode(key);
        if TLS_KEYS.contains(&key.as_str()) {
            tls.push((key, decode(value)));
        } else {
            kept.push(pair);
        }
    }
    let rest = if kept.is_empty() { base.to_owned() } else { format!("{base}?{}", kept.join("&")) };
    (rest, tls)
}

/// The `key=value` form without its TLS keys, re-quoted, and those keys.
fn split_key_value(text: &str) -> Result<(String, Vec<(String, String)>), ConnectionError> {
    let mut kept = Vec::new();
    let mut tls = Vec::new();
    for (key, value) in key_value_pairs(text)? {
        if TLS_KEYS.contains(&key.as_str()) {
            tls.push((key, value));
        } else {
            let quoted = value.replace('\\', "\\\\").replace('\'', "\\'");
            kept.push(format!("{key}='{quoted}'"));
        }
    }
    Ok((kept.join(" "), tls))
}

/// libpq's `key=value` syntax: whitespace-separated, values optionally in
/// single quotes, backslash escapes.
fn key_value_pairs(text: &str) -> Result<Vec<(String, String)>, ConnectionError> {
    let mut pairs = Vec::new();
    let mut chars = text.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.peek().is_none() {
            return Ok(pairs);
        }
        let mut key = String::new();
        while let Some(c) = chars.next_if(|c| *c != '=' && !c.is_whitespace()) {
            key.push(c);
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.next() != Some('=') || key.is_empty() {
            return Err(ConnectionError::Invalid);
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let mut value = String::new();
        if chars.next_if_eq(&'\'').is_some() {
            loop {
                match chars.next() {
                    Some('\'') => break,
                    Some('\\') => value.push(chars.next().ok_or(ConnectionError::Invalid)?),
                    Some(c) => value.push(c),
                    None => return Err(ConnectionError::Invalid),
                }
            }
        } else {
            while let Some(c) = chars.next_if(|c| !c.is_whitespace()) {
                if c == '\\' {
                    value.push(chars.next().ok_or(ConnectionError::Invalid)?);
                } else {
                    value.push(c);
                }
            }
        }
        pairs.push((key, value));
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use tokio_postgres::config::SslMode as PgSslMode;

    use super::*;

    #[test]
    fn tls_parameters_are_taken_out_of_a_url_and_the_rest_reaches_tokio_postgres() {
        let parsed = ConnectionSettings::parse(
            "postgres://app:pw@db.example:6432/signalops?application_name=x&sslmode=verify-full&sslrootcert=%2Fetc%2Fca%20dir%2Fca.pem&sslcert=/c.pem&sslkey=/k.pem",
        )
        .expect("valid");
        assert_eq!(parsed.tls.mode, SslMode::VerifyFull);
        assert_eq!(parsed.tls.root_cert.as_deref(), Some(Path::new("/etc/ca dir/ca.pem")));
        assert_eq!(parsed.tls.client_cert.as_deref(), Some(Path::new("/c.pem")));
        assert_eq!(parsed.tls.client_key.as_deref(), Some(Path::new("/k.pem")));
        assert_eq!(parsed.config.get_ssl_mode(), PgSslMode::Require);
        assert_eq!(parsed.config.get_dbname(), Some("signalops"));
        assert_eq!(parsed.config.get_ports(), [6432]);
        assert_eq!(parsed.config.get_application_name(), Some("x"));
    }

    #[test]
    fn the_key_value_form_is_read_too() {
        let parsed = ConnectionSettings::parse("host=db.example user=app password='p w\\'x' dbname=s sslmode=require").expect("valid");
        assert_eq!(parsed.tls.mode, SslMode::Require);
        assert_eq!(parsed.config.get_password(), Some("p w'x".as_bytes()));
        assert_eq!(parsed.config.get_ssl_mode(), PgSslMode::Require);
    }

    #[test]
    fn without_sslmode_it_is_prefer_as_in_libpq() {
        let parsed = ConnectionSettings::parse("postgres://app:pw@127.0.0.1:5432/db").expect("valid");
        assert_eq!(parsed.tls.mode, SslMode::Prefer);
        assert_eq!(parsed.config.get_ssl_mode(), PgSslMode::Prefer);
        let disabled = ConnectionSettings::parse("postgres://app:pw@127.0.0.1:5432/db?sslmode=disable").expect("valid");
        assert_eq!(disabled.config.get_ssl_mode(), PgSslMode::Disable);
    }

    #[test]
    fn bad_strings_are_refused_without_echoing_them() {
        assert_eq!(ConnectionSettings::parse("postgres://app:hunter2@h/db?sslmode=sometimes").err(), Some(ConnectionError::SslMode));
        assert_eq!(ConnectionSettings::parse("host='unterminated").err(), Some(ConnectionError::Invalid));
        assert_eq!(ConnectionSettings::parse("mysql://root:hunter2@h/db").err(), Some(ConnectionError::Invalid));
        assert!(!ConnectionError::Invalid.to_string().contains("hunter2"));
    }
}
