//! Connection sections that more than one service uses. Each validates its own
//! keys; services embed them under the names used in their TOML files.

use super::{ConfigError, Validate, invalid, key};
use crate::secret::Secret;
use crate::tls::TlsFiles;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::PathBuf;

/// A MySQL or MariaDB server. Every connection of the binary uses these settings (the source's
/// catalog and binlog connections, `producer-sim mysql`, `verify`). `caching_sha2_password` users
/// (MySQL 8.0+'s default) authenticate over TLS; without TLS the server's RSA key exchange is used.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MysqlConfig {
    /// Server host name or address.
    #[serde(default = "default_host")]
    pub host: String,
    /// Server port (1–65535).
    #[serde(default = "default_mysql_port")]
    pub port: u16,
    /// User name.
    #[schemars(example = &"cdc")]
    pub user: String,
    /// Password (never logged or printed).
    #[serde(default)]
    pub password: Secret,
    /// Encryption of the connection (MySQL's `--ssl-mode` and its files).
    #[serde(default)]
    pub tls: MysqlTls,
}

/// How a connection to MySQL is encrypted: the modes of MySQL's own clients.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum MysqlTlsMode {
    /// Never encrypt.
    Disabled,
    /// Encrypt when the server offers TLS (certificate not verified), else plain, said once in the
    /// log.
    #[default]
    Preferred,
    /// Encrypt or fail; the certificate is not verified.
    Required,
    /// Encrypt and verify the server's certificate chain against `ca_file` (or the built-in roots).
    VerifyCa,
    /// As `verify_ca`, and the certificate must name `host`.
    VerifyIdentity,
}

/// `[mysql.tls]`: mode, CA and optional client certificate (PEM files).
#[derive(Debug, Clone, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MysqlTls {
    /// MySQL's `--ssl-mode`. A mode the server cannot satisfy stops the binary with the fix in the
    /// message.
    #[serde(default)]
    pub mode: MysqlTlsMode,
    /// CA certificate(s), PEM, that signed the server's certificate; only with `verify_ca` /
    /// `verify_identity`. MySQL's self-generated certificates name no host: use `verify_ca` with
    /// the server's `ca.pem`.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// Client certificate chain (PEM), for X.509 users; with `key_file`.
    #[serde(default)]
    pub cert_file: Option<PathBuf>,
    /// The client certificate's private key (PEM).
    #[serde(default)]
    pub key_file: Option<PathBuf>,
}

impl Validate for MysqlConfig {
    fn validate(&self, prefix: &str) -> Result<(), ConfigError> {
        non_empty(prefix, "host", &self.host)?;
        non_zero_port(prefix, "port", self.port)?;
        non_empty(prefix, "user", &self.user)?;
        self.tls.validate(&key(prefix, "tls"))
    }
}

impl MysqlTls {
    /// The CA and client certificate files, as every TLS endpoint has them.
    fn files(&self) -> TlsFiles {
        TlsFiles { ca_file: self.ca_file.clone(), cert_file: self.cert_file.clone(), key_file: self.key_file.clone() }
    }
}

impl Validate for MysqlTls {
    fn validate(&self, prefix: &str) -> Result<(), ConfigError> {
        let files = self.files();
        if let Some(field) = files.first_set()
            && self.mode == MysqlTlsMode::Disabled
        {
            return Err(invalid(key(prefix, field), "is set but tls.mode = \"disabled\": remove it or choose a TLS mode"));
        }
        files.validate(prefix)?;
        if self.ca_file.is_some() && matches!(self.mode, MysqlTlsMode::Preferred | MysqlTlsMode::Required) {
            return Err(invalid(
                key(prefix, "mode"),
                "ca_file is set but the mode does not verify certificates: use \"verify_ca\" or \"verify_identity\"",
            ));
        }
        Ok(())
    }
}

/// The AWS Glue Schema Registry (or a Glue-compatible endpoint).
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GlueConfig {
    /// AWS region.
    #[serde(default = "default_region")]
    pub region: String,
    /// Endpoint override (a local or Glue-compatible registry); AWS's regional endpoint when unset.
    #[serde(default)]
    pub endpoint_url: Option<String>,
    /// The registry holding the schemas.
    #[serde(default = "default_registry")]
    pub registry_name: String,
    /// Static credentials, with `secret_access_key`; neither: the default AWS credential chain
    /// (environment, profile, instance or task role).
    #[serde(default)]
    pub access_key_id: Option<String>,
    /// The secret key of `access_key_id` (never logged or printed).
    #[serde(default)]
    pub secret_access_key: Option<Secret>,
}

