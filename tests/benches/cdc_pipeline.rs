//! Benchmark of the whole CDC path on the local stack: MySQL commits →
//! cdc-source → Kafka → ingest-sink → ClickHouse, release builds.
//!
//! 1. Latency: the OLTP workload at a steady rate while a prober inserts one
//!    row every 100 ms into a captured `latency_probe` table and polls
//!    ClickHouse (`FINAL`) every 10 ms; latency = first seen in ClickHouse −
//!    the moment MySQL acknowledged the COMMIT. Prints p50/p90/p99/max.
//! 2. Throughput: the workload unthrottled; changes/s = rows changed in MySQL
//!    ÷ time until every table is equal in ClickHouse (verify).
//! 3. Catch-up: source and sink stopped, `CDC_BENCH_CATCHUP` (1M) rows
//!    changed by the workload meanwhile, then both started: changes/s = rows
//!    changed ÷ time from the start until every table is equal.
//! 4. Large rows: `CDC_BENCH_LARGE_ROWS` (20) rows of 10 MB inserted, then each
//!    updated (a 20 MB change event: before and after image): time until
//!    equal, and the services' peak RSS.
//!
//! Each phase prints CPU seconds and peak RSS (the phase's own: the peak is
//! reset at its start) of source and sink, and CPU seconds and peak RSS of
//! MySQL, the broker and the ClickHouse front end.
//!
//!     cargo bench -p integration-tests --bench cdc_pipeline
//!     CDC_BENCH_SECONDS=30 CDC_BENCH_RATE=240 CDC_BENCH_CATCHUP=1000000 cargo bench -p integration-tests --bench cdc_pipeline

#[path = "../chaos/pipeline.rs"]
#[allow(dead_code)] // the crash suite's helpers; the bench uses some
mod pipeline;

use integration_tests::{Stack, measure};
use mysql_async::prelude::Queryable;
use pipeline::Pipeline;
use producer_sim::mysql_load::{self, MysqlLoadArgs};
use producer_sim::verify::{self, VerifyArgs};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// The stack's services by pid file.
fn stack_pids() -> Vec<(&'static str, u32)> {
    ["mysql", "kafka", "clickhouse"].into_iter().filter_map(|s| Some((s, measure::stack_service_pid(s)?))).collect()
}

struct Usage(Vec<(String, u32, f64)>);

impl Usage {
    /// CPU used so far by the pipeline and the stack's services; their peak
    /// RSS is reset to their current RSS, so a report shows the phase's peak.
    fn now(pipeline: &Pipeline) -> Usage {
        let (source, sink) = pipeline.pids();
        let mut all: Vec<(String, u32)> = vec![("cdc-source".into(), source.unwrap()), ("ingest-sink".into(), sink.unwrap())];
        all.extend(stack_pids().into_iter().map(|(n, p)| (n.to_string(), p)));
        for (_, pid) in &all {
            measure::reset_peak_rss(*pid);
        }
        Usage(all.into_iter().filter_map(|(n, p)| Some((n, p, measure::cpu_and_peak_rss(p)?.0))).collect())
    }

