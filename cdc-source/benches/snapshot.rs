//! Snapshot rates on MySQL, side by side in one run, over one table of
//! `SNAPSHOT_BENCH_ROWS` rows (default 5,000,000) with a dozen mixed columns:
//!
//! 1. a plain client reading the rows in key order (`SELECT … ORDER BY id`,
//!    streamed, no conversion): MySQL's read rate, the ceiling;
//! 2. `cdc-source` taking the consistent snapshot (`snapshot.mode =
//!    initial_only`) into the local broker, Glue Avro;
//! 3. `cdc-source` taking an incremental snapshot (`snapshot.method =
//!    incremental`, signal-table watermarks) with 1 reader;
//! 4. the same with 4 readers (the table read in 4 key ranges side by side).
//!
//! Each source run is the bench-profile binary as a separate process, timed
//! from its start until its snapshot is acknowledged by the broker; its peak
//! RSS is sampled from /proc. Topics of a run are deleted after it (the local
//! broker keeps them in memory).
//!
//!     cargo bench -p cdc-source --bench snapshot     # starts the local stack if needed
//!     SNAPSHOT_BENCH_ROWS=500000 cargo bench -p cdc-source --bench snapshot

use integration_tests::{DbServer, Stack, measure, unique_name};
use mysql_async::prelude::Queryable;
use rdkafka::admin::{AdminClient, AdminOptions};
use rdkafka::client::DefaultClientContext;
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let stack = Stack::get();
    let server = stack.server(integration_tests::Flavor::MySql);
    let rows: u64 = std::env::var("SNAPSHOT_BENCH_ROWS").ok().and_then(|v| v.parse().ok()).unwrap_or(5_000_000);
    let database = unique_name("snapbench");
    let mut conn = server.conn().await;
    let filled = Instant::now();
    fill(&mut conn, &database, rows).await;
    println!("filled {rows} rows in {:.0?}", filled.elapsed());

    let mut results = Vec::new();
    let started = Instant::now();
    let read = plain_read(server, &database).await;
    assert_eq!(read, rows, "the plain read saw {read} rows");
    results.push(("plain client: SELECT … ORDER BY id, streamed, no conversion", rows as f64 / started.elapsed().as_secs_f64(), None));

    for (label, snapshot) in [
        ("cdc-source: consistent snapshot (initial_only)", "mode = \"initial_only\"\n"),
        ("cdc-source: incremental, 1 reader, 4096-row chunks", "method = \"incremental\"\nincremental_chunk_rows = 4096\nincremental_parallel_tables = 1\n"),
        ("cdc-source: incremental, 4 readers (key ranges), 4096-row chunks", "method = \"incremental\"\nincremental_chunk_rows = 4096\nincremental_parallel_tables = 4\n"),
    ] {
        let (seconds, rss_kb) = source_run(stack, server, &database, snapshot);
        results.push((label, rows as f64 / seconds, Some(rss_kb)));
    }
    conn.query_drop(format!("DROP DATABASE `{database}`")).await.unwrap();

    println!("\nMySQL {}, {rows} rows × 12 columns\n", server_version(&mut conn).await);
    println!("| path | rows/s | peak RSS |\n|---|---:|---:|");
    for (label, rate, rss) in results {
        let rss = rss.map_or("–".to_string(), |kb| format!("{} MB", kb / 1024));
        println!("| {label} | {rate:.0} | {rss} |");
    }
}

async fn server_version(conn: &mut mysql_async::Conn) -> String {
    conn.query_first("SELECT VERSION()").await.unwrap().unwrap_or_default()
}

/// The table, filled from a cross join of digits (no client round trip per row).
async fn fill(conn: &mut mysql_async::Conn, database: &str, rows: u64) {
    conn.query_drop(format!("CREATE DATABASE `{database}`")).await.unwrap();
    conn.query_drop(format!(
        "CREATE TABLE `{database}`.cdc_signal (id VARCHAR(42) PRIMARY KEY, type VARCHAR(32) NOT NULL, data VARCHAR(2048))"
    ))
    .await
    .unwrap();
    conn.query_drop(format!(
        "CREATE TABLE `{database}`.wide (id BIGINT PRIMARY KEY, qty INT NOT NULL, price DECIMAL(12,2), name VARCHAR(40), \
         created DATETIME(3), day DATE, ratio DOUBLE, flag TINYINT(1), state ENUM('new','paid','shipped'), \
         big BIGINT UNSIGNED, note TEXT, code CHAR(8))"
    ))
    .await
    .unwrap();
    conn.query_drop(format!("CREATE TABLE `{database}`.digits (d INT PRIMARY KEY)")).await.unwrap();
    conn.query_drop(format!("INSERT INTO `{database}`.digits VALUES (0),(1),(2),(3),(4),(5),(6),(7),(8),(9)")).await.unwrap();
    let per_batch: u64 = 100_000;
    let mut done = 0;
    while done < rows {
        let n = per_batch.min(rows - done);
        conn.query_drop(format!(
            "INSERT INTO `{database}`.wide \
             SELECT {done} + n + 1, n % 1000, (n % 100000) / 100, CONCAT('customer ', n), \
                    TIMESTAMP('2024-01-01') + INTERVAL n SECOND, DATE('2024-01-01') + INTERVAL (n % 365) DAY, n / 7, n % 2, \
                    ELT(1 + n % 3, 'new', 'paid', 'shipped'), 18446744073709551615 - n, REPEAT('x', n % 50), LPAD(n % 100000, 8, '0') \
             FROM (SELECT a.d + 10 * b.d + 100 * c.d + 1000 * e.d + 10000 * f.d AS n \
                   FROM `{database}`.digits a, `{database}`.digits b, `{database}`.digits c, `{database}`.digits e, `{database}`.digits f) x \
             WHERE n < {n}"
        ))
        .await
        .unwrap();
        done += n;
    }
    conn.query_drop(format!("DROP TABLE `{database}`.digits")).await.unwrap();
    conn.query_drop(format!("ANALYZE TABLE `{database}`.wide")).await.unwrap();
}

