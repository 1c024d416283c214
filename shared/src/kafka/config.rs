//! `[kafka]`: how every service connects to Kafka or Amazon MSK, and the one
//! place that turns it into librdkafka properties.
//!
//! Precedence, low to high: the typed keys below, then `properties_file`
//! (a Java-style `.properties` file, as Kafka tools take), then `properties`.
//! Typed keys cover what MSK needs (TLS, SASL/SCRAM, IAM); the two escape
//! hatches pass anything else to librdkafka unchanged.

use crate::config::{ConfigError, Validate, invalid, key};
use crate::secret::Secret;
use rdkafka::ClientConfig;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// A Kafka or Amazon MSK cluster. Typed keys cover what MSK needs (TLS, SASL/SCRAM, IAM);
/// `properties_file` and `properties` pass anything else to librdkafka, in that order of precedence
/// over the typed keys.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct KafkaConfig {
    /// Comma-separated `host:port` list.
    #[schemars(example = &"127.0.0.1:9092")]
    pub bootstrap_servers: String,
    /// Client id reported to the brokers.
    #[serde(default)]
    pub client_id: Option<String>,
    /// Transport. MSK: `ssl` (port 9094), `sasl_ssl` (SCRAM 9096, IAM 9098).
    #[serde(default)]
    pub security_protocol: SecurityProtocol,
    #[serde(default)]
    pub tls: TlsConfig,
    /// Required with `sasl_plaintext` / `sasl_ssl`.
    #[serde(default)]
    pub sasl: Option<SaslConfig>,
    /// Producer compression.
    #[serde(default = "default_compression")]
    pub compression: KafkaCompression,
    /// Idempotent producer: no duplicates or reordering from producer retries.
    #[serde(default = "default_true")]
    pub idempotence: bool,
    /// A Java-style `.properties` file of librdkafka properties (as Kafka tools take); overrides
    /// the typed keys.
    #[serde(default)]
    pub properties_file: Option<PathBuf>,
    /// Extra librdkafka properties, e.g. `"linger.ms" = "5"`; win over everything else. Printed
    /// with sensitive values (passwords, secrets, keys) as `***`.
    #[serde(default, serialize_with = "crate::secret::serialize_redacted_properties")]
    pub properties: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
#[value(rename_all = "snake_case")]
pub enum SecurityProtocol {
    #[default]
    Plaintext,
    Ssl,
    SaslPlaintext,
    SaslSsl,
}

impl SecurityProtocol {
    fn as_rdkafka(self) -> &'static str {
        match self {
            Self::Plaintext => "plaintext",
            Self::Ssl => "ssl",
            Self::SaslPlaintext => "sasl_plaintext",
            Self::SaslSsl => "sasl_ssl",
        }
    }

    fn uses_sasl(self) -> bool {
        matches!(self, Self::SaslPlaintext | Self::SaslSsl)
    }

    fn uses_tls(self) -> bool {
        matches!(self, Self::Ssl | Self::SaslSsl)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// CA bundle (PEM) that signed the brokers' certificates; the system's trust store when unset
    /// (fine for MSK).
    #[serde(default)]
    pub ca_location: Option<PathBuf>,
    /// Client certificate (PEM), for mutual TLS.
    #[serde(default)]
    pub certificate_location: Option<PathBuf>,
    /// The client certificate's key (PEM), for mutual TLS.
    #[serde(default)]
    pub key_location: Option<PathBuf>,
    /// Password of the client key (never logged or printed).
    #[serde(default)]
    pub key_password: Option<Secret>,
    /// Check that the broker's certificate names the host.
    #[serde(default = "default_true")]
    pub verify_hostname: bool,
}

