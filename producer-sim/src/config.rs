//! The `producer-sim` configuration. Every section is optional because each
//! command needs different ones (`clickstream`: kafka + glue; `mysql`: mysql;
//! `verify`: mysql + clickhouse); each command checks for the sections it needs.
//! Unknown or invalid keys stop the tool (exit code 2).

use serde::{Deserialize, Serialize};
use shared::config::{ClickHouseConfig, ConfigError, GlueConfig, KafkaConfig, MysqlConfig, Validate, key};

/// Environment prefix: `PRODUCER_SIM_KAFKA__BOOTSTRAP_SERVERS=...`, `PRODUCER_SIM_CONFIG=file.toml`.
pub const ENV_PREFIX: &str = "PRODUCER_SIM_";

/// This binary's configuration reference and example (`config-docs`, `config-example`).
pub fn reference() -> shared::config::reference::Reference {
    shared::config::reference::Reference::new::<SimConfig>("producer-sim", ENV_PREFIX)
}

/// The `producer-sim` configuration: every section optional, each command checks for those it
/// needs.
#[derive(Debug, Clone, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SimConfig {
    /// The cluster `clickstream` writes to (or its `--bootstrap-servers` and other Kafka flags,
    /// which override this section).
    #[serde(default)]
    pub kafka: Option<KafkaConfig>,
    /// The schema registry of `clickstream`'s Avro records (`--registry` overrides
    /// `registry_name`).
    #[serde(default)]
    pub glue: GlueConfig,
    /// The server `mysql` loads and `verify` compares; required by both.
    #[serde(default)]
    pub mysql: Option<MysqlConfig>,
    /// The ClickHouse `verify` compares with; required by it.
    #[serde(default)]
    pub clickhouse: Option<ClickHouseConfig>,
}

impl Validate for SimConfig {
    fn validate(&self, prefix: &str) -> Result<(), ConfigError> {
        if let Some(kafka) = &self.kafka {
            kafka.validate(&key(prefix, "kafka"))?;
        }
        self.glue.validate(&key(prefix, "glue"))?;
        if let Some(mysql) = &self.mysql {
            mysql.validate(&key(prefix, "mysql"))?;
        }
        if let Some(clickhouse) = &self.clickhouse {
            clickhouse.validate(&key(prefix, "clickhouse"))?;
        }
        Ok(())
    }
}

shared::config_reference_tests!(SimConfig);
