//! The `cdc-source` configuration: which server to read, where to publish, and
//! how the captured tables are named. Loaded by [`shared::config::load`], so an
//! unknown or invalid key stops the service at start (exit code 2).

use serde::{Deserialize, Serialize};
use shared::config::{ConfigError, GlueConfig, KafkaConfig, MetricsConfig, MysqlConfig, Validate, invalid, key};

/// Environment prefix: `CDC_SOURCE_MYSQL__HOST=...`, `CDC_SOURCE_CONFIG=file.toml`.
pub const ENV_PREFIX: &str = "CDC_SOURCE_";

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceConfig {
    pub mysql: MysqlConfig,
    pub kafka: KafkaConfig,
    #[serde(default)]
    pub glue: GlueConfig,
    pub capture: CaptureConfig,
    #[serde(default = "default_metrics")]
    pub metrics: MetricsConfig,
}

/// What is captured and how it is named (Debezium: `topic.prefix`, `database.server.id`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaptureConfig {
    /// Topics are `<topic_prefix>.<db>.<table>`; schema changes go to `<topic_prefix>`.
    pub topic_prefix: String,
    /// The replica server id this reader presents; unique in the replication topology.
    pub server_id: u32,
}

impl Validate for SourceConfig {
    fn validate(&self, prefix: &str) -> Result<(), ConfigError> {
        self.mysql.validate(&key(prefix, "mysql"))?;
        self.kafka.validate(&key(prefix, "kafka"))?;
        self.glue.validate(&key(prefix, "glue"))?;
        self.capture.validate(&key(prefix, "capture"))?;
        self.metrics.validate(&key(prefix, "metrics"))
    }
}

impl Validate for CaptureConfig {
    fn validate(&self, prefix: &str) -> Result<(), ConfigError> {
        let valid_topic_chars = |s: &str| s.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
        if self.topic_prefix.is_empty() || !valid_topic_chars(&self.topic_prefix) {
            return Err(invalid(
                key(prefix, "topic_prefix"),
                "must be non-empty and use only letters, digits, '.', '_' and '-' (it starts every Kafka topic name)",
            ));
        }
        if self.server_id == 0 {
            return Err(invalid(
                key(prefix, "server_id"),
                "must be a non-zero replica id that no other server or reader uses",
            ));
        }
        Ok(())
    }
}

fn default_metrics() -> MetricsConfig {
    MetricsConfig {
        listen: ([127, 0, 0, 1], 9101).into(),
    }
}