impl Default for TlsConfig {
    fn default() -> Self {
        Self {
            ca_location: None,
            certificate_location: None,
            key_location: None,
            key_password: None,
            verify_hostname: true,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum SaslMechanism {
    Plain,
    // Kafka's names (`SCRAM-SHA-256`); serde's kebab-case would make them `scram-sha256`.
    #[serde(rename = "scram-sha-256", alias = "scram-sha256")]
    #[value(name = "scram-sha-256", alias = "scram-sha256")]
    ScramSha256,
    #[serde(rename = "scram-sha-512", alias = "scram-sha512")]
    #[value(name = "scram-sha-512", alias = "scram-sha512")]
    ScramSha512,
    /// MSK IAM: OAUTHBEARER with SigV4-signed tokens from the default AWS credential chain,
    /// refreshed before they expire.
    AwsMskIam,
}

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SaslConfig {
    /// SASL mechanism; the `[kafka.sasl]` table is required with `sasl_plaintext` and `sasl_ssl`.
    pub mechanism: SaslMechanism,
    /// User name (`plain`, SCRAM).
    #[serde(default)]
    pub username: Option<String>,
    /// Password (`plain`, SCRAM; never logged or printed).
    #[serde(default)]
    pub password: Option<Secret>,
    /// Region of the MSK cluster (`aws-msk-iam`).
    #[serde(default)]
    pub aws_region: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum KafkaCompression {
    None,
    Gzip,
    Snappy,
    Lz4,
    Zstd,
}

impl KafkaCompression {
    fn as_rdkafka(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Gzip => "gzip",
            Self::Snappy => "snappy",
            Self::Lz4 => "lz4",
            Self::Zstd => "zstd",
        }
    }
}

/// Which kind of client the properties are for.
#[derive(Debug, Clone, Copy)]
pub enum ClientRole<'a> {
    Producer,
    Consumer { group_id: &'a str },
    Admin,
}

impl KafkaConfig {
    /// A minimal plaintext configuration (tests, local tools).
    pub fn plaintext(bootstrap_servers: impl Into<String>) -> Self {
        Self {
            bootstrap_servers: bootstrap_servers.into(),
            client_id: None,
            security_protocol: SecurityProtocol::Plaintext,
            tls: TlsConfig::default(),
            sasl: None,
            compression: default_compression(),
            idempotence: true,
            properties_file: None,
            properties: BTreeMap::new(),
        }
    }

    /// The MSK IAM region when IAM authentication is configured.
    pub fn msk_iam_region(&self) -> Option<&str> {
        self.sasl
            .as_ref()
            .filter(|s| s.mechanism == SaslMechanism::AwsMskIam)
            .and_then(|s| s.aws_region.as_deref())
    }

    /// librdkafka properties for a client of `role`. Secrets are set here and
    /// nowhere else; never log the result.
    pub fn client_config(&self, role: ClientRole<'_>) -> Result<ClientConfig, ConfigError> {
        let mut cfg = ClientConfig::new();
        cfg.set("bootstrap.servers", &self.bootstrap_servers);
        if let Some(id) = &self.client_id {
            cfg.set("client.id", id);
        }
        cfg.set("security.protocol", self.security_protocol.as_rdkafka());
        if self.security_protocol.uses_tls() {
            let tls = &self.tls;
            let paths = [
                ("ssl.ca.location", &tls.ca_location),
                ("ssl.certificate.location", &tls.certificate_location),
                ("ssl.key.location", &tls.key_location),
            ];
            for (name, path) in paths {
                if let Some(path) = path {
                    cfg.set(name, path.display().to_string());
                }
            }
            if let Some(password) = &tls.key_password {
                cfg.set("ssl.key.password", password.expose());
            }
            cfg.set(
                "ssl.endpoint.identification.algorithm",
                if tls.verify_hostname { "https" } else { "none" },
            );
        }
        if let Some(sasl) = &self.sasl {
            match sasl.mechanism {
                SaslMechanism::Plain | SaslMechanism::ScramSha256 | SaslMechanism::ScramSha512 => {
                    let name = match sasl.mechanism {
                        SaslMechanism::Plain => "PLAIN",
                        SaslMechanism::ScramSha256 => "SCRAM-SHA-256",
                        _ => "SCRAM-SHA-512",
                    };
                    cfg.set("sasl.mechanism", name);
                    cfg.set("sasl.username", sasl.username.as_deref().unwrap_or_default());
                    cfg.set("sasl.password", sasl.password.as_ref().map(Secret::expose).unwrap_or_default());
                }
                // The token comes from KafkaContext::generate_oauth_token.
                SaslMechanism::AwsMskIam => {
                    cfg.set("sasl.mechanism", "OAUTHBEARER");
                }
            }
        }
        match role {
            ClientRole::Producer => {
                cfg.set("compression.type", self.compression.as_rdkafka());
                cfg.set("enable.idempotence", if self.idempotence { "true" } else { "false" });
            }
            ClientRole::Consumer { group_id } => {
                cfg.set("group.id", group_id);
            }
            ClientRole::Admin => {}
        }
        if let Some(path) = &self.properties_file {
            for (name, value) in read_properties_file(path)? {
                cfg.set(name, value);
            }
        }
        for (name, value) in &self.properties {
            cfg.set(name, value);
        }
        Ok(cfg)
    }
}

impl Validate for KafkaConfig {
    fn validate(&self, prefix: &str) -> Result<(), ConfigError> {
        let k = key(prefix, "bootstrap_servers");
        if self.bootstrap_servers.trim().is_empty() {
            return Err(invalid(k, "must list at least one host:port"));
        }
        for server in self.bootstrap_servers.split(',').map(str::trim) {
            let port = server.rsplit_once(':').and_then(|(host, port)| {
                (!host.is_empty()).then_some(())?;
                port.parse::<u16>().ok().filter(|p| *p != 0)
            });
            if port.is_none() {
                return Err(invalid(k, format!("`{server}` is not host:port")));
            }
        }
        match (&self.sasl, self.security_protocol.uses_sasl()) {
            (None, true) => {
                return Err(invalid(
                    key(prefix, "sasl.mechanism"),
                    "required when security_protocol is sasl_plaintext or sasl_ssl",
                ));
            }
            (Some(_), false) => {
                return Err(invalid(
                    key(prefix, "security_protocol"),
                    "must be sasl_ssl (or sasl_plaintext) when a [kafka.sasl] section is set",
                ));
            }
            _ => {}
        }
        if let Some(sasl) = &self.sasl {
            let sasl_key = |field| key(&key(prefix, "sasl"), field);
            if sasl.mechanism == SaslMechanism::AwsMskIam {
                if sasl.aws_region.as_deref().is_none_or(str::is_empty) {
                    return Err(invalid(sasl_key("aws_region"), "required for mechanism aws-msk-iam"));
                }
                if self.security_protocol != SecurityProtocol::SaslSsl {
                    return Err(invalid(key(prefix, "security_protocol"), "MSK IAM requires sasl_ssl"));
                }
            } else {
                if sasl.username.as_deref().is_none_or(str::is_empty) {
                    return Err(invalid(sasl_key("username"), "required for this SASL mechanism"));
                }
                if sasl.password.as_ref().is_none_or(Secret::is_empty) {
                    return Err(invalid(sasl_key("password"), "required for this SASL mechanism"));
                }
            }
        }
        if let Some(path) = &self.properties_file {
            read_properties_file(path).map_err(|e| match e {
                ConfigError::Key { reason, .. } => invalid(key(prefix, "properties_file"), reason),
                other => other,
            })?;
        }
        Ok(())
    }
}

/// Reads `key=value` / `key: value` lines; `#` and `!` start comments.
pub fn read_properties_file(path: &std::path::Path) -> Result<Vec<(String, String)>, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| invalid("kafka.properties_file", format!("cannot read {}: {e}", path.display())))?;
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with('!') {
            continue;
        }
        let Some((name, value)) = line.split_once(['=', ':']) else {
            return Err(invalid(
                "kafka.properties_file",
                format!("{} line {}: expected key=value", path.display(), n + 1),
            ));
        };
        out.push((name.trim().to_string(), value.trim().to_string()));
    }
    Ok(out)
}

