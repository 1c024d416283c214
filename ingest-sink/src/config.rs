//! The `ingest-sink` configuration: what to consume, where to write, and which
//! store keeps the per-partition exactly-once state. An unknown or invalid key
//! stops the service at start (exit code 2).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use shared::config::{
    ClickHouseConfig, ConfigError, GlueConfig, KafkaConfig, MetricsConfig, RedisConfig, Validate, invalid, key,
};

/// Environment prefix: `INGEST_SINK_KAFKA__BOOTSTRAP_SERVERS=...`, `INGEST_SINK_CONFIG=file.toml`.
pub const ENV_PREFIX: &str = "INGEST_SINK_";

/// This binary's configuration reference and example (`config-docs`, `config-example`).
pub fn reference() -> shared::config::reference::Reference {
    shared::config::reference::Reference::new::<SinkConfig>("ingest-sink", ENV_PREFIX)
}

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SinkConfig {
    pub kafka: KafkaConfig,
    /// The AWS Glue Schema Registry the Avro schemas come from (with `consumer.format = "avro"`).
    #[serde(default)]
    pub glue: GlueConfig,
    /// Where the tables are written (and, with `state.store = "keepermap"`, the state).
    #[serde(default)]
    pub clickhouse: ClickHouseConfig,
    pub state: StateConfig,
    pub consumer: ConsumerConfig,
    #[serde(default)]
    pub apply: ApplyConfig,
    #[serde(default = "default_metrics")]
    pub metrics: MetricsConfig,
}

/// Which store keeps `{minOffset, maxOffset, BEFORE|AFTER}` per topic-partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum StateStoreKind {
    /// Redis, compare-and-set through a Lua script.
    Redis,
    /// A ClickHouse `KeeperMap` table (strict mode).
    Keepermap,
    /// In-process only: loses everything on restart. Tests only.
    Memory,
}

/// Where the per-partition exactly-once state (`{minOffset, maxOffset, BEFORE|AFTER}` and a fence)
/// lives.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StateConfig {
    /// The state store.
    #[schemars(example = StateStoreKind::Redis)]
    pub store: StateStoreKind,
    /// The Redis server of `store = "redis"`.
    #[serde(default)]
    #[schemars(example = serde_json::json!({"url": "redis://127.0.0.1:6379"}))]
    pub redis: Option<RedisConfig>,
    /// The KeeperMap table of `store = "keepermap"` (created in `[clickhouse] database` if
    /// missing).
    #[serde(default = "default_keepermap_table")]
    pub keepermap_table: String,
}

/// What is consumed, how records become batches, and what a bad record does.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConsumerConfig {
    /// Kafka consumer group; also namespaces the state keys.
    #[serde(default = "default_group_id")]
    pub group_id: String,
    /// Topics to consume (at least one). An entry starting with `^` is a regular expression
    /// (librdkafka's): `'^cdc\..*'` (a TOML literal string) takes every table topic of the source
    /// with prefix `cdc`, tables created later included (found within
    /// `topic.metadata.refresh.interval.ms`, 10 s); the source's schema-change topic (`cdc`) and
    /// offsets topic (`__cdc_offsets.cdc`) do not match it.
    #[schemars(example = ["^cdc\\..*"])]
    pub topics: Vec<String>,
    /// A partition's batch closes at this many records (at least 1) …
    #[serde(default = "default_batch_max_rows")]
    pub batch_max_rows: usize,
    /// … or at this many bytes of record keys and values (at least 1024; a record larger than
    /// that makes a batch of its own), so memory stays bounded however large the rows are …
    #[serde(default = "default_batch_max_bytes")]
    pub batch_max_bytes: usize,
    /// … or when its first record has waited this long (at least 1).
    #[serde(default = "default_batch_max_wait_ms")]
    pub batch_max_wait_ms: u64,
    /// What a record that cannot be decoded or converted does.
    #[serde(default)]
    pub errors_tolerance: ErrorsTolerance,
    /// Dead-letter topic (created if missing); required with `errors_tolerance = "all"`. A send is
    /// retried only for retriable broker errors; a DLQ that refuses a record (size, ACLs, …) stops
    /// the partition with the reason. The reason header is cut at 1 KiB.
    #[serde(default)]
    pub dlq_topic: Option<String>,
    /// Partitions of the dead-letter topic when the sink creates it.
    #[serde(default = "default_dlq_partitions")]
    pub dlq_topic_partitions: i32,
    /// Its replication factor; default: the cluster's broker count, up to 3 (3 lets `acks=all`
    /// sends meet MSK's `min.insync.replicas = 2`).
    #[serde(default)]
    pub dlq_topic_replication_factor: Option<i32>,
    /// Where a partition with no state and no committed offset starts.
    #[serde(default)]
    pub auto_offset_reset: OffsetReset,
    /// How record values are encoded. A record that is not valid in the chosen format is a dead
    /// letter.
    #[serde(default)]
    pub format: InputFormat,
    /// The delivery guarantee.
    #[serde(default)]
    pub delivery: Delivery,
}

