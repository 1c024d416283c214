//! Command-line Kafka settings for the load generators. They override the
//! `[kafka]` section of the configuration (or stand in for it), and the result
//! is validated like any configuration: a bad combination stops the tool with
//! exit code 2 naming the flag's key.

use shared::config::{ConfigError, Validate, invalid};
use shared::kafka::{KafkaConfig, SaslConfig, SaslMechanism, SecurityProtocol};
use shared::secret::Secret;
use std::path::PathBuf;

#[derive(Debug, Clone, Default, clap::Args)]
pub struct KafkaArgs {
    /// Kafka bootstrap servers (host:port,...); overrides [kafka] bootstrap_servers.
    #[arg(long, help_heading = "Kafka")]
    pub bootstrap_servers: Option<String>,
    /// Security protocol.
    #[arg(long, value_enum, help_heading = "Kafka")]
    pub security_protocol: Option<SecurityProtocol>,
    /// CA bundle (PEM) for TLS.
    #[arg(long, value_name = "FILE", help_heading = "Kafka")]
    pub tls_ca: Option<PathBuf>,
    /// Client certificate (PEM) for mutual TLS.
    #[arg(long, value_name = "FILE", help_heading = "Kafka")]
    pub tls_cert: Option<PathBuf>,
    /// Client key (PEM) for mutual TLS.
    #[arg(long, value_name = "FILE", help_heading = "Kafka")]
    pub tls_key: Option<PathBuf>,
    /// SASL mechanism (SCRAM, PLAIN, or MSK IAM).
    #[arg(long, value_enum, help_heading = "Kafka")]
    pub sasl_mechanism: Option<SaslMechanism>,
    /// SASL user name (SCRAM / PLAIN).
    #[arg(long, help_heading = "Kafka")]
    pub sasl_username: Option<String>,
    /// SASL password (SCRAM / PLAIN); prefer the environment variable.
    #[arg(long, env = "PRODUCER_SIM_SASL_PASSWORD", hide_env_values = true, help_heading = "Kafka")]
    pub sasl_password: Option<String>,
    /// Use MSK IAM authentication in this AWS region (implies sasl_ssl and aws-msk-iam).
    #[arg(long, value_name = "REGION", help_heading = "Kafka")]
    pub msk_iam_region: Option<String>,
    /// A Java-style properties file of librdkafka settings.
    #[arg(long, value_name = "FILE", help_heading = "Kafka")]
    pub kafka_properties: Option<PathBuf>,
}

impl KafkaArgs {
    /// `base` (the `[kafka]` section, if any) with these flags applied, validated.
    pub fn apply(&self, base: Option<&KafkaConfig>) -> Result<KafkaConfig, ConfigError> {
        let mut config = match (base, &self.bootstrap_servers) {
            (_, Some(servers)) => {
                let mut c = base.cloned().unwrap_or_else(|| KafkaConfig::plaintext(""));
                c.bootstrap_servers = servers.clone();
                c
            }
            (Some(base), None) => base.clone(),
            (None, None) => {
                return Err(invalid(
                    "kafka.bootstrap_servers",
                    "no Kafka cluster given: set [kafka] bootstrap_servers in the configuration or pass --bootstrap-servers",
                ));
            }
        };
        if let Some(protocol) = self.security_protocol {
            config.security_protocol = protocol;
        }
        let tls = [
            (&self.tls_ca, &mut config.tls.ca_location),
            (&self.tls_cert, &mut config.tls.certificate_location),
            (&self.tls_key, &mut config.tls.key_location),
        ];
        for (flag, field) in tls {
            if flag.is_some() {
                field.clone_from(flag);
            }
        }
        if let Some(region) = &self.msk_iam_region {
            config.security_protocol = SecurityProtocol::SaslSsl;
            config.sasl = Some(SaslConfig {
                mechanism: SaslMechanism::AwsMskIam,
                username: None,
                password: None,
                aws_region: Some(region.clone()),
            });
        } else if let Some(mechanism) = self.sasl_mechanism {
            config.sasl = Some(SaslConfig {
                mechanism,
                username: self.sasl_username.clone(),
                password: self.sasl_password.clone().map(Secret::new),
                aws_region: None,
            });
        }
        if self.kafka_properties.is_some() {
            config.properties_file.clone_from(&self.kafka_properties);
        }
        config.validate("kafka")?;
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_override_and_imply() {
        let args = KafkaArgs {
            bootstrap_servers: Some("b:9098".into()),
            msk_iam_region: Some("us-west-2".into()),
            ..Default::default()
        };
        let cfg = args.apply(Some(&KafkaConfig::plaintext("a:9092"))).unwrap();
        assert_eq!(cfg.bootstrap_servers, "b:9098");
        assert_eq!(cfg.security_protocol, SecurityProtocol::SaslSsl);
        assert_eq!(cfg.msk_iam_region(), Some("us-west-2"));
    }

    #[test]
    fn missing_cluster_and_bad_sasl_are_named() {
        let err = KafkaArgs::default().apply(None).unwrap_err();
        assert_eq!(err.key(), Some("kafka.bootstrap_servers"));
        let args = KafkaArgs {
            bootstrap_servers: Some("b:1".into()),
            security_protocol: Some(SecurityProtocol::SaslSsl),
            sasl_mechanism: Some(SaslMechanism::ScramSha512),
            sasl_username: Some("u".into()),
            ..Default::default()
        };
        assert_eq!(args.apply(None).unwrap_err().key(), Some("kafka.sasl.password"));
    }
}
