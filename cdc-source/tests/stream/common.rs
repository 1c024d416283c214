//! Running the real `cdc-source` binary against the local stack and reading
//! back what it published.

#![allow(dead_code)]

use integration_tests::{DbServer, Flavor, Stack, TEST_REGISTRY, unique_name};
use mysql_async::Conn;
use mysql_async::prelude::Queryable;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use shared::glue::{GlueAvroDecoder, GlueRegistry, GlueSchemaCache};
use std::collections::HashMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A source configuration for one test: its own database, topic prefix, server id and offsets file.
pub struct SourceSetup {
    /// The server captured (MySQL or MariaDB).
    pub server: DbServer,
    pub database: String,
    pub prefix: String,
    pub server_id: u32,
    pub offsets_file: PathBuf,
    pub snapshot_mode: &'static str,
    pub extra_capture: String,
    /// `file` (in `offsets_file`) or `kafka` (topic `__cdc_offsets.<prefix>`).
    pub offsets_store: &'static str,
    /// Lines added to `[snapshot]`.
    pub extra_snapshot: String,
}

impl SourceSetup {
    pub fn new(name: &str, flavor: Flavor) -> Self {
        let database = unique_name(&format!("{name}_{}", flavor.name()));
        Self {
            server: Stack::get().server(flavor).clone(),
            prefix: format!("cdc_{database}"),
            server_id: 20_000 + rand::random::<u32>() % 1_000_000,
            offsets_file: std::env::temp_dir().join(format!("{database}.offsets.json")),
            database,
            snapshot_mode: "initial",
            extra_capture: String::new(),
            offsets_store: "file",
            extra_snapshot: String::new(),
        }
    }

    /// A new connection to the captured server.
    pub async fn conn(&self) -> Conn {
        self.server.conn().await
    }

    pub fn topic(&self, table: &str) -> String {
        format!("{}.{}.{table}", self.prefix, self.database)
    }

    pub fn config_file(&self, stack: &Stack) -> PathBuf {
        let text = format!(
            r#"
[mysql]
{mysql}
[kafka]
bootstrap_servers = "{kafka}"

[glue]
region = "{region}"
endpoint_url = "{glue}"
registry_name = "{registry}"
access_key_id = "local-stack"
secret_access_key = "local-stack"

[capture]
topic_prefix = "{prefix}"
server_id = {server_id}
include_databases = ["{database}"]
heartbeat_interval_ms = 1000
{extra}

[snapshot]
mode = "{mode}"
chunk_rows = 1000
{extra_snapshot}

[offsets]
store = "{store}"
file = "{offsets}"
flush_interval_ms = 200
# the local broker (tansu) reports wrong end offsets
readback_until = "quiet_period"

[metrics]
listen = "127.0.0.1:0"
"#,
            mysql = self.server.toml(),
            kafka = stack.kafka_bootstrap,
            region = stack.aws_region,
            glue = stack.glue_endpoint,
            registry = TEST_REGISTRY,
            prefix = self.prefix,
            server_id = self.server_id,
            database = self.database,
            extra = self.extra_capture,
            mode = self.snapshot_mode,
            offsets = self.offsets_file.display(),
            store = self.offsets_store,
            extra_snapshot = self.extra_snapshot,
        );
        let path = std::env::temp_dir().join(format!("{}.toml", self.database));
        std::fs::write(&path, text).unwrap();
        path
    }
}

pub fn start_source(config: &std::path::Path, log_name: &str) -> Child {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(integration_tests::log_path(log_name))
        .unwrap();
    Command::new(env!("CARGO_BIN_EXE_cdc-source"))
        .args(["--config", config.to_str().unwrap(), "run"])
        .env("RUST_LOG", "info,librdkafka=warn")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap()
}

pub use integration_tests::log_of;

pub fn stop_source(child: Child) {
    integration_tests::terminate(child, "cdc-source", Duration::from_secs(60));
}

/// Waits (up to a minute) for a source that must stop by itself; its exit status.
pub async fn wait_for_exit(source: &mut Child, log_name: &str) -> std::process::ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(status) = source.try_wait().unwrap() {
            return status;
        }
        assert!(Instant::now() < deadline, "the source kept running:\n{}", log_of(log_name));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub fn kill_source(child: Child, log_name: &str) {
    integration_tests::kill(child, "cdc-source", log_name);
}

