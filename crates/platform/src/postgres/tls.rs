//! TLS to Postgres with rustls (no system OpenSSL needed), checked the way
//! libpq's `sslmode` promises:
//!
//! | mode | encrypted | certificate chain | host name |
//! | --- | --- | --- | --- |
//! | `disable` | no | – | – |
//! | `prefer` (default) | if the server offers it | only with `sslrootcert` | no |
//! | `require` | yes | only with `sslrootcert` | no |
//! | `verify-ca` | yes | yes (`sslrootcert` required) | no |
//! | `verify-full` | yes | yes (`sslrootcert` required) | yes |

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio_postgres_rustls::MakeRustlsConnect;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SslMode {
    Disable,
    #[default]
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl FromStr for SslMode {
    type Err = ();

    fn from_str(text: &str) -> Result<Self, ()> {
        Ok(match text {
            "disable" => Self::Disable,
            "prefer" => Self::Prefer,
            "require" => Self::Require,
            "verify-ca" => Self::VerifyCa,
            "verify-full" => Self::VerifyFull,
            _ => return Err(()),
        })
    }
}

/// The TLS parameters of one connection string.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsOptions {
    pub mode: SslMode,
    /// `sslrootcert`: PEM file of the CA(s) the server's certificate must chain to.
    pub root_cert: Option<PathBuf>,
    /// `sslcert` / `sslkey`: a client certificate for servers that ask for one.
    pub client_cert: Option<PathBuf>,
    pub client_key: Option<PathBuf>,
}

impl TlsOptions {
    /// What is wrong, one message per problem, naming the parameter (and
    /// the file), never the rest of the connection string.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if matches!(self.mode, SslMode::VerifyCa | SslMode::VerifyFull) && self.root_cert.is_none() {
            problems.push("sslmode=verify-ca and verify-full need sslrootcert=<CA file (PEM)>".to_owned());
        }
        if self.client_cert.is_some() != self.client_key.is_some() {
            problems.push("sslcert and sslkey go together".to_owned());
        }
        if self.mode == SslMode::Disable && (self.root_cert.is_some() || self.client_cert.is_some()) {
            problems.push("sslmode=disable ignores sslrootcert, sslcert and sslkey".to_owned());
        }
        if problems.is_empty()
            && let Err(problem) = self.client_config()
        {
            problems.push(problem);
        }
        problems
    }

    /// The connector for tokio-postgres. With `disable` it is never used.
    pub fn connector(&self) -> Result<MakeRustlsConnect, String> {
        Ok(MakeRustlsConnect::new(self.client_config()?))
    }

    /// The rustls configuration this mode promises (see the module table).
    pub fn client_config(&self) -> Result<ClientConfig, String> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|error| format!("TLS set-up: {error}"))?;
        let roots = self.root_cert.as_deref().map(load_roots).transpose()?.map(Arc::new);
        let builder = match (self.mode, roots) {
            (SslMode::VerifyFull, Some(roots)) => builder.with_root_certificates(roots),
            (_, Some(roots)) => {
                let chain = WebPkiServerVerifier::builder_with_provider(roots, provider)
                    .build()
                    .map_err(|error| format!("sslrootcert: {error}"))?;
                builder.dangerous().with_custom_certificate_verifier(Arc::new(ChainOnly(chain)))
            }
            (SslMode::VerifyCa | SslMode::VerifyFull, None) => return Err("sslmode=verify-ca and verify-full need sslrootcert".to_owned()),
            (SslMode::Disable | SslMode::Prefer | SslMode::Require, None) => {
                builder.dangerous().with_custom_certificate_verifier(Arc::new(EncryptionOnly(provider.signature_verification_algorithms)))
            }
        };
        match (&self.client_cert, &self.client_key) {
            (Some(cert), Some(key)) => {
                let chain = load_certs("sslcert", cert)?;
                let key = PrivateKeyDer::from_pem_file(key).map_err(|error| format!("sslkey {}: {error}", key.display()))?;
                builder.with_client_auth_cert(chain, key).map_err(|error| format!("sslcert/sslkey: {error}"))
            }
            _ => Ok(builder.with_no_client_auth()),
        }
    }
}

fn load_certs(parameter: &str, path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(Iterator::collect::<Result<Vec<_>, _>>)
        .map_err(|error| format!("{parameter} {}: {error}", path.display()))?;
    if certs.is_empty() {
        return Err(format!("{parameter} {} holds no PEM certificate", path.display()));
    }
    Ok(certs)
}

fn load_roots(path: &Path) -> Result<RootCertStore, String> {
    let mut roots = RootCertStore::empty();
    for cert in load_certs("sslrootcert", path)? {
        roots.add(cert).map_err(|error| format!("sslrootcert {}: {error}", path.display()))?;
    }
    Ok(roots)
}

/// `verify-ca` (and `prefer`/`require` with a root certificate): the chain
/// must lead to a configured CA, the name is not checked.
#[derive(Debug)]
struct ChainOnly(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self.0.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now) {
            Err(rustls::Error::InvalidCertificate(CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. })) => {
                Ok(ServerCertVerified::assertion())
            }
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// `prefer`/`require` without a root certificate: encrypted, not
/// authenticated (libpq's behaviour). The handshake signatures are still
/// checked, so the session key belongs to the presented certificate.
#[derive(Debug)]
struct EncryptionOnly(WebPkiSupportedAlgorithms);

impl ServerCertVerifier for EncryptionOnly {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_schemes()
    }
}
