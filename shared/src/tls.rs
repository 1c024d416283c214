//! TLS settings of the HTTPS and Redis endpoints (`[clickhouse.tls]`,
//! `[state.redis.tls]`) and the one reading of certificate files that every
//! OpenSSL-backed client uses (MySQL, ClickHouse over HTTPS, Redis over TLS).
//!
//! Guarantee: a CA file, client certificate or key that cannot be read, is
//! not PEM, or does not pair with its other half is a configuration error
//! naming the key, found when the configuration is checked at start — never
//! a connection retried forever. Servers' certificates are always verified,
//! against `ca_file` or the system's trust store, and must name the host.

use crate::config::{ConfigError, Validate, invalid, key};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// CA and optional client certificate of an endpoint reached over TLS.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TlsFiles {
    /// CA certificate(s), PEM, that signed the server's certificate; the system's trust store when unset.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// Client certificate chain (PEM), for servers that require one; with `key_file`.
    #[serde(default)]
    pub cert_file: Option<PathBuf>,
    /// The client certificate's private key (PEM).
    #[serde(default)]
    pub key_file: Option<PathBuf>,
}

impl TlsFiles {
    /// No file set.
    pub fn is_empty(&self) -> bool {
        self.ca_file.is_none() && self.cert_file.is_none() && self.key_file.is_none()
    }

    /// The first file set, with its key name, for "set but unused" errors.
    pub fn first_set(&self) -> Option<&'static str> {
        [("ca_file", &self.ca_file), ("cert_file", &self.cert_file), ("key_file", &self.key_file)]
            .into_iter()
            .find_map(|(name, value)| value.as_ref().map(|_| name))
    }
}

impl Validate for TlsFiles {
    /// Every file readable; certificate and key set together. (The contents
    /// are checked where a client is built: [`client_identity`], [`pem_identity`].)
    fn validate(&self, prefix: &str) -> Result<(), ConfigError> {
        for (field, path) in [("ca_file", &self.ca_file), ("cert_file", &self.cert_file), ("key_file", &self.key_file)] {
            if let Some(path) = path
                && !path.is_file()
            {
                return Err(invalid(key(prefix, field), format!("{} is not a readable file", path.display())));
            }
        }
        if self.cert_file.is_some() != self.key_file.is_some() {
            return Err(invalid(key(prefix, "key_file"), "set both cert_file and key_file (a client certificate and its key), or neither"));
        }
        Ok(())
    }
}

#[cfg(feature = "tls")]
pub use with_openssl::*;

#[cfg(feature = "tls")]
mod with_openssl {
    use super::*;
    use openssl::pkey::{PKey, Private};
    use std::path::Path;
    use openssl::x509::X509;

    fn read(path: &Path, prefix: &str, field: &str) -> Result<Vec<u8>, ConfigError> {
        std::fs::read(path).map_err(|e| invalid(key(prefix, field), format!("{}: {e}", path.display())))
    }

    /// The certificate chain and the private key, parsed and checked to belong together.
    fn pair(cert_file: &Path, key_file: &Path, prefix: &str) -> Result<(Vec<X509>, PKey<Private>), ConfigError> {
        let chain = X509::stack_from_pem(&read(cert_file, prefix, "cert_file")?)
            .map_err(|e| invalid(key(prefix, "cert_file"), format!("not a PEM certificate: {e}")))?;
        let leaf = chain.first().ok_or_else(|| invalid(key(prefix, "cert_file"), "holds no certificate"))?;
        let private = PKey::private_key_from_pem(&read(key_file, prefix, "key_file")?)
            .map_err(|e| invalid(key(prefix, "key_file"), format!("not a PEM private key: {e}")))?;
        let public = leaf.public_key().map_err(|e| invalid(key(prefix, "cert_file"), e.to_string()))?;
        if !public.public_eq(&private) {
            return Err(invalid(key(prefix, "key_file"), format!("the key does not belong to the certificate in {}", key(prefix, "cert_file"))));
        }
        Ok((chain, private))
    }

