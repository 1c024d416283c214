//! The `cdc-source` configuration: which server to read, where to publish, and
//! how the captured tables are named. Loaded by [`shared::config::load`], so an
//! unknown or invalid key stops the service at start (exit code 2).

use serde::{Deserialize, Serialize};
use shared::config::{ConfigError, GlueConfig, KafkaConfig, MetricsConfig, MysqlConfig, Validate, invalid, key};

/// Environment prefix: `CDC_SOURCE_MYSQL__HOST=...`, `CDC_SOURCE_CONFIG=file.toml`.
pub const ENV_PREFIX: &str = "CDC_SOURCE_";

/// This binary's configuration reference and example (`config-docs`, `config-example`).
pub fn reference() -> shared::config::reference::Reference {
    shared::config::reference::Reference::new::<SourceConfig>("cdc-source", ENV_PREFIX)
}

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SourceConfig {
    /// The server whose binlog is read. It must have `log_bin`, `binlog_format = ROW`,
    /// `binlog_row_image = FULL`, `binlog_row_metadata = FULL` and (MariaDB) `log_bin_compress`
    /// off; the source checks each at start and names the setting to change. The user needs
    /// `REPLICATION SLAVE`, `REPLICATION CLIENT` and `SELECT` on the captured tables (and, for the
    /// consistent snapshot on MySQL, `RELOAD` for its brief global read lock, or `LOCK TABLES` with
    /// `snapshot.locking = "tables"`).
    pub mysql: MysqlConfig,
    pub kafka: KafkaConfig,
    /// The AWS Glue Schema Registry the Avro schemas go to (with `capture.format = "avro"`).
    #[serde(default)]
    pub glue: GlueConfig,
    pub capture: CaptureConfig,
    #[serde(default)]
    pub snapshot: SnapshotConfig,
    #[serde(default)]
    pub offsets: OffsetsConfig,
    #[serde(default = "default_metrics")]
    pub metrics: MetricsConfig,
}

