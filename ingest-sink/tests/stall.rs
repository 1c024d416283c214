//! One table refusing inserts never stalls the others: ClickHouse refuses
//! every insert into table A for a minute (TOO_MANY_PARTS, which the sink
//! retries) while the sink applies topic B's records as they come; then A
//! catches up, and both tables hold every event exactly once.

mod common;

use common::*;
use integration_tests::{Stack, TEST_REGISTRY, unique_name};
use std::time::{Duration, Instant};

const EVENTS: u64 = 3_000;

async fn execute(stack: &Stack, sql: &str) {
    clickhouse(stack).query(sql).execute().await.unwrap_or_else(|e| panic!("{sql}: {e}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_table_refusing_inserts_for_a_minute_stalls_only_itself() {
    let stack = Stack::get();
    let (topic_a, topic_b) = (unique_name("stall_a"), unique_name("stall_b"));
    produce(stack, &topic_a, TEST_REGISTRY, EVENTS).await;
    produce(stack, &topic_b, TEST_REGISTRY, EVENTS).await;
    let mut setup = SinkSetup::new(&topic_a, TEST_REGISTRY, "redis");
    setup.metadata_columns = true; // each row names its Kafka record: exactly once is provable
    let table_b = unique_name("clicks_b");
    let path = setup.config_file(stack);
    let config = std::fs::read_to_string(&path)
        .unwrap()
        .replace(&format!("topics = [\"{topic_a}\"]"), &format!("topics = [\"{topic_a}\", \"{topic_b}\"]"))
        .replace(&format!("\"{topic_a}\" = \"{}\"", setup.table), &format!("\"{topic_a}\" = \"{}\", \"{topic_b}\" = \"{table_b}\"", setup.table));
    std::fs::write(&path, config).unwrap();
    let log = format!("{}-stall", setup.group);
    let mut sink = start_sink(&path, None, &log);
    assert_eq!(wait_for_rows(stack, &setup.table, EVENTS, Some(&mut sink), Duration::from_secs(60)).await.0, EVENTS, "{}", log_of(&log));
    assert_eq!(wait_for_rows(stack, &table_b, EVENTS, Some(&mut sink), Duration::from_secs(60)).await.0, EVENTS, "{}", log_of(&log));

    // Table A refuses every insert from now on (it has parts already).
    execute(stack, &format!("ALTER TABLE `{}` MODIFY SETTING parts_to_throw_insert = 1, parts_to_delay_insert = 1", setup.table)).await;
    let stalled = Instant::now();
    produce(stack, &topic_a, TEST_REGISTRY, EVENTS).await;
    produce(stack, &topic_b, TEST_REGISTRY, EVENTS).await;
    // B keeps flowing while A is refused, twice over, for a minute.
    assert_eq!(wait_for_rows(stack, &table_b, 2 * EVENTS, Some(&mut sink), Duration::from_secs(40)).await.0, 2 * EVENTS, "B stalled with A:\n{}", log_of(&log));
    produce(stack, &topic_b, TEST_REGISTRY, EVENTS).await;
    assert_eq!(wait_for_rows(stack, &table_b, 3 * EVENTS, Some(&mut sink), Duration::from_secs(40)).await.0, 3 * EVENTS, "B stalled with A:\n{}", log_of(&log));
    tokio::time::sleep(Duration::from_secs(60).saturating_sub(stalled.elapsed())).await;
    assert_eq!(totals(stack, &setup.table).await.0, EVENTS, "A took inserts it should have refused");
    assert!(log_of(&log).contains("TOO_MANY_PARTS"), "the refusals were not retried:\n{}", log_of(&log));
    let health = http_get(&log, "/healthz");
    assert!(health.contains("200"), "a partition retrying is not a stopped one: {health}");

    // A accepts again: it catches up, exactly once.
    execute(stack, &format!("ALTER TABLE `{}` MODIFY SETTING parts_to_throw_insert = 3000, parts_to_delay_insert = 1000", setup.table)).await;
    let a = wait_for_rows(stack, &setup.table, 2 * EVENTS, Some(&mut sink), Duration::from_secs(90)).await.0;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (a_records, b_records) = (records(stack, &setup.table).await, records(stack, &table_b).await);
    stop_sink(sink);
    assert_eq!(a, 2 * EVENTS, "A after the stall:\n{}", log_of(&log));
    assert_eq!(a_records, (2 * EVENTS, 2 * EVENTS), "A: rows, distinct Kafka records");
    assert_eq!(b_records, (3 * EVENTS, 3 * EVENTS), "B: rows, distinct Kafka records");
}

/// (rows, distinct Kafka records) of a table with metadata columns.
async fn records(stack: &Stack, table: &str) -> (u64, u64) {
    clickhouse(stack)
        .query(&format!("SELECT count(), uniqExact(_partition, _offset) FROM `{table}`"))
        .fetch_one()
        .await
        .unwrap()
}
