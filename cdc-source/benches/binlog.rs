//! Row events per second from the binlog, three ways over the same binlog
//! range (200,000 inserted rows of an `orders` table, 1,000 per transaction),
//! on MySQL and on MariaDB in the same run:
//!
//! 1. cdc-source's path without a broker: read, decode, convert to Debezium's
//!    mapping and encode key + envelope as Glue Avro frames;
//! 2. the same into the local broker, until every record is acknowledged;
//! 3. the Python peer, python-mysql-replication, decoding the same rows
//!    (`benches/python_binlog.py`, run with the stack's venv Python).
//!
//! Prints rows/s, and peak RSS (this process for 1–2, the Python process for 3).
//!
//!     cargo bench -p cdc-source --bench binlog     # starts the local stack if needed

#![recursion_limit = "256"] // the bench's async main nests the source's futures deeply

use cdc_source::binlog::{BinlogEvent, BinlogReader, RowsEvent, TableFilter};
use cdc_source::codec::Codecs;
use cdc_source::config::CaptureConfig;
use cdc_source::envelope::{SnapshotMarker, SourceInfo};
use cdc_source::position::BinlogPosition;
use cdc_source::publisher::{OutgoingRecord, Publisher};
use cdc_source::values::Origin;
use integration_tests::{DbServer, Flavor, Stack, measure, unique_name};
use mysql_async::prelude::Queryable;
use shared::glue::GlueSchemaCache;
use shared::kafka::{KafkaContext, ensure_topic};
use std::sync::Arc;
use std::time::{Duration, Instant};

const ROWS: usize = 200_000;
const PER_TRANSACTION: usize = 1_000;

struct OnlyTable(String);

