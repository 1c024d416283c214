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
use integration_tests::{Stack, TEST_REGISTRY, measure, repo_root, unique_name};
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
        println!("| ingest-sink, {delivery}, 8 partitions / 4 tables | {rate:.0} rows/s | {cpu:.1} CPU s | {rss:.0} MiB peak RSS |");
        last_tables = tables;
    }
    let client = clickhouse::Client::default().with_url(&stack.clickhouse_url);
    let raw = measure::clickhouse_raw_insert_rate(&client, &last_tables[0], "globalseq", 4).await;
    println!("| ClickHouse front end, raw RowBinary inserts (4 clients, 10,000-row batches) | {raw:.0} rows/s | | |");
}

/// Runs the sink over `topics` until each table holds all its events: (rows/s, CPU s, peak RSS MiB, tables).
async fn run_sink(stack: &Stack, sink: &str, topics: &[String], delivery: &str) -> (f64, f64, f64, Vec<String>) {
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
    let (mut rows, mut peak_rss, mut cpu_used, mut first_row) = (0u64, 0f64, 0f64, None);
    while rows < total {
        assert!(child.try_wait().unwrap().is_none(), "the sink exited");
        assert!(started.elapsed() < Duration::from_secs(900), "{rows} of {total} rows after 15 minutes");
        tokio::time::sleep(Duration::from_millis(200)).await;
        let (cpu, peak) = measure::cpu_and_peak_rss(child.id()).unwrap_or_default();
        (cpu_used, peak_rss) = (cpu, peak_rss.max(peak));
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
    let cpu = measure::cpu_and_peak_rss(child.id()).map_or(cpu_used, |(cpu, _)| cpu);
    let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
    let _ = child.wait();
    assert_eq!(rows, total, "exactly the produced rows");
    (total as f64 / elapsed, cpu, peak_rss, tables)
}
