//! The sink's apply rate with 8 partitions across 4 tables, through the real
//! `ingest-sink` binary: 4 topics × 2 partitions of clickstream events (Glue
//! Avro) are produced first, then a sink starts on them and runs until every
//! table holds every event. Prints rows/s (from the first row visible — group
//! joined, tables created — to the last), the sink's CPU seconds and peak RSS, for `exactly_once` and
//! `at_least_once`; and, beside them, the local ClickHouse front end's own
//! raw insert rate for the same rows (the sink's RowBinary batches of 10,000
//! rows re-inserted by 4 concurrent clients, no Kafka, no decoding), so the
//! ratio to the ceiling is visible.
//!
//!     cargo build --release -p ingest-sink
//!     cargo bench -p ingest-sink --bench partitions
//!     SINK_BIN=/path/to/another/ingest-sink cargo bench -p ingest-sink --bench partitions   (compare builds)

use clap::Parser;
use integration_tests::{Stack, TEST_REGISTRY, repo_root, unique_name};
use producer_sim::clickstream::{self, options::ClickstreamArgs};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

const TOPICS: usize = 4;
const EVENTS_PER_TOPIC: u64 = 250_000;

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    args: ClickstreamArgs,
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let stack = Stack::get();
    stack.test_registry().await;
    let sink = std::env::var("SINK_BIN").unwrap_or_else(|_| repo_root().join("target/release/ingest-sink").display().to_string());
    assert!(std::path::Path::new(&sink).is_file(), "{sink} missing: cargo build --release -p ingest-sink (or set SINK_BIN)");
    let topics: Vec<String> = (0..TOPICS).map(|i| unique_name(&format!("bench_parts_{i}"))).collect();
    let produced = Instant::now();
    for topic in &topics {
        let events = EVENTS_PER_TOPIC.to_string();
        let args = Cli::parse_from(["clickstream", "--topic", topic, "--events", &events, "--no-delay", "--users", "1000", "--partitions", "2"]).args;
        let summary = clickstream::run(&args, &stack.kafka_config(), &stack.glue_config(TEST_REGISTRY), Arc::new(AtomicBool::new(false)))
            .await
            .unwrap();
        assert_eq!(summary.delivered, EVENTS_PER_TOPIC);
    }
    println!("{} events in {TOPICS} topics × 2 partitions produced in {:.1} s; sink {sink}", TOPICS as u64 * EVENTS_PER_TOPIC, produced.elapsed().as_secs_f64());
    let mut last_tables = Vec::new();
    for delivery in ["exactly_once", "at_least_once"] {
        let (rate, cpu, rss, tables) = run_sink(stack, &sink, &topics, delivery).await;
        println!("| ingest-sink, {delivery}, 8 partitions / 4 tables | {rate:.0} rows/s | {cpu:.1} CPU s | {} MiB peak RSS |", rss / 1024);
        last_tables = tables;
    }
    let raw = raw_insert_rate(stack, &last_tables[0]).await;
    println!("| ClickHouse front end, raw RowBinary inserts (4 clients, 10,000-row batches) | {raw:.0} rows/s | | |");
}

/// Runs the sink over `topics` until each table holds all its events: (rows/s, CPU s, peak RSS KiB, tables).
async fn run_sink(stack: &Stack, sink: &str, topics: &[String], delivery: &str) -> (f64, f64, u64, Vec<String>) {
    let group = unique_name("bench_parts_group");
    let tables: Vec<String> = topics.iter().map(|_| unique_name("bench_parts_table")).collect();
    let mapping: Vec<String> = topics.iter().zip(&tables).map(|(t, table)| format!("\"{t}\" = \"{table}\"")).collect();
    let listed: Vec<String> = topics.iter().map(|t| format!("\"{t}\"")).collect();
    let config = format!(
        "[kafka]\nbootstrap_servers = \"{kafka}\"\n\
         properties = {{ \"session.timeout.ms\" = \"6000\", \"heartbeat.interval.ms\" = \"1000\", \"fetch.wait.max.ms\" = \"50\" }}\n\n[glue]\nregion = \"{region}\"\nendpoint_url = \"{glue}\"\nregistry_name = \"{TEST_REGISTRY}\"\n\
         access_key_id = \"local-stack\"\nsecret_access_key = \"local-stack\"\n\n[clickhouse]\nurl = \"{clickhouse}\"\n\n\
         [state]\nstore = \"redis\"\nredis = {{ url = \"{redis}\" }}\n\n[consumer]\ngroup_id = \"{group}\"\ntopics = [{topics}]\n\
         delivery = \"{delivery}\"\n\n[apply]\ntables = {{ {mapping} }}\n\n[metrics]\nlisten = \"127.0.0.1:0\"\n",
        kafka = stack.kafka_bootstrap,
        region = stack.aws_region,
        glue = stack.glue_endpoint,
        clickhouse = stack.clickhouse_url,
        redis = stack.redis_url,
        topics = listed.join(", "),
        mapping = mapping.join(", "),
    );
    let path = std::env::temp_dir().join(format!("{group}.toml"));
    std::fs::write(&path, config).unwrap();
    let started = Instant::now();
    let mut child = Command::new(sink)
        .args(["--config", path.to_str().unwrap(), "run"])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let client = clickhouse::Client::default().with_url(&stack.clickhouse_url);
    let total = TOPICS as u64 * EVENTS_PER_TOPIC;
    let (mut rows, mut peak_rss, mut first_row) = (0u64, 0u64, None);
    while rows < total {
        assert!(child.try_wait().unwrap().is_none(), "the sink exited");
        assert!(started.elapsed() < Duration::from_secs(900), "{rows} of {total} rows after 15 minutes");
        tokio::time::sleep(Duration::from_millis(200)).await;
        peak_rss = peak_rss.max(status_kib(child.id(), "VmHWM:"));
        rows = 0;
        for table in &tables {
            rows += client.query(&format!("SELECT count() FROM `{table}`")).fetch_one::<u64>().await.unwrap_or(0);
        }
        if rows > 0 && first_row.is_none() {
            first_row = Some(Instant::now());
        }
    }
    // From the first row visible (the group joined, the tables created) to the last.
    let elapsed = first_row.map_or(0.0, |t| t.elapsed().as_secs_f64()).max(0.001);
    println!("  {delivery}: first row {:.1} s after the start, all {total} rows {:.1} s after it", started.elapsed().as_secs_f64() - elapsed, elapsed);
    let cpu = cpu_seconds(child.id());
    let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
    let _ = child.wait();
    assert_eq!(rows, total, "exactly the produced rows");
    (total as f64 / elapsed, cpu, peak_rss, tables)
}

