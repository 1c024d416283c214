//! The sink end to end against the real stack: clickstream events produced by
//! the simulator arrive in ClickHouse exactly once — every `globalseq`, once —
//! with the Redis store and with the KeeperMap store, and from Kafka Connect
//! JSON records as well as Glue Avro.

mod common;

use common::*;
use integration_tests::{Stack, TEST_REGISTRY, unique_name};
use std::time::Duration;

async fn end_to_end(store: &'static str, producer_flags: &[&str], consumer_extra: &str) {
    const EVENTS: u64 = 20_000;
    let stack = Stack::get();
    let topic = unique_name("sink_e2e");
    produce_with(stack, &topic, TEST_REGISTRY, EVENTS, producer_flags).await;

    let mut setup = SinkSetup::new(&topic, TEST_REGISTRY, store);
    setup.extra = consumer_extra.to_string();
    let log = format!("{}-{store}", setup.group);
    let mut sink = start_sink(&setup.config_file(stack), None, &log);
    let totals = wait_for_rows(stack, &setup.table, EVENTS, Some(&mut sink), Duration::from_secs(120)).await;
    // Let a late duplicate show itself, if there were one.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let totals_after = common::totals(stack, &setup.table).await;
    let metrics = http_get(&log, "/metrics");
    let health = http_get(&log, "/healthz");
    stop_sink(sink);
    assert!(
        metrics.contains(&format!("ingest_sink_rows_inserted_total{{topic=\"{topic}\"}} {EVENTS}")),
        "{metrics}"
    );
    for name in ["ingest_sink_batch_outcomes_total", "ingest_sink_insert_seconds_bucket", "ingest_sink_retries_total"] {
        assert!(metrics.contains(name), "{name} missing:\n{metrics}");
    }
    assert!(health.starts_with("HTTP/1.0 200") && health.ends_with("ok\n"), "{health}");
    assert_eq!(totals, (EVENTS, EVENTS, 1, EVENTS as i64), "sink log:\n{}", log_of(&log));
    assert_eq!(totals_after, totals);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_event_exactly_once_with_redis_state() {
    end_to_end("redis", &[], "").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_event_exactly_once_with_keepermap_state() {
    end_to_end("keepermap", &[], "").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_json_records_arrive_exactly_once() {
    end_to_end("redis", &["--format", "json", "--json-with-schema"], "format = \"json\"").await;
}
