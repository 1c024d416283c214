//! `producer-sim verify` against real MySQL and ClickHouse: a ClickHouse table
//! the sink has not created yet is "not equal yet" — verify keeps comparing
//! until it appears (or the timeout passes, then reports it), never failing on it.

use integration_tests::{Stack, unique_name};
use mysql_async::prelude::Queryable;
use producer_sim::verify::{self, VerifyArgs};
use shared::config::ClickHouseConfig;
use std::time::{Duration, Instant};

fn clickhouse(stack: &Stack) -> clickhouse::Client {
    ClickHouseConfig {
        url: stack.clickhouse_url.clone(),
        ..Default::default()
    }
    .client()
    .unwrap()
}

fn args(database: &str, prefix: &str, clicks: &str, timeout: u64) -> VerifyArgs {
    VerifyArgs {
        database: database.to_string(),
        topic_prefix: prefix.to_string(),
        tables: vec![],
        clickstream_table: Some(clicks.to_string()),
        clickstream_events: Some(3),
        timeout,
        examples: 3,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_waits_for_tables_that_appear_after_it_started() {
    let stack = Stack::get();
    let database = unique_name("verify_wait");
    let mut conn = stack.mysql.conn().await;
    conn.query_drop(format!("CREATE DATABASE `{database}`")).await.unwrap();
    conn.query_drop(format!("CREATE TABLE `{database}`.items (id INT PRIMARY KEY, note VARCHAR(20))")).await.unwrap();
    conn.query_drop(format!("INSERT INTO `{database}`.items VALUES (1, 'a'), (2, NULL), (3, 'c')")).await.unwrap();
    let ch = clickhouse(stack);
    let table = verify::clickhouse_table(&database, &database, "items");
    let clicks = format!("{database}_clicks");

    // Neither table ever appears: reported as missing after the timeout, exit-worthy, no error.
    let report = verify::run(&args(&database, &database, &clicks, 2), &stack.mysql.connector(), &ch).await.unwrap();
    assert!(report.differences() >= 6, "{}", report.render());
    assert!(report.tables[0].table_missing && report.tables[0].missing == 3);
    assert!(report.render().contains("does not exist (yet)"), "{}", report.render());

    // Both appear 3 s after verify started: it waits and ends equal.
    let waiting = {
        let (database, clicks, server, ch) = (database.clone(), clicks.clone(), stack.mysql.clone(), ch.clone());
        tokio::spawn(async move { verify::run(&args(&database, &database, &clicks, 60), &server.connector(), &ch).await })
    };
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(!waiting.is_finished(), "verify must not end while the tables are missing");
    for sql in [
        format!(
            "CREATE TABLE `{table}` (id Int32, note Nullable(String), _version UInt64, _is_deleted UInt8) \
             ENGINE = ReplacingMergeTree(_version, _is_deleted) ORDER BY id"
        ),
        format!("INSERT INTO `{table}` VALUES (1, 'a', 1, 0), (2, NULL, 1, 0), (3, 'c', 1, 0)"),
        format!("CREATE TABLE `{clicks}` (globalseq Int64) ENGINE = MergeTree ORDER BY globalseq"),
        format!("INSERT INTO `{clicks}` VALUES (1), (2), (3)"),
    ] {
        ch.query(&sql).execute().await.unwrap();
    }
    let report = waiting.await.unwrap().unwrap();
    assert_eq!(report.differences(), 0, "{}", report.render());
    assert!(started.elapsed() >= Duration::from_secs(3) && report.waited >= Duration::from_secs(3));
    assert!(!report.tables[0].table_missing);
}