/// One record as published.
#[derive(Debug, Clone)]
pub struct Published {
    pub partition: i32,
    pub offset: i64,
    pub key: Option<apache_avro::types::Value>,
    pub value: Option<apache_avro::types::Value>,
    /// The Glue schema version of the value.
    pub value_schema: Option<uuid::Uuid>,
    pub headers: HashMap<String, String>,
}

impl Published {
    pub fn position(&self) -> &str {
        &self.headers["cdc.position"]
    }

    /// `value.<path>` of the envelope, unions unwrapped.
    pub fn field(&self, path: &str) -> Option<apache_avro::types::Value> {
        let mut current = self.value.clone()?;
        for part in path.split('.') {
            current = unwrap(current);
            let apache_avro::types::Value::Record(fields) = current else { return None };
            current = fields.into_iter().find(|(n, _)| n == part)?.1;
        }
        Some(unwrap(current))
    }
}

pub fn unwrap(value: apache_avro::types::Value) -> apache_avro::types::Value {
    match value {
        apache_avro::types::Value::Union(_, inner) => unwrap(*inner),
        other => other,
    }
}

/// (partition, offset, key, value, headers) of one record as stored.
pub type RawRecord = (i32, i64, Option<Vec<u8>>, Option<Vec<u8>>, HashMap<String, String>);

/// Every record of `topic` (all partitions), decoded through the registry,
/// once `expected` records are there (or `timeout` passes).
pub async fn read_topic(stack: &Stack, topic: &str, expected: usize, timeout: Duration) -> Vec<Published> {
    let decoder = GlueAvroDecoder::new(Arc::new(GlueSchemaCache::new(GlueRegistry::connect(&stack.glue_config(TEST_REGISTRY)).await)));
    let raw = read_raw(stack, topic, expected, timeout).await;
    let mut out = Vec::new();
    for (partition, offset, key, value, headers) in raw {
        let key = match key {
            Some(k) => Some(decoder.decode(&k).await.unwrap().value),
            None => None,
        };
        let (value, value_schema) = match value {
            Some(v) => {
                let decoded = decoder.decode(&v).await.unwrap();
                (Some(decoded.value), Some(decoded.schema.version_id))
            }
            None => (None, None),
        };
        out.push(Published {
            partition,
            offset,
            key,
            value,
            value_schema,
            headers,
        });
    }
    out.sort_by_key(|p| (p.partition, p.offset));
    out
}

/// Every record of `topic` as stored, once `expected` records are there (or `timeout` passes), in (partition, offset) order.
pub async fn read_raw(stack: &Stack, topic: &str, expected: usize, timeout: Duration) -> Vec<RawRecord> {
    let config = stack.kafka_config();
    let topic = topic.to_string();
    let mut records: Vec<RawRecord> = tokio::task::spawn_blocking(move || {
        let consumer: BaseConsumer = config
            .client_config(shared::kafka::ClientRole::Consumer { group_id: &unique_name("reader") })
            .unwrap()
            .set("enable.auto.commit", "false")
            .set("fetch.wait.max.ms", "10")
            .set("max.partition.fetch.bytes", "16777216")
            .create()
            .unwrap();
        let deadline = Instant::now() + timeout;
        let mut records = Vec::new();
        let mut assigned = false;
        let mut seen = std::collections::HashSet::new();
        while Instant::now() < deadline && records.len() < expected {
            if !assigned {
                let Ok(metadata) = consumer.fetch_metadata(Some(&topic), Duration::from_secs(5)) else { continue };
                let partitions: Vec<i32> = metadata.topics().first().map(|t| t.partitions().iter().map(|p| p.id()).collect()).unwrap_or_default();
                if partitions.is_empty() {
                    std::thread::sleep(Duration::from_millis(200));
                    continue;
                }
                let mut list = TopicPartitionList::new();
                for p in partitions {
                    list.add_partition_offset(&topic, p, Offset::Beginning).unwrap();
                }
                consumer.assign(&list).unwrap();
                assigned = true;
            }
            if let Some(Ok(m)) = consumer.poll(Duration::from_millis(200)) {
                // tansu may deliver a batch twice after a re-fetch: keep each offset once.
                if !seen.insert((m.partition(), m.offset())) {
                    continue;
                }
                let headers = m
                    .headers()
                    .map(|h| h.iter().map(|h| (h.key.to_string(), String::from_utf8_lossy(h.value.unwrap_or_default()).into_owned())).collect())
                    .unwrap_or_default();
                records.push((m.partition(), m.offset(), m.key().map(<[u8]>::to_vec), m.payload().map(<[u8]>::to_vec), headers));
            }
        }
        records
    })
    .await
    .unwrap();
    records.sort_by_key(|r| (r.0, r.1));
    records
}

