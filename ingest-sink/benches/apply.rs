//! What exactly-once costs, with the broker out of the loop: the same 200,000
//! clickstream records (Glue Avro frames) in the same 10,000-row batches of one
//! partition go through the sink's `BatchApplier` — decode, RowBinary, insert
//! into a fresh MergeTree table — once with `delivery = exactly_once` (fence,
//! Redis state BEFORE/AFTER, insert deduplication token) and once with
//! `at_least_once` (insert only). Rounds alternate between the modes; prints
//! rows/s per round, the medians, and how much of the wall time was the
//! ClickHouse insert. Uses the local stack (started if needed).
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
use integration_tests::{Stack, unique_name};
use producer_sim::clickstream::model::{CLICK_EVENT_SCHEMA, users_of_worker};
use rand::SeedableRng;
use rand::rngs::SmallRng;
use shared::glue::{Compression, GlueAvroDecoder, GlueAvroEncoder, GlueSchemaCache, RegistrationOptions};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

const RECORDS: usize = 200_000;
const BATCH: usize = 10_000;
const ROUNDS: usize = 5;

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
    let records: Vec<Record> = (0..RECORDS)
        .map(|i| {
            let n = users.len();
            let event = users[i % n].next_event(i as i64 + 1, 1_700_000_000_000, &mut rng);
            let mut payload = Vec::new();
            encoder.encode(&event, &mut payload).unwrap();
            Record {
                version: None,
                dropped: false,
                offset: i as i64,
                key: None,
                payload: Some(payload),
                timestamp_ms: 1_700_000_000_000,
            }
        })
        .collect();

    let mut results: HashMap<&str, Vec<(f64, f64)>> = HashMap::new();
    for round in 0..ROUNDS * 2 {
        let delivery = if round % 2 == 0 { Delivery::ExactlyOnce } else { Delivery::AtLeastOnce };
        let name = match delivery {
            Delivery::ExactlyOnce => "exactly_once",
            Delivery::AtLeastOnce => "at_least_once",
        };
        let (rows_per_s, insert_share) = round_of(stack, &records, delivery, cache.clone()).await;
        println!("round {:>2} {name:<14} {rows_per_s:>10.0} rows/s  (inserts {:.0}% of wall time)", round + 1, insert_share * 100.0);
        results.entry(name).or_default().push((rows_per_s, insert_share));
    }
    let median = |name: &str| {
        let mut v: Vec<f64> = results[name].iter().map(|r| r.0).collect();
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (on, off) = (median("exactly_once"), median("at_least_once"));
    println!("{RECORDS} clickstream rows, batches of {BATCH}, {ROUNDS} rounds per mode, medians:");
    println!("{:<16} {on:>10.0} rows/s", "exactly_once");
    println!("{:<16} {off:>10.0} rows/s", "at_least_once");
    println!("{:<16} {:>9.1}%", "cost", (off - on) / off * 100.0);
}

/// One pass over every record in `BATCH`-sized batches into a fresh table;
/// returns rows/s and the share of wall time spent in ClickHouse inserts.
async fn round_of(stack: &Stack, records: &[Record], delivery: Delivery, cache: Arc<GlueSchemaCache>) -> (f64, f64) {
    let topic = unique_name("bench_apply");
    let key = PartitionKey::new(&topic, 0);
    let store: Arc<dyn StateStore> = Arc::new(RedisStateStore::connect(&shared::config::RedisConfig::at(&stack.redis_url), &unique_name("bench")).await.unwrap());
    let fence = store.acquire(&key).await.unwrap();
    let metrics = Arc::new(SinkMetrics::default());
    let table = unique_name("bench_clicks");
    let applier = BatchApplier {
        store,
        decoder: RecordDecoder::GlueAvro(GlueAvroDecoder::new(cache)),
        delivery,
        client: clickhouse::Client::default().with_url(&stack.clickhouse_url),
        database: "default".into(),
        table_for: Box::new(move |_, _| table.clone()),
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
        inserts: tokio::sync::Semaphore::new(1),
    };
    let batches: Vec<Batch> = records
        .chunks(BATCH)
        .map(|chunk| Batch {
            key: key.clone(),
            range: OffsetRange {
                min: chunk[0].offset,
                max: chunk[chunk.len() - 1].offset,
            },
            records: chunk.to_vec(),
        })
        .collect();
    let started = Instant::now();
    for batch in &batches {
        applier.apply(batch, fence).await.unwrap();
    }
    let wall = started.elapsed().as_secs_f64();
    let inserted = metrics.rows_inserted.with_label_values(&[topic.as_str()]).get();
    assert_eq!(inserted, records.len() as u64, "every row inserted once");
    (records.len() as f64 / wall, metrics.insert_seconds.get_sample_sum() / wall)
}