impl Default for GlueConfig {
    fn default() -> Self {
        Self {
            region: default_region(),
            endpoint_url: None,
            registry_name: default_registry(),
            access_key_id: None,
            secret_access_key: None,
        }
    }
}

impl Validate for GlueConfig {
    fn validate(&self, prefix: &str) -> Result<(), ConfigError> {
        non_empty(prefix, "region", &self.region)?;
        non_empty(prefix, "registry_name", &self.registry_name)?;
        if let Some(url) = &self.endpoint_url {
            http_url(prefix, "endpoint_url", url)?;
        }
        if self.access_key_id.is_some() != self.secret_access_key.is_some() {
            return Err(invalid(
                key(prefix, "secret_access_key"),
                "set both access_key_id and secret_access_key, or neither (to use the default AWS credential chain)",
            ));
        }
        Ok(())
    }
}

/// A ClickHouse server's HTTP interface.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ClickHouseConfig {
    /// The HTTP interface's URL.
    #[serde(default = "default_clickhouse_url")]
    pub url: String,
    /// Database of the tables.
    #[serde(default = "default_database")]
    pub database: String,
    /// User name.
    #[serde(default = "default_user")]
    pub user: String,
    /// Password (never logged or printed).
    #[serde(default)]
    pub password: Secret,
    /// CA and client certificate of an `https://` url (ClickHouse Cloud needs neither: its
    /// certificates chain to the system's trust store).
    #[serde(default)]
    pub tls: TlsFiles,
}

#[cfg(feature = "clickhouse")]
impl ClickHouseConfig {
    /// An HTTP(S) client for this server, user and database. Fails only on
    /// TLS files that [`Validate`] would have refused.
    pub fn client(&self) -> Result<clickhouse::Client, ConfigError> {
        use hyper_util::client::legacy::{Client, connect::HttpConnector};
        let mut http = HttpConnector::new();
        http.set_keepalive(Some(std::time::Duration::from_secs(60)));
        http.enforce_http(false);
        let tls = crate::tls::native_connector(&self.tls, "clickhouse.tls")?;
        let connector = hyper_tls::HttpsConnector::from((http, tokio_native_tls::TlsConnector::from(tls)));
        // Idle connections are dropped before the server's keep-alive (3 s before 23.11) closes them.
        let http_client = Client::builder(hyper_util::rt::TokioExecutor::new())
            .pool_idle_timeout(std::time::Duration::from_secs(2))
            .build(connector);
        Ok(clickhouse::Client::with_http_client(http_client)
            .with_url(&self.url)
            .with_database(&self.database)
            .with_user(&self.user)
            .with_password(self.password.expose()))
    }
}

impl Default for ClickHouseConfig {
    fn default() -> Self {
        Self {
            url: default_clickhouse_url(),
            database: default_database(),
            user: default_user(),
            password: Secret::default(),
            tls: TlsFiles::default(),
        }
    }
}

impl Validate for ClickHouseConfig {
    fn validate(&self, prefix: &str) -> Result<(), ConfigError> {
        http_url(prefix, "url", &self.url)?;
        non_empty(prefix, "database", &self.database)?;
        non_empty(prefix, "user", &self.user)?;
        self.tls.validate(&key(prefix, "tls"))?;
        tls_only_with(prefix, &self.tls, self.url.starts_with("https://"), "url is http://: use an https:// url")?;
        #[cfg(feature = "tls")]
        crate::tls::native_connector(&self.tls, &key(prefix, "tls"))?;
        Ok(())
    }
}

/// A Redis server.
#[derive(Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RedisConfig {
    /// `redis://host:port[/db]`, or `rediss://` for TLS (what ElastiCache with in-transit encryption
    /// and Redis Cloud require). A password in the URL works and prints as `***`, but belongs in
    /// `password`.
    #[schemars(example = &"redis://127.0.0.1:6379")]
    #[serde(serialize_with = "crate::secret::serialize_redacted_url")]
    pub url: String,
    /// ACL user name (Redis 6+), with `password`; the default user when unset.
    #[serde(default)]
    pub username: Option<String>,
    /// Password (`AUTH`), kept out of the URL; never logged or printed.
    #[serde(default)]
    pub password: Option<Secret>,
    /// CA and client certificate of a `rediss://` url.
    #[serde(default)]
    pub tls: TlsFiles,
}