/// Waits until the offsets file exists (the source stored a position).
pub async fn wait_for_offsets(setup: &SourceSetup, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    while !setup.offsets_file.exists() {
        assert!(Instant::now() < deadline, "no offsets stored within {timeout:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub async fn create_database(conn: &mut Conn, setup: &SourceSetup) {
    conn.query_drop(format!("CREATE DATABASE `{}` CHARACTER SET utf8mb4", setup.database)).await.unwrap();
}

/// Starts the source (its snapshot reads what `conn` wrote so far), runs
/// `after` on `conn` once it streams, and returns the `expected` records of
/// `table`'s topic (asserting that many arrived), the source stopped.
pub async fn capture_around_start(stack: &Stack, setup: &SourceSetup, conn: &mut Conn, after: &[String], table: &str, expected: usize) -> Vec<Published> {
    let log = setup.database.clone();
    let source = start_source(&setup.config_file(stack), &log);
    wait_for_offsets(setup, Duration::from_secs(60)).await;
    for statement in after {
        conn.query_drop(statement).await.unwrap();
    }
    let records = read_topic(stack, &setup.topic(table), expected, Duration::from_secs(60)).await;
    stop_source(source);
    assert_eq!(records.len(), expected, "log:\n{}", log_of(&log));
    records
}

/// The test's database with an `events (id, n, note)` table, the shape [`replay`] and [`table_state`] read.
pub async fn create_events_database(conn: &mut Conn, setup: &SourceSetup) {
    create_database(conn, setup).await;
    conn.query_drop(format!("CREATE TABLE `{}`.events (id INT PRIMARY KEY, n INT NOT NULL, note VARCHAR(20))", setup.database))
        .await
        .unwrap();
}

/// The table as the change stream says it ends: `(id, n)` of every row not deleted,
/// applying `r`/`c`/`u` as upserts and `d` as removal, in order. Panics on a
/// second snapshot read of one key.
pub fn replay(records: &[Published]) -> std::collections::BTreeMap<i32, i32> {
    use apache_avro::types::Value;
    let mut state = std::collections::BTreeMap::new();
    let mut snapshot_reads = std::collections::HashSet::new();
    let int = |image: Value, name: &str| match image {
        Value::Record(fields) => match unwrap(fields.into_iter().find(|(n, _)| n == name).unwrap().1) {
            Value::Int(i) => i,
            other => panic!("{name} = {other:?}"),
        },
        other => panic!("image {other:?}"),
    };
    for record in records.iter().filter(|r| r.value.is_some()) {
        let op = match record.field("op") {
            Some(Value::String(op)) => op,
            other => panic!("op {other:?}"),
        };
        match op.as_str() {
            "r" | "c" | "u" => {
                let after = record.field("after").unwrap();
                let id = int(after.clone(), "id");
                if op == "r" {
                    assert!(snapshot_reads.insert(id), "key {id} read twice by the snapshot");
                }
                state.insert(id, int(after, "n"));
            }
            "d" => {
                state.remove(&int(record.field("before").unwrap(), "id"));
            }
            other => panic!("op {other}"),
        }
    }
    state
}

pub async fn table_state(conn: &mut Conn, database: &str, table: &str) -> std::collections::BTreeMap<i32, i32> {
    let rows: Vec<(i32, i32)> = conn.query(format!("SELECT id, n FROM `{database}`.`{table}`")).await.unwrap();
    rows.into_iter().collect()
}

/// Waits until `needle` appears at least `count` times in the log.
pub async fn wait_for_log_count(log_name: &str, needle: &str, count: usize, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    while log_of(log_name).matches(needle).count() < count {
        assert!(Instant::now() < deadline, "`{needle}` not logged {count} times within {timeout:?}:\n{}", log_of(log_name));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