/// What is captured and how it is named (Debezium: `topic.prefix`, `database.server.id`).
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CaptureConfig {
    /// Topics are `<topic_prefix>.<db>.<table>`; schema changes go to `<topic_prefix>`. Letters,
    /// digits, `.`, `_`, `-`. In `<db>` and `<table>` every character a topic cannot hold (anything
    /// but ASCII letters, digits, `.`, `_`, `-`) becomes `_`, as Debezium does; the exact names
    /// travel in `source.db` / `source.table`.
    #[schemars(example = &"cdc")]
    pub topic_prefix: String,
    /// The replica server id this reader presents: non-zero, unique in the replication topology.
    #[schemars(example = 5701)]
    pub server_id: u32,
    /// Databases to capture (empty: all but `mysql`, `information_schema`, `performance_schema`,
    /// `sys`).
    #[serde(default)]
    pub include_databases: Vec<String>,
    /// `db.table` names to capture (empty: every table of the captured databases). The lists are
    /// stored with the offsets: a start whose lists take in tables the last run did not capture
    /// reads those tables first (their rows, then their changes).
    #[serde(default)]
    pub include_tables: Vec<String>,
    /// `db.table` names never captured.
    #[serde(default)]
    pub exclude_tables: Vec<String>,
    /// `db.table.column` names left out of every event (and of the schemas).
    #[serde(default)]
    pub exclude_columns: Vec<String>,
    /// Partitions of each table topic the source creates; records are keyed by primary key with
    /// Kafka's murmur2 partitioner.
    #[serde(default = "default_partitions")]
    pub topic_partitions: i32,
    /// Replication factor of the topics the source creates (table topics, schema changes, offsets,
    /// heartbeats); set 3 on MSK and other production clusters.
    #[serde(default = "default_replication")]
    pub topic_replication_factor: i32,
    /// Write a tombstone (the key with a null value) after each delete, for log compaction.
    #[serde(default = "default_true")]
    pub tombstones_on_delete: bool,
    /// Record encoding.
    #[serde(default)]
    pub format: OutputFormat,
    /// The server sends a heartbeat when the binlog is idle this long (this also bounds how stale
    /// the lag metrics get); the period of `heartbeat_topic` records.
    #[serde(default = "default_heartbeat_ms")]
    pub heartbeat_interval_ms: u64,
    /// If set, a record `{serverName}` → `{ts_ms}` goes to this topic every `heartbeat_interval_ms`
    /// (Debezium's `__debezium-heartbeat.<prefix>`), so consumers can tell an idle source from a
    /// dead one.
    #[serde(default)]
    pub heartbeat_topic: Option<String>,
    /// Change kinds not published (Debezium's `skipped.operations`): any of `c` (inserts), `u`
    /// (updates), `d` (deletes), `t` (`TRUNCATE`, and the truncate event sent for `DROP TABLE`).
    /// Debezium skips `t` by default; we publish it, because a consumer cannot stay equal to the
    /// table without it.
    #[serde(default)]
    pub skipped_operations: Vec<String>,
    /// The largest record the source sends, in bytes (key, value and headers), 1000 to 10⁹; the
    /// producer's `message.max.bytes` follows it. Default: the broker's `message.max.bytes`, asked
    /// at start (1,048,588 when the broker does not say).
    #[serde(default)]
    pub max_record_bytes: Option<usize>,
    /// What a change whose record would be larger than `max_record_bytes` does.
    #[serde(default)]
    pub oversized_records: OversizedRecords,
    /// BIGINT UNSIGNED in events (Debezium's `bigint.unsigned.handling.mode`). Either way the field
    /// carries `__debezium.source.column.type = "BIGINT UNSIGNED"`, and the sink stores the exact
    /// value in a `UInt64` column.
    #[serde(default)]
    pub bigint_unsigned_handling: BigintUnsignedHandling,
    /// Debezium's signal table (`signal.data.collection`), `db.table` with columns `id VARCHAR(42)
    /// PRIMARY KEY, type VARCHAR(32), data VARCHAR(2048)`. A row inserted there is a command to the
    /// source: `execute-snapshot` with `data = '{"data-collections": ["db.t", …]}'` (optional
    /// `"type": "blocking"` — default incremental — and `"additional-conditions":
    /// [{"data-collection": "db.t", "filter": "<SQL condition>"}]`), `stop-snapshot` (optional
    /// `data-collections`), `pause-snapshot`, `resume-snapshot`; `cdc-source snapshot
    /// start|stop|pause|resume` writes these rows. Incremental snapshots also write their window
    /// watermarks there (a `snapshot-window-open` row, deleted again), so with the default
    /// watermarks the source's user needs INSERT and DELETE on it. Table names are exact `db.table`
    /// (not regexes). The table's own changes are not published.
    #[serde(default)]
    pub signal_table: Option<String>,
    /// Debezium's Kafka signal channel (`signal.kafka.topic`): records keyed by `topic_prefix` with
    /// a JSON value `{"type": "execute-snapshot", "data": {"data-collections": ["db.t"], "type":
    /// "INCREMENTAL"}}` (or the other signals of `signal_table`) are acted on like signal-table
    /// rows; records with another key are ignored. Read from partition 0; where it was read to is
    /// stored with the offsets, so a restart does not act on a signal twice. Created (one
    /// partition) if missing. Without a signal table, the CLI sends through this topic.
    #[serde(default)]
    pub signal_topic: Option<String>,
    /// Key columns for tables (Debezium's `message.key.columns`): `"db.table" = ["col", …]`. A
    /// table listed gets this key instead of its primary key (or of none): its records are keyed
    /// and partitioned by it, and the sink keeps its current rows by it. The columns must identify
    /// a row (unique and NOT NULL), or rows sharing a key replace each other.
    #[serde(default)]
    pub key_columns: std::collections::BTreeMap<String, Vec<String>>,
    /// Glue compatibility rule of the table schemas the source creates (a schema that exists keeps
    /// its own). `NONE` by default: MySQL lets a table change in ways no Avro rule admits (a column
    /// retyped, a table dropped and created anew with other columns) and the source must follow
    /// it; every record names its own schema version, so consumers decode it with the schema it
    /// was written with. With a stricter rule such a change stops the source, and the message
    /// gives the `aws glue update-schema` command that lets it continue.
    #[serde(default)]
    pub schema_compatibility: TableSchemaCompatibility,
}