fn default_compression() -> KafkaCompression {
    KafkaCompression::Lz4
}

fn default_true() -> bool {
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(cfg: &ClientConfig, key: &str) -> Option<String> {
        cfg.get(key).map(str::to_string)
    }

    #[test]
    fn plaintext_producer_gets_compression_and_idempotence() {
        let cfg = KafkaConfig::plaintext("h:9092").client_config(ClientRole::Producer).unwrap();
        assert_eq!(get(&cfg, "bootstrap.servers").as_deref(), Some("h:9092"));
        assert_eq!(get(&cfg, "security.protocol").as_deref(), Some("plaintext"));
        assert_eq!(get(&cfg, "compression.type").as_deref(), Some("lz4"));
        assert_eq!(get(&cfg, "enable.idempotence").as_deref(), Some("true"));
        let consumer = KafkaConfig::plaintext("h:9092")
            .client_config(ClientRole::Consumer { group_id: "g" })
            .unwrap();
        assert_eq!(get(&consumer, "group.id").as_deref(), Some("g"));
        assert_eq!(get(&consumer, "compression.type"), None);
    }

    #[test]
    fn scram_mechanisms_take_kafkas_names() {
        let parse = |name: &str| serde_json::from_value::<SaslMechanism>(serde_json::Value::from(name)).unwrap();
        assert_eq!(parse("scram-sha-256"), SaslMechanism::ScramSha256);
        assert_eq!(parse("scram-sha-512"), SaslMechanism::ScramSha512);
        assert_eq!(parse("scram-sha512"), SaslMechanism::ScramSha512);
        assert_eq!(serde_json::to_value(SaslMechanism::ScramSha256).unwrap(), "scram-sha-256");
    }

    #[test]
    fn scram_over_tls_sets_every_property() {
        let mut k = KafkaConfig::plaintext("b-1.msk:9096");
        k.security_protocol = SecurityProtocol::SaslSsl;
        k.tls.ca_location = Some("/etc/ca.pem".into());
        k.sasl = Some(SaslConfig {
            mechanism: SaslMechanism::ScramSha512,
            username: Some("alice".into()),
            password: Some(Secret::new("pw")),
            aws_region: None,
        });
        k.validate("kafka").unwrap();
        let cfg = k.client_config(ClientRole::Admin).unwrap();
        assert_eq!(get(&cfg, "security.protocol").as_deref(), Some("sasl_ssl"));
        assert_eq!(get(&cfg, "sasl.mechanism").as_deref(), Some("SCRAM-SHA-512"));
        assert_eq!(get(&cfg, "sasl.username").as_deref(), Some("alice"));
        assert_eq!(get(&cfg, "sasl.password").as_deref(), Some("pw"));
        assert_eq!(get(&cfg, "ssl.ca.location").as_deref(), Some("/etc/ca.pem"));
        assert_eq!(get(&cfg, "ssl.endpoint.identification.algorithm").as_deref(), Some("https"));
    }

    #[test]
    fn msk_iam_uses_oauthbearer_and_needs_a_region_and_tls() {
        let mut k = KafkaConfig::plaintext("b-1.msk:9098");
        k.security_protocol = SecurityProtocol::SaslSsl;
        k.sasl = Some(SaslConfig {
            mechanism: SaslMechanism::AwsMskIam,
            username: None,
            password: None,
            aws_region: None,
        });
        assert_eq!(k.validate("kafka").unwrap_err().key(), Some("kafka.sasl.aws_region"));
        k.sasl.as_mut().unwrap().aws_region = Some("eu-west-1".into());
        k.validate("kafka").unwrap();
        assert_eq!(k.msk_iam_region(), Some("eu-west-1"));
        let cfg = k.client_config(ClientRole::Producer).unwrap();
        assert_eq!(get(&cfg, "sasl.mechanism").as_deref(), Some("OAUTHBEARER"));
        k.security_protocol = SecurityProtocol::SaslPlaintext;
        assert_eq!(k.validate("kafka").unwrap_err().key(), Some("kafka.security_protocol"));
    }

    #[test]
    fn sasl_mismatches_are_named() {
        let mut k = KafkaConfig::plaintext("h:1");
        k.security_protocol = SecurityProtocol::SaslSsl;
        assert_eq!(k.validate("kafka").unwrap_err().key(), Some("kafka.sasl.mechanism"));
        k.sasl = Some(SaslConfig {
            mechanism: SaslMechanism::ScramSha256,
            username: Some("u".into()),
            password: None,
            aws_region: None,
        });
        assert_eq!(k.validate("kafka").unwrap_err().key(), Some("kafka.sasl.password"));
        k.security_protocol = SecurityProtocol::Ssl;
        assert_eq!(k.validate("kafka").unwrap_err().key(), Some("kafka.security_protocol"));
    }

    #[test]
    fn properties_file_then_properties_win_over_typed_keys() {
        let path = std::env::temp_dir().join(format!("kafka-props-{}.properties", std::process::id()));
        std::fs::write(&path, "# comment\nlinger.ms=20\ncompression.type: zstd\nacks = all\n").unwrap();
        let mut k = KafkaConfig::plaintext("h:1");
        k.properties_file = Some(path.clone());
        k.properties.insert("linger.ms".into(), "5".into());
        k.validate("kafka").unwrap();
        let cfg = k.client_config(ClientRole::Producer).unwrap();
        assert_eq!(get(&cfg, "compression.type").as_deref(), Some("zstd"));
        assert_eq!(get(&cfg, "acks").as_deref(), Some("all"));
        assert_eq!(get(&cfg, "linger.ms").as_deref(), Some("5"));
        std::fs::write(&path, "no separator here\n").unwrap();
        assert_eq!(k.validate("kafka").unwrap_err().key(), Some("kafka.properties_file"));
        std::fs::remove_file(path).unwrap();
    }
}