/// The front end's insert rate for `table`'s rows: read back as RowBinary
/// batches of 10,000 rows, then inserted into a copy by 4 concurrent clients.
async fn raw_insert_rate(stack: &Stack, table: &str) -> f64 {
    let client = clickhouse::Client::default().with_url(&stack.clickhouse_url);
    let copy = unique_name("bench_parts_copy");
    client.query(&format!("CREATE TABLE `{copy}` AS `{table}`")).execute().await.unwrap();
    let rows: u64 = client.query(&format!("SELECT count() FROM `{table}`")).fetch_one().await.unwrap();
    let http = Http::new(&stack.clickhouse_url);
    let mut batches = Vec::new();
    for offset in (0..rows).step_by(10_000) {
        let sql = format!("SELECT * FROM `{table}` ORDER BY globalseq LIMIT 10000 OFFSET {offset} FORMAT RowBinary");
        batches.push(http.post(&sql, Vec::new()).await);
    }
    let started = Instant::now();
    let batches = Arc::new(std::sync::Mutex::new(batches));
    let mut clients = Vec::new();
    for _ in 0..4 {
        let (batches, http, copy) = (batches.clone(), http.clone(), copy.clone());
        clients.push(tokio::spawn(async move {
            loop {
                let Some(batch) = batches.lock().unwrap().pop() else { return };
                http.post(&format!("INSERT INTO `{copy}` FORMAT RowBinary"), batch).await;
            }
        }));
    }
    for c in clients {
        c.await.unwrap();
    }
    let rate = rows as f64 / started.elapsed().as_secs_f64();
    let copied: u64 = client.query(&format!("SELECT count() FROM `{copy}`")).fetch_one().await.unwrap();
    assert_eq!(copied, rows);
    rate
}

/// A minimal HTTP/1.1 client for the front end (the query in the URL, data in the body).
#[derive(Clone)]
struct Http {
    address: String,
}

impl Http {
    fn new(url: &str) -> Self {
        Self { address: url.trim_start_matches("http://").trim_end_matches('/').to_string() }
    }

    async fn post(&self, query: &str, body: Vec<u8>) -> Vec<u8> {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut stream = tokio::net::TcpStream::connect(&self.address).await.unwrap();
        let encoded: String = query.bytes().map(|b| if b.is_ascii_alphanumeric() { (b as char).to_string() } else { format!("%{b:02X}") }).collect();
        let head = format!("POST /?query={encoded} HTTP/1.1\r\nHost: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", self.address, body.len());
        stream.write_all(head.as_bytes()).await.unwrap();
        stream.write_all(&body).await.unwrap();
        let mut response = Vec::new();
        stream.read_to_end(&mut response).await.unwrap();
        let split = response.windows(4).position(|w| w == b"\r\n\r\n").expect("an HTTP response") + 4;
        let head = String::from_utf8_lossy(&response[..split]).to_string();
        assert!(head.starts_with("HTTP/1.1 200") || head.starts_with("HTTP/1.0 200"), "{query}: {head}{}", String::from_utf8_lossy(&response[split..]));
        let body = response[split..].to_vec();
        if head.to_ascii_lowercase().contains("transfer-encoding: chunked") { dechunk(&body) } else { body }
    }
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let line_end = data.windows(2).position(|w| w == b"\r\n").unwrap();
        let size = usize::from_str_radix(std::str::from_utf8(&data[..line_end]).unwrap().trim(), 16).unwrap();
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&data[line_end + 2..line_end + 2 + size]);
        data = &data[line_end + 4 + size..];
    }
}

fn status_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(field).and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok()))
        .unwrap_or(0)
}

fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat.rsplit(')').next().unwrap_or("").split_whitespace().collect();
    let ticks: u64 = fields.get(11).and_then(|u| u.parse().ok()).unwrap_or(0) + fields.get(12).and_then(|s| s.parse().ok()).unwrap_or(0);
    ticks as f64 / 100.0
}