/// [`CaptureConfig::bigint_unsigned_handling`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum BigintUnsignedHandling {
    /// An Avro `long`: values above 2⁶³ − 1 wrap to negative, as Debezium sends them.
    #[default]
    Long,
    /// `decimal(20, 0)`: exact.
    Precise,
}

/// [`CaptureConfig::oversized_records`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum OversizedRecords {
    /// That table's changes are skipped from then on — logged at error level with the fix,
    /// `cdc_source_quarantined{table} = 1`, named by `/healthz` (still 200) and by a schema-change
    /// event whose `ddl` is a comment `-- cdc-source: … put in quarantine: …`, stored with the
    /// offsets — while every other table goes on; the table is re-read when the source starts next.
    /// Raise the broker's limit (and the topic's `max.message.bytes`) or leave the column out
    /// (`exclude_columns`), then restart.
    #[default]
    Quarantine,
    /// The source stops, naming the table and the fix.
    Fail,
}

/// [`CaptureConfig::schema_compatibility`]: a Glue compatibility mode, `NONE` by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(transparent)]
pub struct TableSchemaCompatibility(pub shared::glue::CompatibilityMode);

impl Default for TableSchemaCompatibility {
    fn default() -> Self {
        Self(shared::glue::CompatibilityMode::None)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum OutputFormat {
    /// Avro in the AWS Glue Schema Registry framing (schemas in `[glue]`).
    #[default]
    Avro,
    /// Kafka Connect `JsonConverter` records with schemas.
    Json,
}

/// Debezium's `snapshot.mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SnapshotMode {
    /// Snapshot when there are no stored offsets (or the last snapshot did not finish), then
    /// stream.
    #[default]
    Initial,
    /// Snapshot, then stop.
    InitialOnly,
    /// Like `initial`, and also when the stored position is gone from the server (purged): then it
    /// snapshots again and streams from there, instead of stopping.
    WhenNeeded,
    /// No data snapshot: stream from the current position.
    NoData,
}

/// How tables are read in full: at the first start, when the stored position is gone, for tables
/// newly captured, and on signals.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SnapshotConfig {
    /// When the source snapshots (Debezium's `snapshot.mode`).
    #[serde(default)]
    pub mode: SnapshotMode,
    /// Rows read per primary-key chunk of a consistent snapshot.
    #[serde(default = "default_chunk_rows")]
    pub chunk_rows: u64,
    /// How the snapshot point is made consistent with the rows read.
    #[serde(default)]
    pub locking: SnapshotLocking,
    /// How the initial snapshot (and a `when_needed` one) reads the tables; also how tables newly
    /// taken in by the capture lists are read at a start. Not combinable with `mode =
    /// "initial_only"` when `incremental`. The default stays `consistent` because it needs no write
    /// access to the server, no primary keys and no signal table — what a first run on any server
    /// can count on; choose `incremental` for big tables.
    #[serde(default)]
    pub method: SnapshotMethod,
    /// Rows per chunk of an incremental snapshot (Debezium's `incremental.snapshot.chunk.size`), 1
    /// to 8192; a window holds one chunk per table read.
    #[serde(default = "default_incremental_chunk_rows")]
    pub incremental_chunk_rows: u64,
    /// Tables (or key ranges of one big table with a one-column integer key, split evenly by key
    /// value) an incremental snapshot reads side by side, one connection each, in the same window;
    /// 1 to 16.
    #[serde(default = "default_incremental_tables")]
    pub incremental_parallel_tables: usize,
    /// How an incremental snapshot marks its windows in the binlog.
    #[serde(default)]
    pub incremental_watermarks: Watermarks,
}

/// How an incremental snapshot's windows are found in the binlog.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Watermarks {
    /// A row written into `capture.signal_table` before the chunk and deleted after it (MySQL and
    /// MariaDB).
    #[default]
    SignalTable,
    /// `@@gtid_executed` read before and after the chunk: nothing is written, for a user without
    /// write privileges (Debezium's `read.only`). MySQL with `gtid_mode = ON` only; elsewhere the
    /// snapshot stops with that message and the stream goes on.
    Gtid,
}