/// The encoding of record values on the consumed topics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum InputFormat {
    /// Avro with the AWS Glue Schema Registry framing (schemas fetched from `[glue]`).
    #[default]
    Avro,
    /// Kafka Connect `JsonConverter` records with `schemas.enable=true`: the embedded schema
    /// defines the columns; bytes and decimals base64.
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Delivery {
    /// The state machine, fenced state writes and insert deduplication tokens.
    #[default]
    ExactlyOnce,
    /// Insert and commit only, the state store not consulted: a crash may store a batch twice. To
    /// measure what exactly-once costs (docs/BENCHMARKS.md), and for tables that deduplicate by
    /// themselves.
    AtLeastOnce,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ErrorsTolerance {
    /// It stops its partition (the others go on; `/healthz` turns 503).
    #[default]
    None,
    /// It goes to `dlq_topic` with the reason, and the partition moves on.
    All,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum OffsetReset {
    /// From the partition's first record.
    #[default]
    Earliest,
    /// From the next record written.
    Latest,
}

/// How topics become ClickHouse tables.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ApplyConfig {
    /// Target table per topic (`"topic" = "table"`). Unlisted change topics go to
    /// `<prefix>_<database>_<table>`: the topic prefix with `.` and `-` made `_`, and the source's
    /// exact database and table names from `source.db` / `source.table` (`cdc.shop.my table` → ``
    /// `cdc_shop_my table` ``); other topics to a table named like the topic (`.` and `-` become
    /// `_`).
    #[serde(default)]
    pub tables: BTreeMap<String, String>,
    /// Create missing tables from the schema, deduplicating inserts: Debezium change topics as
    /// `ReplacingMergeTree(_version, _is_deleted)` ordered by the primary key, other topics as
    /// MergeTree. Else they must exist.
    #[serde(default = "default_true")]
    pub create_tables: bool,
    /// Created tables get `_topic`, `_partition`, `_offset`, `_timestamp` columns (and are ordered
    /// by them).
    #[serde(default)]
    pub metadata_columns: bool,
    /// `non_replicated_deduplication_window` of created tables (inserts remembered for
    /// deduplication; at least 1).
    #[serde(default = "default_dedup_window")]
    pub dedup_window: u64,
    /// What a `DROP TABLE` in the source (a truncate event marked `cdc.table.dropped`) does to its
    /// ClickHouse table. (Dropping the ClickHouse table is not offered: with several partitions,
    /// one partition's older rows can still arrive after another partition's drop.)
    #[serde(default)]
    pub on_table_drop: TableDropPolicy,
    /// Inserts running at once across the sink's partitions (each partition is applied by its own
    /// worker; partitions of one table insert side by side), 1 to 64.
    #[serde(default = "default_max_concurrent_inserts")]
    pub max_concurrent_inserts: usize,
}

/// What happens in ClickHouse when the source table is dropped. (Dropping
/// the ClickHouse table is not offered: with several partitions, one
/// partition's older rows can still arrive after another partition's drop.)
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TableDropPolicy {
    /// Keep the table with every row of the dropped table marked deleted
    /// (gone from the `FINAL` view). A table created later under the same
    /// name continues it: its new columns are added, a retyped column is changed.
    #[default]
    DeleteRows,
    /// Keep the table and its rows as they were.
    Keep,
}

impl Default for ApplyConfig {
    fn default() -> Self {
        Self {
            tables: BTreeMap::new(),
            create_tables: true,
            metadata_columns: false,
            dedup_window: default_dedup_window(),
            on_table_drop: TableDropPolicy::default(),
            max_concurrent_inserts: default_max_concurrent_inserts(),
        }
    }
}

impl ApplyConfig {
    /// The table for `topic`: the one `tables` maps it to, else — for change
    /// events naming their `source` table — `<prefix>_<database>_<table>` with
    /// the source's exact names (`prefix`: the topic before its database and
    /// table parts, `.` and `-` made `_`), else the topic with `.` and `-` made `_`.
    pub fn table_for(&self, topic: &str, source: Option<(&str, &str)>) -> String {
        if let Some(table) = self.tables.get(topic) {
            return table.clone();
        }
        match source {
            Some((database, table)) => shared::kafka::change_table(topic, database, table),
            None => shared::kafka::default_table(topic),
        }
    }
}

impl Validate for SinkConfig {
    fn validate(&self, prefix: &str) -> Result<(), ConfigError> {
        self.kafka.validate(&key(prefix, "kafka"))?;
        self.glue.validate(&key(prefix, "glue"))?;
        self.clickhouse.validate(&key(prefix, "clickhouse"))?;
        self.state.validate(&key(prefix, "state"))?;
        self.consumer.validate(&key(prefix, "consumer"))?;
        if !(1..=64).contains(&self.apply.max_concurrent_inserts) {
            return Err(invalid(key(prefix, "apply.max_concurrent_inserts"), "must be between 1 and 64"));
        }
        if self.apply.dedup_window == 0 {
            return Err(invalid(
                key(prefix, "apply.dedup_window"),
                "must be at least 1: without insert deduplication a retried batch could be stored twice",
            ));
        }
        self.metrics.validate(&key(prefix, "metrics"))
    }
}

impl Validate for StateConfig {
    fn validate(&self, prefix: &str) -> Result<(), ConfigError> {
        match (self.store, &self.redis) {
            (StateStoreKind::Redis, None) => Err(invalid(
                key(prefix, "redis.url"),
                "required when state.store = \"redis\"",
            )),
            (_, Some(redis)) => redis.validate(&key(prefix, "redis")),
            _ => Ok(()),
        }?;
        if self.keepermap_table.is_empty() {
            return Err(invalid(key(prefix, "keepermap_table"), "must not be empty"));
        }
        Ok(())
    }
}

impl Validate for ConsumerConfig {
    fn validate(&self, prefix: &str) -> Result<(), ConfigError> {
        if self.group_id.trim().is_empty() {
            return Err(invalid(key(prefix, "group_id"), "must not be empty"));
        }
        if self.topics.is_empty() || self.topics.iter().any(|t| t.trim().is_empty()) {
            return Err(invalid(key(prefix, "topics"), "must list at least one topic, none empty"));
        }
        for pattern in self.topics.iter().filter(|t| t.starts_with('^')) {
            if let Err(e) = regex::Regex::new(pattern) {
                return Err(invalid(key(prefix, "topics"), format!("{pattern:?} (a pattern, as it starts with ^) is not a valid regular expression: {e}")));
            }
        }
        if self.batch_max_rows == 0 {
            return Err(invalid(key(prefix, "batch_max_rows"), "must be at least 1"));
        }
        if self.batch_max_bytes < 1024 {
            return Err(invalid(key(prefix, "batch_max_bytes"), "must be at least 1024"));
        }
        if self.batch_max_wait_ms == 0 {
            return Err(invalid(key(prefix, "batch_max_wait_ms"), "must be at least 1"));
        }
        if self.dlq_topic_partitions < 1 {
            return Err(invalid(key(prefix, "dlq_topic_partitions"), "must be at least 1"));
        }
        if self.dlq_topic_replication_factor.is_some_and(|r| r < 1) {
            return Err(invalid(key(prefix, "dlq_topic_replication_factor"), "must be at least 1"));
        }
        if self.errors_tolerance == ErrorsTolerance::All && self.dlq_topic.as_deref().is_none_or(str::is_empty) {
            return Err(invalid(
                key(prefix, "dlq_topic"),
                "required when errors_tolerance = \"all\" (bad records must go somewhere)",
            ));
        }
        Ok(())
    }
}

fn default_max_concurrent_inserts() -> usize {
    4
}
fn default_dlq_partitions() -> i32 {
    1
}
fn default_true() -> bool {
    true
}
fn default_dedup_window() -> u64 {
    1_000
}
fn default_keepermap_table() -> String {
    "ingest_sink_state".into()
}
fn default_group_id() -> String {
    "ingest-sink".into()
}
fn default_batch_max_rows() -> usize {
    10_000
}
fn default_batch_max_bytes() -> usize {
    16 * 1024 * 1024
}
fn default_batch_max_wait_ms() -> u64 {
    1_000
}
fn default_metrics() -> MetricsConfig {
    MetricsConfig {
        listen: ([127, 0, 0, 1], 9102).into(),
    }
}

shared::config_reference_tests!(SinkConfig);