/// Rows read by a plain client, in key order.
async fn plain_read(server: &DbServer, database: &str) -> u64 {
    use futures_util::StreamExt;
    let mut conn = server.conn().await;
    let mut result = conn.exec_iter(format!("SELECT * FROM `{database}`.wide ORDER BY id"), ()).await.unwrap();
    let mut stream = result.stream::<mysql_async::Row>().await.unwrap().unwrap();
    let mut count = 0;
    while let Some(row) = stream.next().await {
        row.unwrap();
        count += 1;
    }
    count
}

/// Runs the source with `snapshot` settings until its snapshot is done (and
/// acknowledged); returns the seconds it took and its peak RSS in kB.
fn source_run(stack: &Stack, server: &DbServer, database: &str, snapshot: &str) -> (f64, u64) {
    let prefix = unique_name("snapbench_run");
    let incremental = snapshot.contains("incremental");
    let signal = if incremental { format!("signal_table = \"{database}.cdc_signal\"\n") } else { String::new() };
    let config = format!(
        "[mysql]\n{mysql}\n[kafka]\nbootstrap_servers = \"{kafka}\"\n\n[glue]\nregion = \"{region}\"\nendpoint_url = \"{glue}\"\n\
         registry_name = \"snapshot-bench\"\naccess_key_id = \"local-stack\"\nsecret_access_key = \"local-stack\"\n\n\
         [capture]\ntopic_prefix = \"{prefix}\"\nserver_id = {server_id}\ninclude_tables = [\"{database}.wide\"]\n{signal}\n\
         [offsets]\nreadback_until = \"end_offset\"\n\n[metrics]\nlisten = \"127.0.0.1:0\"\n\n[snapshot]\n{snapshot}",
        mysql = server.toml(),
        kafka = stack.kafka_bootstrap,
        region = stack.aws_region,
        glue = stack.glue_endpoint,
        server_id = 45_000 + std::process::id() % 10_000,
    );
    let dir = std::env::temp_dir();
    let config_path = dir.join(format!("{prefix}.toml"));
    let log_path = dir.join(format!("{prefix}.log"));
    std::fs::File::create(&config_path).unwrap().write_all(config.as_bytes()).unwrap();
    let started = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_cdc-source"))
        .args(["--config", config_path.to_str().unwrap(), "run"])
        .env("RUST_LOG", "info,librdkafka=warn")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log_path).unwrap())
        .spawn()
        .unwrap();
    let mut peak = 0;
    let done_line = if incremental { "incremental snapshot of the table done" } else { "snapshot complete" };
    loop {
        peak = peak.max(measure::peak_rss_kib(child.id()));
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success() && !incremental, "cdc-source exited ({status}); log: {}", log_path.display());
            break;
        }
        if incremental && std::fs::read_to_string(&log_path).unwrap_or_default().contains(done_line) {
            // The last chunk's records: acknowledged before the offsets that say so are stored.
            std::thread::sleep(Duration::from_millis(500));
            peak = peak.max(measure::peak_rss_kib(child.id()));
            let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
            child.wait().unwrap();
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(3600), "the snapshot did not end within an hour; log: {}", log_path.display());
        std::thread::sleep(Duration::from_millis(100));
    }
    let seconds = started.elapsed().as_secs_f64();
    let log = std::fs::read_to_string(&log_path).unwrap_or_default();
    assert!(log.contains(done_line), "no {done_line:?} in {}", log_path.display());
    println!("{prefix}: {seconds:.1} s, peak RSS {} MB", peak / 1024);
    delete_topics(stack, &prefix);
    (seconds, peak)
}

/// Deletes the run's topics (its table topic, schema-change and offsets topics).
fn delete_topics(stack: &Stack, prefix: &str) {
    let admin: AdminClient<DefaultClientContext> = rdkafka::ClientConfig::new().set("bootstrap.servers", &stack.kafka_bootstrap).create().unwrap();
    let metadata = admin.inner().fetch_metadata(None, Duration::from_secs(30)).unwrap();
    let names: Vec<String> = metadata.topics().iter().map(|t| t.name().to_string()).filter(|n| n.contains(prefix)).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let runtime = tokio::runtime::Handle::current();
    let _ = tokio::task::block_in_place(|| runtime.block_on(admin.delete_topics(&names, &AdminOptions::new())));
}