    fn report(&self, wall: Duration) {
        for (name, pid, before) in &self.0 {
            if let Some((cpu, rss)) = measure::cpu_and_peak_rss(*pid) {
                let used = cpu - before;
                println!("    {name:<12} cpu {used:>6.1} s ({:>3.0} % of a core)   peak RSS {rss:>6.0} MiB", 100.0 * used / wall.as_secs_f64());
            }
        }
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 4)]
async fn main() {
    let seconds = env_u64("CDC_BENCH_SECONDS", 30);
    let rate = env_u64("CDC_BENCH_RATE", 240);
    let catchup = env_u64("CDC_BENCH_CATCHUP", 1_000_000);
    let large_rows = env_u64("CDC_BENCH_LARGE_ROWS", 20);
    let stack = Stack::get();
    let mut pipeline = Pipeline::with_tables(stack, "bench", &["latency_probe", "large_rows"], 100);
    // Room for phase 4's 20 MB change events (the local broker does not say its limit).
    pipeline.capture_setting("max_record_bytes = 67108864");
    let mysql = Pipeline::mysql(stack);
    let db = pipeline.database.clone();
    let mut load = MysqlLoadArgs {
        database: db.clone(),
        transactions: Some(500),
        duration: None,
        rate: 0,
        connections: 4,
        seed: Some(1),
        ddl_after: None,
        initial_rows: 1000,
    };
    mysql_load::run(&load, mysql.clone(), Arc::new(AtomicBool::new(false))).await.unwrap();
    let mut conn = stack.mysql.conn().await;
    conn.query_drop(format!("CREATE TABLE `{db}`.latency_probe (seq BIGINT PRIMARY KEY, note VARCHAR(20) NOT NULL)")).await.unwrap();
    conn.query_drop(format!("INSERT INTO `{db}`.latency_probe VALUES (0, 'start')")).await.unwrap();
    pipeline.start_source();
    pipeline.wait_for_source_log("snapshot complete", Duration::from_secs(120));
    pipeline.start_sink();
    let ch = Pipeline::clickhouse(stack);
    let probe_table = verify::clickhouse_table(&db, &db, "latency_probe");
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let seen: Result<u64, _> = ch.query(&format!("SELECT count() FROM `{probe_table}`")).fetch_one().await;
        if seen.is_ok_and(|n| n > 0) {
            break;
        }
        assert!(Instant::now() < deadline, "the pipeline did not deliver the snapshot");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // Phase 1: latency under a steady load.
    println!("phase 1: {rate} transactions/s for {seconds} s, latency probe every 100 ms");
    let usage = Usage::now(&pipeline);
    let started = Instant::now();
    load.transactions = None;
    load.duration = Some(seconds);
    load.rate = rate;
    let opts = mysql.clone();
    let steady = load.clone();
    let workload = tokio::spawn(async move { mysql_load::run(&steady, opts, Arc::new(AtomicBool::new(false))).await });
    let committed: Arc<std::sync::Mutex<Vec<Instant>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let prober = {
        let (committed, stop, db) = (committed.clone(), stop.clone(), db.clone());
        tokio::spawn(async move {
            let mut seq = 1u64;
            while !stop.load(Ordering::Relaxed) {
                conn.exec_drop(format!("INSERT INTO `{db}`.latency_probe VALUES (?, 'probe')"), (seq,)).await.unwrap();
                committed.lock().unwrap().push(Instant::now());
                seq += 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            conn
        })
    };
    let mut latencies = Vec::new();
    let mut seen = 0u64;
    while !workload.is_finished() || (seen as usize) < committed.lock().unwrap().len() {
        if workload.is_finished() {
            stop.store(true, Ordering::Relaxed);
        }
        let highest: u64 = ch.query(&format!("SELECT toUInt64(max(seq)) FROM `{probe_table}` FINAL")).fetch_one().await.unwrap();
        let now = Instant::now();
        while seen < highest {
            seen += 1;
            if let Some(at) = committed.lock().unwrap().get(seen as usize - 1) {
                latencies.push(now.duration_since(*at).as_secs_f64() * 1000.0);
            }
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    stop.store(true, Ordering::Relaxed);
    let summary = workload.await.unwrap().unwrap();
    let _ = prober.await;
    let wall = started.elapsed();
    latencies.sort_by(f64::total_cmp);
    println!(
        "  {} transactions, {} rows changed ({:.0} rows/s); {} probes",
        summary.transactions,
        summary.rows,
        summary.rows as f64 / summary.elapsed.as_secs_f64(),
        latencies.len()
    );
    println!(
        "  commit → visible in ClickHouse (FINAL): p50 {:.0} ms, p90 {:.0} ms, p99 {:.0} ms, max {:.0} ms",
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.9),
        percentile(&latencies, 0.99),
        latencies.last().copied().unwrap_or(0.0)
    );
    usage.report(wall);

    // Phase 2: as fast as MySQL takes it; time until ClickHouse equals MySQL.
    println!("phase 2: unthrottled workload for {seconds} s (4 connections), then until ClickHouse equals MySQL");
    let usage = Usage::now(&pipeline);
    let started = Instant::now();
    load.rate = 0;
    load.seed = Some(2);
    let summary = mysql_load::run(&load, mysql.clone(), Arc::new(AtomicBool::new(false))).await.unwrap();
    let written = started.elapsed();
    let mut verify_args = VerifyArgs {
        database: db.clone(),
        topic_prefix: db.clone(),
        tables: producer_sim::mysql_load::schema::TABLES.iter().map(|t| t.to_string()).collect(),
        clickstream_table: None,
        clickstream_events: None,
        timeout: 900,
        examples: 3,
    };
    let report = verify::run(&verify_args, &mysql, &ch).await.unwrap();
    let wall = started.elapsed();
    assert_eq!(report.differences(), 0, "{}", report.render());
    println!(
        "  MySQL: {} transactions, {} rows changed in {:.1} s ({:.0} rows/s)",
        summary.transactions,
        summary.rows,
        written.as_secs_f64(),
        summary.rows as f64 / written.as_secs_f64()
    );
    println!(
        "  ClickHouse equal to MySQL {:.1} s after the start ({:.1} s after the last commit): {:.0} changes/s end to end",
        wall.as_secs_f64(),
        (wall - written).as_secs_f64(),
        summary.rows as f64 / wall.as_secs_f64()
    );
    usage.report(wall);

    // Phase 3: a backlog of binlog changes, caught up from a cold start.
    println!("phase 3: {catchup} rows changed while source and sink are stopped, then both started, until ClickHouse equals MySQL");
    pipeline.stop();
    // Phase 4's table, with a first row, so that its topic exists when the sink subscribes.
    let mut conn = stack.mysql.conn().await;
    conn.query_drop(format!("CREATE TABLE `{db}`.large_rows (id INT PRIMARY KEY, body LONGBLOB NOT NULL)")).await.unwrap();
    conn.query_drop(format!("INSERT INTO `{db}`.large_rows VALUES (-1, 'small')")).await.unwrap();
    let started = Instant::now();
    let (mut transactions, mut rows) = (0, 0);
    load.transactions = Some(20_000);
    while rows < catchup {
        load.seed = Some(load.seed.unwrap() + 1);
        let summary = mysql_load::run(&load, mysql.clone(), Arc::new(AtomicBool::new(false))).await.unwrap();
        (transactions, rows) = (transactions + summary.transactions, rows + summary.rows);
    }
    println!("  MySQL: {transactions} transactions, {rows} rows changed in {:.1} s", started.elapsed().as_secs_f64());
    let started = Instant::now();
    pipeline.start_source();
    pipeline.start_sink();
    let usage = Usage::now(&pipeline);
    let report = verify::run(&verify_args, &mysql, &ch).await.unwrap();
    let wall = started.elapsed();
    assert_eq!(report.differences(), 0, "{}", report.render());
    println!("  ClickHouse equal to MySQL {:.1} s after source and sink started: {:.0} changes/s end to end", wall.as_secs_f64(), rows as f64 / wall.as_secs_f64());
    usage.report(wall);

    // Phase 4: rows of 10 MB.
    println!("phase 4: {large_rows} rows of 10 MB inserted, then each updated (20 MB change events), until ClickHouse equals MySQL");
    let usage = Usage::now(&pipeline);
    let started = Instant::now();
    for id in 0..large_rows {
        conn.exec_drop(format!("INSERT INTO `{db}`.large_rows VALUES (?, REPEAT(?, 10485760))"), (id, "a")).await.unwrap();
    }
    for id in 0..large_rows {
        conn.exec_drop(format!("UPDATE `{db}`.large_rows SET body = REPEAT(?, 10485760) WHERE id = ?"), ("b", id)).await.unwrap();
    }
    verify_args.tables = vec!["large_rows".into()];
    let report = verify::run(&verify_args, &mysql, &ch).await.unwrap();
    let wall = started.elapsed();
    assert_eq!(report.differences(), 0, "{}", report.render());
    println!("  ClickHouse equal to MySQL {:.1} s after the first insert ({:.0} MB of change events)", wall.as_secs_f64(), large_rows as f64 * 30.0 * 1.048576);
    usage.report(wall);
    pipeline.stop();
}
