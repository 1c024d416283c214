//! The `producer-sim` configuration. Every section is optional because each
//! command needs different ones (`clickstream`: kafka + glue; `mysql`: mysql;
//! `verify`: mysql + clickhouse); each command checks for the sections it needs.
//! Unknown or invalid keys stop the tool (exit code 2).

use serde::{Deserialize, Serialize};
use shared::config::{ClickHouseConfig, ConfigError, GlueConfig, KafkaConfig, MysqlConfig, Validate, key};

/// Environment prefix: `PRODUCER_SIM_KAFKA__BOOTSTRAP_SERVERS=...`, `PRODUCER_SIM_CONFIG=file.toml`.
pub const ENV_PREFIX: &str = "PRODUCER_SIM_";

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimConfig {
    #[serde(default)]
    pub kafka: Option<KafkaConfig>,
    #[serde(default)]
    pub glue: GlueConfig,
    #[serde(default)]
    pub mysql: Option<MysqlConfig>,
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