/// How the initial snapshot reads the tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SnapshotMethod {
    /// One repeatable-read transaction before streaming (Debezium's default): needs no write access
    /// and no primary keys, but a cut snapshot starts over.
    #[default]
    Consistent,
    /// Streaming from the start, tables read in primary-key chunks between watermarks
    /// (docs/ARCHITECTURE.md, incremental snapshots); resumes at the next chunk after a restart;
    /// needs `capture.signal_table` or `incremental_watermarks = "gtid"`. Tables without a primary
    /// key are read in one consistent pass.
    Incremental,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SnapshotLocking {
    /// MariaDB: no lock (the consistent-snapshot transaction reports its binlog position). MySQL:
    /// `global`, or `tables` when the user lacks RELOAD.
    #[default]
    Auto,
    /// A global read lock, held only while the snapshot transaction opens and
    /// the position is read (needs RELOAD).
    Global,
    /// `LOCK TABLES … READ` on the captured tables for the whole snapshot:
    /// writes to them wait until it ends (needs LOCK TABLES, not RELOAD).
    Tables,
}

impl Default for SnapshotConfig {
    fn default() -> Self {
        Self {
            mode: SnapshotMode::default(),
            chunk_rows: default_chunk_rows(),
            locking: SnapshotLocking::default(),
            method: SnapshotMethod::default(),
            incremental_chunk_rows: default_incremental_chunk_rows(),
            incremental_parallel_tables: default_incremental_tables(),
            incremental_watermarks: Watermarks::default(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum OffsetStoreKind {
    /// A compacted Kafka topic (one partition, keyed by `topic_prefix`): the offsets live with the
    /// data.
    #[default]
    Kafka,
    /// A local JSON file, replaced atomically.
    File,
}

/// How the start-up read-back knows it has read a partition to its end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReadbackUntil {
    /// Up to the partition's end offset as the broker reports it (Kafka, MSK).
    #[default]
    EndOffset,
    /// Until the partitions stay silent for 1.5 s: only for test brokers whose end offsets are
    /// wrong. Never in production.
    QuietPeriod,
}

/// Where the source keeps its resume position (binlog position, GTID set, snapshot progress, schema
/// history marks).
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OffsetsConfig {
    /// Where the resume position is kept.
    #[serde(default)]
    pub store: OffsetStoreKind,
    /// Topic of the `kafka` store; default `__cdc_offsets.<topic_prefix>`, named so that a sink's
    /// pattern for the table topics (`^<prefix>\..*`) does not match it. If a topic
    /// `<topic_prefix>.offsets` exists (the default of earlier versions) and this is not set, that
    /// one is kept, with a warning: set it explicitly and make sure a sink pattern excludes it.
    #[serde(default)]
    pub topic: Option<String>,
    /// File of the `file` store (replaced atomically).
    #[serde(default = "default_offsets_file")]
    pub file: std::path::PathBuf,
    /// How often the acknowledged position is stored.
    #[serde(default = "default_flush_ms")]
    pub flush_interval_ms: u64,
    /// How the start-up read-back of the source's topics (which makes a restart resend nothing)
    /// knows a partition is read to its end.
    #[serde(default)]
    pub readback_until: ReadbackUntil,
}

impl Default for OffsetsConfig {
    fn default() -> Self {
        Self {
            store: OffsetStoreKind::default(),
            topic: None,
            file: default_offsets_file(),
            flush_interval_ms: default_flush_ms(),
            readback_until: ReadbackUntil::default(),
        }
    }
}

impl CaptureConfig {
    /// Whether `db.table` is captured by the include/exclude lists.
    pub fn captures(&self, database: &str, table: &str) -> bool {
        captured(&self.include_databases, &self.include_tables, &self.exclude_tables, database, table)
    }

    /// The lists that decide which tables are captured.
    pub fn filter(&self) -> CaptureFilter {
        CaptureFilter {
            include_databases: self.include_databases.clone(),
            include_tables: self.include_tables.clone(),
            exclude_tables: self.exclude_tables.clone(),
        }
    }

    /// Whether `db.table` is the signal table.
    pub fn is_signal_table(&self, database: &str, table: &str) -> bool {
        self.signal_table.as_deref().is_some_and(|s| s.split_once('.') == Some((database, table)))
    }

    pub fn excludes_column(&self, database: &str, table: &str, column: &str) -> bool {
        self.exclude_columns.iter().any(|c| *c == format!("{database}.{table}.{column}"))
    }

    /// Whether changes of kind `op` are left out (`skipped_operations`).
    pub fn skips(&self, op: crate::envelope::Op) -> bool {
        !self.skipped_operations.is_empty() && self.skipped_operations.iter().any(|s| s == op.code())
    }

    /// `<topic_prefix>.<db>.<table>`, each name with the characters a topic cannot hold made `_`.
    pub fn topic_for(&self, database: &str, table: &str) -> String {
        shared::kafka::table_topic(&self.topic_prefix, database, table)
    }
}

/// Which tables are captured ([`CaptureConfig`]'s lists), stored with the
/// offsets so that a start with other lists can read the tables they add.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaptureFilter {
    pub include_databases: Vec<String>,
    pub include_tables: Vec<String>,
    pub exclude_tables: Vec<String>,
}

impl CaptureFilter {
    pub fn captures(&self, database: &str, table: &str) -> bool {
        captured(&self.include_databases, &self.include_tables, &self.exclude_tables, database, table)
    }
}

fn captured(include_databases: &[String], include_tables: &[String], exclude_tables: &[String], database: &str, table: &str) -> bool {
    const SYSTEM: [&str; 4] = ["mysql", "information_schema", "performance_schema", "sys"];
    let full = format!("{database}.{table}");
    let database_ok = if include_databases.is_empty() {
        !SYSTEM.contains(&database)
    } else {
        include_databases.iter().any(|d| d == database)
    };
    database_ok && (include_tables.is_empty() || include_tables.contains(&full)) && !exclude_tables.contains(&full)
}

impl OffsetsConfig {
    /// The offsets topic: `topic`, else `__cdc_offsets.<topic_prefix>` — named
    /// so that a consumer's pattern for the table topics (`^<prefix>\..*`)
    /// does not match it — unless a topic of the name earlier versions used,
    /// `<topic_prefix>.offsets`, exists (`exists`): that one is kept.
    pub fn topic_name(&self, capture: &CaptureConfig, exists: impl Fn(&str) -> bool) -> String {
        if let Some(topic) = &self.topic {
            return topic.clone();
        }
        let legacy = format!("{}.offsets", capture.topic_prefix);
        if exists(&legacy) {
            tracing::warn!(topic = %legacy, "using the offsets topic of the old default name; a sink subscribed by the pattern of the table topics also matches it: set offsets.topic to it explicitly and subscribe the sink by a pattern that excludes it");
            return legacy;
        }
        format!("__cdc_offsets.{}", capture.topic_prefix)
    }
}

impl Validate for SourceConfig {
    fn validate(&self, prefix: &str) -> Result<(), ConfigError> {
        self.mysql.validate(&key(prefix, "mysql"))?;
        self.kafka.validate(&key(prefix, "kafka"))?;
        self.glue.validate(&key(prefix, "glue"))?;
        self.capture.validate(&key(prefix, "capture"))?;
        if self.snapshot.chunk_rows == 0 {
            return Err(invalid(key(prefix, "snapshot.chunk_rows"), "must be at least 1"));
        }
        if !(1..=MAX_INCREMENTAL_CHUNK_ROWS).contains(&self.snapshot.incremental_chunk_rows) {
            return Err(invalid(
                key(prefix, "snapshot.incremental_chunk_rows"),
                format!("must be between 1 and {MAX_INCREMENTAL_CHUNK_ROWS} (a chunk's rows share the row versions of one binlog position)"),
            ));
        }
        if !(1..=16).contains(&self.snapshot.incremental_parallel_tables) {
            return Err(invalid(key(prefix, "snapshot.incremental_parallel_tables"), "must be between 1 and 16"));
        }
        if self.snapshot.method == SnapshotMethod::Incremental {
            if self.capture.signal_table.is_none() && self.snapshot.incremental_watermarks == Watermarks::SignalTable {
                return Err(invalid(
                    key(prefix, "snapshot.method"),
                    "\"incremental\" needs capture.signal_table (db.table with columns id VARCHAR(42) PRIMARY KEY, type VARCHAR(32), data VARCHAR(2048); \
                     the source's user needs INSERT and DELETE on it): set it, or set snapshot.incremental_watermarks = \"gtid\" (MySQL with GTIDs), \
                     or use snapshot.method = \"consistent\"",
                ));
            }
            if self.snapshot.mode == SnapshotMode::InitialOnly {
                return Err(invalid(key(prefix, "snapshot.method"), "\"incremental\" streams while it reads, so it cannot be combined with snapshot.mode = \"initial_only\""));
            }
        }
        if self.offsets.flush_interval_ms == 0 {
            return Err(invalid(key(prefix, "offsets.flush_interval_ms"), "must be at least 1"));
        }
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
        for (name, list, parts) in [("include_tables", &self.include_tables, 2), ("exclude_tables", &self.exclude_tables, 2), ("exclude_columns", &self.exclude_columns, 3)] {
            if let Some(bad) = list.iter().find(|n| n.split('.').count() != parts || n.split('.').any(str::is_empty)) {
                let form = if parts == 2 { "db.table" } else { "db.table.column" };
                return Err(invalid(key(prefix, name), format!("{bad:?} is not of the form {form}")));
            }
        }
        if let Some((table, columns)) = self.key_columns.iter().find(|(t, c)| t.split('.').count() != 2 || c.is_empty()) {
            return Err(invalid(
                key(prefix, "key_columns"),
                format!("{table:?} = {columns:?}: the table must be written db.table and given at least one column"),
            ));
        }
        if let Some(bad) = self.skipped_operations.iter().find(|o| !["c", "u", "d", "t"].contains(&o.as_str())) {
            return Err(invalid(key(prefix, "skipped_operations"), format!("{bad:?} is not one of \"c\", \"u\", \"d\", \"t\"")));
        }
        if self.signal_table.as_ref().is_some_and(|t| t.split('.').count() != 2) {
            return Err(invalid(key(prefix, "signal_table"), "must be written db.table"));
        }
        if self.signal_topic.as_ref().is_some_and(|t| t.is_empty() || !valid_topic_chars(t)) {
            return Err(invalid(key(prefix, "signal_topic"), "must be a Kafka topic name (letters, digits, '.', '_' and '-')"));
        }
        if self.max_record_bytes.is_some_and(|b| !(1_000..=1_000_000_000).contains(&b)) {
            return Err(invalid(key(prefix, "max_record_bytes"), "must be between 1000 and 1000000000 (librdkafka's range)"));
        }
        if self.topic_partitions < 1 {
            return Err(invalid(key(prefix, "topic_partitions"), "must be at least 1"));
        }
        if self.topic_replication_factor < 1 {
            return Err(invalid(key(prefix, "topic_replication_factor"), "must be at least 1"));
        }
        if self.heartbeat_interval_ms == 0 {
            return Err(invalid(key(prefix, "heartbeat_interval_ms"), "must be at least 1"));
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

fn default_true() -> bool {
    true
}
fn default_partitions() -> i32 {
    1
}
fn default_replication() -> i32 {
    1
}
fn default_heartbeat_ms() -> u64 {
    5_000
}
fn default_chunk_rows() -> u64 {
    10_000
}
/// The largest incremental chunk: its rows are placed at one binlog position, 8,192 rows each.
pub const MAX_INCREMENTAL_CHUNK_ROWS: u64 = 8192;
fn default_incremental_chunk_rows() -> u64 {
    1024
}
fn default_incremental_tables() -> usize {
    2
}
fn default_offsets_file() -> std::path::PathBuf {
    "cdc-source.offsets.json".into()
}
fn default_flush_ms() -> u64 {
    1_000
}

fn default_metrics() -> MetricsConfig {
    MetricsConfig {
        listen: ([127, 0, 0, 1], 9101).into(),
    }
}

shared::config_reference_tests!(SourceConfig);