impl TableFilter for OnlyTable {
    fn captures(&self, database: &str, _table: &str) -> bool {
        database == self.0
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let stack = Stack::get();
    let mut table = Vec::new();
    for flavor in Flavor::ALL {
        table.push((flavor, bench(stack, stack.server(flavor)).await));
    }
    println!("\n{:<8} {:<58} {:>12} {:>12}", "server", "path", "rows/s", "peak RSS");
    for (flavor, lines) in table {
        for (path, rate, rss_mb) in lines {
            println!("{:<8} {:<58} {:>12.0} {:>9} MB", flavor.name(), path, rate, rss_mb);
        }
    }
}

/// The three passes on one server: (path, rows/s, peak RSS in MB) each.
async fn bench(stack: &Stack, server: &DbServer) -> Vec<(&'static str, f64, u64)> {
    let database = unique_name("bench_binlog");
    let mut conn = server.conn().await;
    conn.query_drop(format!("CREATE DATABASE `{database}` CHARACTER SET utf8mb4")).await.unwrap();
    conn.query_drop(format!(
        "CREATE TABLE `{database}`.orders (id BIGINT PRIMARY KEY, customer_id INT NOT NULL, \
         status ENUM('new','paid','shipped') NOT NULL, amount DECIMAL(10,2) NOT NULL, created DATETIME(6) NOT NULL, note VARCHAR(64))"
    ))
    .await
    .unwrap();
    let from = cdc_source::server_sql::binlog_status(&mut conn).await.unwrap().position;
    conn.query_drop(format!("USE `{database}`")).await.unwrap();
    for start in (0..ROWS).step_by(PER_TRANSACTION) {
        // A recursive CTE: both servers have it (MariaDB's seq_1_to_N engine MySQL has not).
        conn.query_drop(format!(
            "INSERT INTO `{database}`.orders WITH RECURSIVE s(seq) AS (SELECT {} UNION ALL SELECT seq + 1 FROM s WHERE seq < {}) \
             SELECT seq, seq % 1000, ELT(1 + seq % 3, 'new', 'paid', 'shipped'), seq / 100, NOW(6), CONCAT('note ', seq) FROM s",
            start + 1,
            start + PER_TRANSACTION
        ))
        .await
        .unwrap();
    }
    println!("{}: {ROWS} rows in {} transactions written; binlog range starts at {from}", server.flavor.name(), ROWS / PER_TRANSACTION);

    let registry = Arc::new(GlueSchemaCache::new(stack.test_registry().await));
    let capture: CaptureConfig = toml_capture(&database);
    let kafka = stack.kafka_config();
    let context = KafkaContext::for_config(&kafka).await.unwrap();

    let no_broker = rust_pass(server, &from, &database, &capture, registry.clone(), None).await;
    let rss_no_broker = measure::peak_rss_kib(std::process::id());
    let topic = format!("{}.{database}.orders", capture.topic_prefix);
    ensure_topic(&kafka, context.clone(), &topic, 1, 1).await.unwrap();
    let publisher = Publisher::create(&kafka, context, shared::kafka::DEFAULT_MAX_MESSAGE_BYTES).unwrap();
    let with_broker = rust_pass(server, &from, &database, &capture, registry, Some(publisher)).await;
    let rss_with_broker = measure::peak_rss_kib(std::process::id());

    let python = std::process::Command::new(&stack.python)
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/benches/python_binlog.py"))
        .args([
            &server.host,
            &server.port.to_string(),
            &server.user,
            &server.password,
            &from.file,
            &from.pos.to_string(),
            &database,
            "orders",
            &ROWS.to_string(),
            &(30_000 + std::process::id() % 10_000).to_string(),
            server.flavor.name(),
        ])
        .args(server.ca_file.iter())
        .output()
        .expect("running the Python peer");
    let out = String::from_utf8_lossy(&python.stdout);
    let parts: Vec<&str> = out.split_whitespace().collect();
    assert!(python.status.success() && parts.len() == 3, "python peer failed: {out}\n{}", String::from_utf8_lossy(&python.stderr));
    let python_rows: f64 = parts[0].parse().unwrap();
    let python_seconds: f64 = parts[1].parse().unwrap();
    let python_rate = python_rows / python_seconds;
    let python_rss: u64 = parts[2].parse().unwrap();

    println!("speed-up without broker: {:.1}×; with broker: {:.1}×", no_broker / python_rate, with_broker / python_rate);
    conn.query_drop(format!("DROP DATABASE `{database}`")).await.unwrap();
    vec![
        ("cdc-source: binlog → Debezium Avro+Glue records, no broker", no_broker, rss_no_broker / 1024),
        ("cdc-source: … into the local broker, all acknowledged", with_broker, rss_with_broker / 1024),
        ("python-mysql-replication 1.0.17: rows decoded", python_rate, python_rss / 1024),
    ]
}

fn toml_capture(database: &str) -> CaptureConfig {
    CaptureConfig {
        topic_prefix: format!("bench_{database}"),
        server_id: 40_000 + std::process::id() % 10_000,
        include_databases: vec![database.to_string()],
        include_tables: vec![],
        exclude_tables: vec![],
        exclude_columns: vec![],
        topic_partitions: 1,
        topic_replication_factor: 1,
        tombstones_on_delete: true,
        format: Default::default(),
        heartbeat_interval_ms: 1000,
        heartbeat_topic: None,
        skipped_operations: vec![],
        schema_compatibility: Default::default(),
        key_columns: Default::default(),
        max_record_bytes: None,
        oversized_records: Default::default(),
        signal_table: None,
        signal_topic: None,
        bigint_unsigned_handling: Default::default(),
    }
}

/// Reads the range, converting and encoding every row; with a publisher, sends and waits for acks.
async fn rust_pass(
    server: &DbServer,
    from: &BinlogPosition,
    database: &str,
    capture: &CaptureConfig,
    registry: Arc<GlueSchemaCache>,
    mut publisher: Option<Publisher>,
) -> f64 {
    let mut codecs = Codecs::new(capture.clone(), Some(registry), shared::retry::RetryPolicy::default());
    let conn = server.conn().await;
    let filter: Arc<dyn TableFilter> = Arc::new(OnlyTable(database.to_string()));
    let mut reader = BinlogReader::start(conn, capture.server_id, from, Duration::from_secs(1), filter).await.unwrap();
    let started = Instant::now();
    let mut rows = 0usize;
    while rows < ROWS {
        let Some(BinlogEvent::Rows(RowsEvent { at, first_row, ts_ms, server_id, table, rows: changes, .. })) = reader.next().await.unwrap() else { continue };
        let codec = codecs.for_table(&table).await.unwrap();
        let mut source = SourceInfo {
            name: capture.topic_prefix.clone(),
            ts_ms,
            snapshot: SnapshotMarker::No,
            db: table.database.clone(),
            table: table.table.clone(),
            server_id,
            gtid: None,
            file: at.file.clone(),
            pos: at.pos,
            row: 0,
            thread: None,
        };
        for (i, change) in changes.into_iter().enumerate() {
            let i = first_row + i as u32;
            let after = codec.row(change.after.as_ref().unwrap(), Origin::Binlog).unwrap();
            source.row = i;
            let encoded = codec.encode(change.op, None, Some(after), &source, ts_ms).unwrap();
            if let Some(publisher) = publisher.as_mut() {
                let position = format!("{}:{}:{i}", at.file, at.pos);
                publisher
                    .send(OutgoingRecord {
                        topic: &codec.topic,
                        partition: 0,
                        key: encoded.key.as_deref(),
                        value: Some(&encoded.value),
                        position: &position,
                        version: 0,
                        extra_headers: &[],
                    })
                    .await
                    .unwrap();
            }
            rows += 1;
        }
    }
    if let Some(publisher) = publisher.as_mut() {
        publisher.flush(Duration::from_secs(300)).await.unwrap();
    }
    rows as f64 / started.elapsed().as_secs_f64()
}