    /// The PEM certificate chain and private key as the PKCS#12 archive (no
    /// password) that native-tls takes as a client identity.
    pub fn client_identity(cert_file: &Path, key_file: &Path, prefix: &str) -> Result<Vec<u8>, ConfigError> {
        let (chain, private) = pair(cert_file, key_file, prefix)?;
        let (leaf, rest) = chain.split_first().expect("pair() checked the chain is not empty");
        let mut extra = openssl::stack::Stack::new().map_err(|e| invalid(key(prefix, "cert_file"), e.to_string()))?;
        for cert in rest {
            extra.push(cert.clone()).map_err(|e| invalid(key(prefix, "cert_file"), e.to_string()))?;
        }
        let mut builder = openssl::pkcs12::Pkcs12::builder();
        builder.name("client").pkey(&private).cert(leaf).ca(extra);
        let archive = builder.build2("").map_err(|e| invalid(key(prefix, "key_file"), e.to_string()))?;
        archive.to_der().map_err(|e| invalid(key(prefix, "cert_file"), e.to_string()))
    }

    /// The certificate chain as PEM and the key as PKCS#8 PEM (what clients
    /// that take PEM pairs expect, whatever form the key file has).
    pub fn pem_identity(cert_file: &Path, key_file: &Path, prefix: &str) -> Result<(Vec<u8>, Vec<u8>), ConfigError> {
        let (chain, private) = pair(cert_file, key_file, prefix)?;
        let mut cert = Vec::new();
        for c in &chain {
            cert.extend(c.to_pem().map_err(|e| invalid(key(prefix, "cert_file"), e.to_string()))?);
        }
        let key_pem = private.private_key_to_pem_pkcs8().map_err(|e| invalid(key(prefix, "key_file"), e.to_string()))?;
        Ok((cert, key_pem))
    }

    /// The CA file's certificates, checked to be PEM.
    pub fn ca_pem(files: &TlsFiles, prefix: &str) -> Result<Option<Vec<u8>>, ConfigError> {
        let Some(path) = &files.ca_file else { return Ok(None) };
        let pem = read(path, prefix, "ca_file")?;
        let certs = X509::stack_from_pem(&pem).map_err(|e| invalid(key(prefix, "ca_file"), format!("not a PEM certificate: {e}")))?;
        if certs.is_empty() {
            return Err(invalid(key(prefix, "ca_file"), "holds no certificate"));
        }
        Ok(Some(pem))
    }

    /// A native-tls connector that trusts `ca_file` (else the system's roots)
    /// and presents the client certificate, if set; host names are verified.
    pub fn native_connector(files: &TlsFiles, prefix: &str) -> Result<native_tls::TlsConnector, ConfigError> {
        let mut builder = native_tls::TlsConnector::builder();
        if let Some(pem) = ca_pem(files, prefix)? {
            builder.disable_built_in_roots(true);
            for cert in X509::stack_from_pem(&pem).map_err(|e| invalid(key(prefix, "ca_file"), e.to_string()))? {
                let der = cert.to_der().map_err(|e| invalid(key(prefix, "ca_file"), e.to_string()))?;
                let cert = native_tls::Certificate::from_der(&der).map_err(|e| invalid(key(prefix, "ca_file"), e.to_string()))?;
                builder.add_root_certificate(cert);
            }
        }
        if let (Some(cert), Some(key_file)) = (&files.cert_file, &files.key_file) {
            let identity = native_tls::Identity::from_pkcs12(&client_identity(cert, key_file, prefix)?, "")
                .map_err(|e| invalid(key(prefix, "cert_file"), e.to_string()))?;
            builder.identity(identity);
        }
        builder.build().map_err(|e| invalid(key(prefix, "ca_file"), format!("cannot set up TLS: {e}")))
    }
}
