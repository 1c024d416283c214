//! The GTID set stored with the source's offsets is checked against the
//! server at start: a server that has purged transactions the set does not
//! cover (restored from a backup, or another server behind the same address)
//! stops the source with the re-snapshot advice instead of streaming past a
//! gap. In this binary because it changes the MySQL server's `gtid_purged`
//! (other sources' snapshots include it from then on).

use crate::pipeline::Pipeline;
use integration_tests::{Stack, log_of};
use mysql_async::prelude::Queryable;
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_purged_unread_transactions_stops_the_source() {
    let _serial = crate::SERIAL.lock().await;
    let stack = Stack::get();
    let mut pipeline = Pipeline::with_tables(stack, "gtid", &["events"], 200);
    let db = pipeline.database.clone();
    let mut my = stack.mysql.conn().await;
    my.query_drop(format!("CREATE DATABASE `{db}`")).await.unwrap();
    my.query_drop(format!("CREATE TABLE `{db}`.events (id INT PRIMARY KEY)")).await.unwrap();
    pipeline.start_source();
    pipeline.wait_for_source_log("streaming the binlog", Duration::from_secs(60));
    my.query_drop(format!("INSERT INTO `{db}`.events VALUES (1)")).await.unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    pipeline.stop();
    let stored = log_of(&pipeline.source_log());
    assert!(stored.contains("gtid_set"), "the snapshot stored a GTID set:\n{stored}");

    // Transactions of a server the source never read are now purged on "this" server.
    let stranger = uuid::Uuid::new_v4();
    my.query_drop(format!("SET GLOBAL gtid_purged = '+{stranger}:1-3'")).await.unwrap();
    pipeline.start_source();
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = pipeline.source.as_mut().unwrap().try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "the source kept running:\n{}", log_of(&pipeline.source_log()));
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    pipeline.source = None;
    let text = log_of(&pipeline.source_log());
    assert!(!status.success());
    assert!(text.contains("purged transactions the source has not read") && text.contains("Take a new snapshot"), "{text}");
}
