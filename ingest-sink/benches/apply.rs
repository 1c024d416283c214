//! The sink's apply rate and what exactly-once costs, with the broker out of
//! the loop: the same 400,000 clickstream records (Glue Avro frames) in the
//! same 10,000-row batches go through the sink's per-partition workers
//! (`workers::Workers` → `BatchApplier`: decode a batch ahead, RowBinary,
//! insert into fresh MergeTree tables) once with `delivery = exactly_once`
//! (fences, Redis state BEFORE/AFTER, insert deduplication tokens) and once
//! with `at_least_once` (inserts only), for two layouts: one partition, and
//! 8 partitions across 4 tables. Rounds alternate between the modes; prints
//! rows/s per round, the medians, insert seconds per wall second, the cores
//! kept busy by the sink's path (this process) and the ClickHouse front end,
//! and the ClickHouse front end's own raw insert rate for the same rows (4
//! clients), the ceiling. Uses the local stack (started if needed).
//!
//!     cargo bench -p ingest-sink --bench apply

use ingest_sink::apply::BatchApplier;
use ingest_sink::batch::{Batch, Record};
use ingest_sink::clickhouse::table::TableSettings;
use ingest_sink::config::{Delivery, ErrorsTolerance};
use ingest_sink::decode::RecordDecoder;
use ingest_sink::exactly_once::OffsetRange;
use ingest_sink::metrics::SinkMetrics;
use shared::retry::RetryPolicy;
use ingest_sink::state::redis::RedisStateStore;
use ingest_sink::state::{PartitionKey, StateStore};
use ingest_sink::workers::{Outcome, Workers};
use integration_tests::{Stack, measure, unique_name};
use producer_sim::clickstream::model::{CLICK_EVENT_SCHEMA, users_of_worker};
use rand::SeedableRng;
use rand::rngs::SmallRng;
use shared::glue::{Compression, GlueAvroDecoder, GlueAvroEncoder, GlueSchemaCache, RegistrationOptions};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

const RECORDS: usize = 400_000;
const BATCH: usize = 10_000;
const ROUNDS: usize = 3;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let stack = Stack::get();
    let cache = Arc::new(GlueSchemaCache::new(stack.test_registry().await));
    let registered = cache
        .register("ingest-sink-bench-apply", CLICK_EVENT_SCHEMA, &RegistrationOptions::default())
        .await
        .expect("registering the clickstream schema");
    let encoder = GlueAvroEncoder::new(&registered, Compression::None).unwrap();
    let mut users = users_of_worker(0, 1, 1000, 7);
    let mut rng = SmallRng::seed_from_u64(7);
    let payloads: Vec<Vec<u8>> = (0..RECORDS)
        .map(|i| {
            let n = users.len();
            let event = users[i % n].next_event(i as i64 + 1, 1_700_000_000_000, &mut rng);
            let mut payload = Vec::new();
            encoder.encode(&event, &mut payload).unwrap();
            payload
        })
        .collect();

    let client = clickhouse::Client::default().with_url(&stack.clickhouse_url);
    let front_end = measure::stack_service_pid("clickhouse");
    let cpu_of = |pid: Option<u32>| pid.and_then(measure::cpu_and_peak_rss).map_or(0.0, |(cpu, _)| cpu);
    let mut last_table = String::new();
    for (partitions, tables) in [(1, 1), (8, 4)] {
        let mut results: HashMap<&str, Vec<f64>> = HashMap::new();
        for round in 0..ROUNDS * 2 {
            let delivery = if round % 2 == 0 { Delivery::ExactlyOnce } else { Delivery::AtLeastOnce };
            let name = match delivery {
                Delivery::ExactlyOnce => "exactly_once",
                Delivery::AtLeastOnce => "at_least_once",
            };
            let cpu_before = (cpu_of(Some(std::process::id())), cpu_of(front_end));
            let started = Instant::now();
            let (rows_per_s, insert_share, table) = round_of(stack, &payloads, partitions, tables, delivery, cache.clone()).await;
            let wall = started.elapsed().as_secs_f64();
            let (sink_cpu, front_cpu) = (cpu_of(Some(std::process::id())) - cpu_before.0, cpu_of(front_end) - cpu_before.1);
            println!(
                "{partitions} partition(s) / {tables} table(s), round {:>2} {name:<14} {rows_per_s:>10.0} rows/s  (insert seconds per wall second {insert_share:.2}; \
                 cores busy: sink path {:.2}, ClickHouse front end {:.2})",
                round + 1,
                sink_cpu / wall,
                front_cpu / wall
            );
            results.entry(name).or_default().push(rows_per_s);
            last_table = table;
        }
        let median = |name: &str| {
            let mut v = results[name].clone();
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        };
        let (on, off) = (median("exactly_once"), median("at_least_once"));
        println!("{RECORDS} clickstream rows, {partitions} partition(s) across {tables} table(s), batches of {BATCH}, {ROUNDS} rounds per mode, medians:");
        println!("  {:<16} {on:>10.0} rows/s", "exactly_once");
        println!("  {:<16} {off:>10.0} rows/s", "at_least_once");
        println!("  {:<16} {:>9.1}%", "cost", (off - on) / off * 100.0);
    }
    let rows_per_table = RECORDS / 4;
    let raw = measure::clickhouse_raw_insert_rate(&client, &last_table, "globalseq", 4).await;
    println!("ClickHouse front end, raw RowBinary inserts of one table's {rows_per_table} rows (4 clients, 10,000-row batches): {raw:.0} rows/s");
}