impl std::fmt::Debug for RedisConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisConfig")
            .field("url", &crate::secret::redact_url(&self.url))
            .field("username", &self.username)
            .field("password", &self.password)
            .field("tls", &self.tls)
            .finish()
    }
}

impl RedisConfig {
    /// A Redis server at `url` with no other setting.
    pub fn at(url: impl Into<String>) -> Self {
        Self { url: url.into(), username: None, password: None, tls: TlsFiles::default() }
    }
}

impl Validate for RedisConfig {
    fn validate(&self, prefix: &str) -> Result<(), ConfigError> {
        let tls = self.url.starts_with("rediss://");
        if !(tls || self.url.starts_with("redis://")) {
            return Err(invalid(key(prefix, "url"), "must start with redis:// or rediss:// (TLS)"));
        }
        let url_has_password = self.url.split_once("://").is_some_and(|(_, rest)| {
            let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
            authority.rsplit_once('@').is_some_and(|(credentials, _)| credentials.contains(':'))
        });
        if url_has_password && self.password.is_some() {
            return Err(invalid(key(prefix, "password"), "is set and the url has a password too: keep one (the password key, out of the url)"));
        }
        if self.username.is_some() && self.password.is_none() {
            return Err(invalid(key(prefix, "username"), "needs password (Redis ACL users authenticate with both)"));
        }
        self.tls.validate(&key(prefix, "tls"))?;
        tls_only_with(prefix, &self.tls, tls, "url is redis://: use a rediss:// url")?;
        #[cfg(feature = "tls")]
        {
            let tls_prefix = key(prefix, "tls");
            crate::tls::ca_pem(&self.tls, &tls_prefix)?;
            if let (Some(cert), Some(key_file)) = (&self.tls.cert_file, &self.tls.key_file) {
                crate::tls::pem_identity(cert, key_file, &tls_prefix)?;
            }
        }
        Ok(())
    }
}

/// TLS files set for a plain-text endpoint would be ignored: refused instead.
fn tls_only_with(prefix: &str, files: &TlsFiles, encrypted: bool, fix: &str) -> Result<(), ConfigError> {
    match files.first_set() {
        Some(field) if !encrypted => Err(invalid(key(prefix, &format!("tls.{field}")), format!("is set but {fix}, or remove it"))),
        _ => Ok(()),
    }
}

/// Where `/metrics` (Prometheus) and `/healthz` are served.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    /// `address:port` of the HTTP endpoint.
    pub listen: SocketAddr,
}

impl Validate for MetricsConfig {
    fn validate(&self, _prefix: &str) -> Result<(), ConfigError> {
        Ok(()) // the type already guarantees a valid socket address
    }
}

pub(crate) fn non_empty(prefix: &str, field: &str, value: &str) -> Result<(), ConfigError> {
    if value.trim().is_empty() {
        return Err(invalid(key(prefix, field), "must not be empty"));
    }
    Ok(())
}

fn non_zero_port(prefix: &str, field: &str, port: u16) -> Result<(), ConfigError> {
    if port == 0 {
        return Err(invalid(key(prefix, field), "must be a port number between 1 and 65535"));
    }
    Ok(())
}

fn http_url(prefix: &str, field: &str, url: &str) -> Result<(), ConfigError> {
    let rest = url.strip_prefix("http://").or_else(|| url.strip_prefix("https://"));
    if rest.is_none_or(|r| r.is_empty() || r.starts_with('/')) {
        return Err(invalid(key(prefix, field), format!("`{url}` is not an http:// or https:// URL")));
    }
    Ok(())
}

fn default_host() -> String {
    "127.0.0.1".into()
}
fn default_mysql_port() -> u16 {
    3306
}
fn default_region() -> String {
    "us-east-1".into()
}
fn default_registry() -> String {
    "default-registry".into()
}
fn default_clickhouse_url() -> String {
    "http://127.0.0.1:8123".into()
}
fn default_database() -> String {
    "default".into()
}
fn default_user() -> String {
    "default".into()
}
