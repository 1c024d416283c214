//! Dependencies going away mid-stream: ClickHouse and then Redis become
//! unreachable (an outage proxy between the sink and each closes every
//! connection and refuses new ones) while the simulator keeps producing. The
//! sink must wait with backoff, say so in its log and metrics, and end with
//! every event exactly once.
//!
//! The broker is not proxied: Kafka clients learn the broker's own address
//! from metadata and reconnect there by themselves (librdkafka's reconnect
//! backoff), so a proxy in front of the bootstrap address proves nothing.

mod common;

use common::*;
use integration_tests::outage::OutageProxy;
use integration_tests::{Stack, TEST_REGISTRY, unique_name};
use std::time::Duration;

fn host_port(url: &str) -> String {
    url.split("://").nth(1).unwrap().trim_end_matches('/').to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clickhouse_and_redis_outages_lose_and_duplicate_nothing() {
    const EVENTS: u64 = 30_000;
    let stack = Stack::get();
    let clickhouse = OutageProxy::start(&host_port(&stack.clickhouse_url)).await;
    let redis = OutageProxy::start(&host_port(&stack.redis_url)).await;

    let topic = unique_name("sink_outage");
    let producer = {
        let topic = topic.clone();
        tokio::spawn(async move { produce_with(Stack::get(), &topic, TEST_REGISTRY, EVENTS, &["--rate", "3000"]).await })
    };
    let mut setup = SinkSetup::new(&topic, TEST_REGISTRY, "redis");
    setup.batch_max_rows = 500;
    setup.clickhouse_url = Some(clickhouse.url("http"));
    setup.redis_url = Some(redis.url("redis"));
    let log = setup.group.clone();
    tokio::time::sleep(Duration::from_millis(500)).await; // the producer creates the topic
    let mut sink = start_sink(&setup.config_file(stack), None, &log);


    // Cut ClickHouse as soon as the sink is under way (group join takes a few seconds on a busy machine).
    wait_for_rows(stack, &setup.table, 1, Some(&mut sink), Duration::from_secs(60)).await;
    let before_clickhouse = totals(stack, &setup.table).await.0;
    clickhouse.down();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let during_clickhouse = totals(stack, &setup.table).await.0;
    clickhouse.up();
    tokio::time::sleep(Duration::from_secs(2)).await;
    redis.down();
    tokio::time::sleep(Duration::from_secs(3)).await;
    redis.up();

    producer.await.unwrap();
    let result = wait_for_rows(stack, &setup.table, EVENTS, Some(&mut sink), Duration::from_secs(120)).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let metrics = http_get(&log, "/metrics");
    stop_sink(sink);
    let sink_log = log_of(&log);

    assert!(before_clickhouse > 0 && before_clickhouse < EVENTS, "the outage must hit mid-stream ({before_clickhouse} rows before it)");
    assert!(during_clickhouse < EVENTS, "the sink cannot have finished while ClickHouse was down");
    assert_eq!(result, (EVENTS, EVENTS, 1, EVENTS as i64), "sink log:\n{sink_log}");
    assert_eq!(totals(stack, &setup.table).await, result);
    let retries: f64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("ingest_sink_retries_total "))
        .expect("retries metric")
        .parse()
        .unwrap();
    assert!(retries >= 2.0, "both outages must show as retries, got {retries}");
    assert!(sink_log.contains("ClickHouse unavailable"), "the log names the ClickHouse outage:\n{sink_log}");
    assert!(sink_log.contains("redis state store unavailable"), "the log names the Redis outage:\n{sink_log}");
    assert!(sink_log.contains("succeeded after"), "{sink_log}");
}