/// One pass over every record: record `i` goes to partition `i % partitions`
/// (partition `p` of topic `p % tables`), each partition's records in
/// `BATCH`-sized batches handed to its worker. Returns rows/s, seconds spent
/// in inserts per wall second (above 1 when inserts overlap), and one of the tables.
async fn round_of(
    stack: &Stack,
    payloads: &[Vec<u8>],
    partitions: usize,
    tables: usize,
    delivery: Delivery,
    cache: Arc<GlueSchemaCache>,
) -> (f64, f64, String) {
    let topics: Vec<String> = (0..tables).map(|_| unique_name("bench_apply")).collect();
    let table_of: HashMap<String, String> = topics.iter().map(|t| (t.clone(), unique_name("bench_clicks"))).collect();
    let store: Arc<dyn StateStore> = Arc::new(RedisStateStore::connect(&shared::config::RedisConfig::at(&stack.redis_url), &unique_name("bench")).await.unwrap());
    let metrics = Arc::new(SinkMetrics::default());
    let one_table = table_of[&topics[0]].clone();
    let applier = Arc::new(BatchApplier {
        store: store.clone(),
        decoder: RecordDecoder::GlueAvro(GlueAvroDecoder::new(cache)),
        delivery,
        client: clickhouse::Client::default().with_url(&stack.clickhouse_url),
        database: "default".into(),
        table_for: Box::new(move |topic, _| table_of[topic].clone()),
        on_table_drop: Default::default(),
        table_settings: TableSettings {
            metadata_columns: false,
            create: true,
            dedup_window: 1000,
        },
        tolerance: ErrorsTolerance::None,
        dlq: None,
        retry: RetryPolicy::default(),
        metrics: metrics.clone(),
        tables: Default::default(),
        inserts: tokio::sync::Semaphore::new(4),
    });
    let keys: Vec<PartitionKey> = (0..partitions).map(|p| PartitionKey::new(&topics[p % tables], (p / tables) as i32)).collect();
    let mut records: Vec<Vec<Record>> = vec![Vec::new(); partitions];
    for (i, payload) in payloads.iter().enumerate() {
        let partition = &mut records[i % partitions];
        partition.push(Record {
            version: None,
            dropped: false,
            offset: partition.len() as i64,
            key: None,
            payload: Some(payload.clone()),
            timestamp_ms: 1_700_000_000_000,
        });
    }
    let mut workers = Workers::new(applier);
    for key in &keys {
        workers.start(key.clone(), store.acquire(key).await.unwrap());
    }
    let mut batches = 0;
    let started = Instant::now();
    for (key, records) in keys.iter().zip(&records) {
        for chunk in records.chunks(BATCH) {
            let range = OffsetRange::new(chunk[0].offset, chunk[chunk.len() - 1].offset);
            workers.dispatch(Batch { key: key.clone(), range, records: chunk.to_vec() });
            batches += 1;
        }
    }
    while batches > 0 {
        let finished = workers.finished.recv().await.unwrap();
        assert!(matches!(finished.outcome, Outcome::Applied(_)), "{:?}", finished.outcome);
        workers.refill(&finished.key);
        batches -= 1;
    }
    let wall = started.elapsed().as_secs_f64();
    workers.shutdown().await;
    let inserted: u64 = topics.iter().map(|t| metrics.rows_inserted.with_label_values(&[t.as_str()]).get()).sum();
    assert_eq!(inserted, payloads.len() as u64, "every row inserted once");
    (payloads.len() as f64 / wall, metrics.insert_seconds.get_sample_sum() / wall, one_table)
}
