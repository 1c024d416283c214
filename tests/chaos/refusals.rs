//! Changes the sink cannot apply in place — a column retyped in a way
//! ClickHouse cannot convert as MySQL did (text → integer, with live rows),
//! the primary key changing — stop that table's partition with a message
//! saying what to do, nothing after it is applied, and once the operator has
//! fixed the ClickHouse table and restarted the sink, every change arrives.
//! (Widenings such as INT → BIGINT are applied by the sink itself: see the
//! lifecycle and crash tests.)

use crate::pipeline::Pipeline;
use integration_tests::{Stack, log_of, tail};
use mysql_async::prelude::Queryable;
use std::time::{Duration, Instant};

async fn rows(ch: &clickhouse::Client, table: &str) -> Vec<(i32, i64)> {
    ch.query(&format!("SELECT toInt32(id), toInt64(v) FROM `{table}` FINAL WHERE _is_deleted = 0 ORDER BY id"))
        .fetch_all()
        .await
        .unwrap_or_default()
}

async fn wait_for_rows(ch: &clickhouse::Client, table: &str, expected: &[(i32, i64)]) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let got = rows(ch, table).await;
        if got == expected {
            return;
        }
        assert!(Instant::now() < deadline, "{table}: expected {expected:?}, have {got:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn wait_for_log(pipeline: &Pipeline, needle: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let log = log_of(&pipeline.sink_log());
        if let Some(line) = log.lines().find(|l| l.contains(needle)) {
            return line.to_string();
        }
        assert!(Instant::now() < deadline, "the sink did not log {needle:?}:\n{}", tail(&log, 30));
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn type_and_key_changes_stop_the_table_and_lose_nothing() {
    let _serial = crate::SERIAL.lock().await;
    let stack = Stack::get();
    let mut pipeline = Pipeline::with_tables(stack, "refuse", &["typed", "keyed"], 200);
    let db = pipeline.database.clone();
    let mut my = stack.mysql.conn().await;
    my.query_drop(format!("CREATE DATABASE `{db}`")).await.unwrap();
    for (table, v) in [("typed", "VARCHAR(12)"), ("keyed", "INT")] {
        my.query_drop(format!("CREATE TABLE `{db}`.{table} (id INT PRIMARY KEY, v {v} NOT NULL, tag VARCHAR(8) NOT NULL)")).await.unwrap();
        my.query_drop(format!("INSERT INTO `{db}`.{table} VALUES (1, '10', 'a'), (2, '20', 'b')")).await.unwrap();
    }
    pipeline.start_source();
    pipeline.wait_for_source_log("snapshot complete", Duration::from_secs(60));
    pipeline.start_sink();
    let ch = Pipeline::clickhouse(stack);
    let (typed, keyed) = (
        producer_sim::verify::clickhouse_table(&db, &db, "typed"),
        producer_sim::verify::clickhouse_table(&db, &db, "keyed"),
    );
    wait_for_rows(&ch, &typed, &[(1, 10), (2, 20)]).await;
    wait_for_rows(&ch, &keyed, &[(1, 10), (2, 20)]).await;

    // A type change: VARCHAR → BIGINT. The partition stops at the first record of the new schema.
    my.query_drop(format!("ALTER TABLE `{db}`.typed MODIFY v BIGINT NOT NULL")).await.unwrap();
    my.query_drop(format!("INSERT INTO `{db}`.typed VALUES (3, 30000000000, 'c')")).await.unwrap();
    my.query_drop(format!("UPDATE `{db}`.typed SET v = 11 WHERE id = 1")).await.unwrap();
    let line = wait_for_log(&pipeline, "column `v` is String").await;
    assert!(line.contains("sends Int64") && line.contains("MODIFY COLUMN"), "{line}");
    // A primary-key change: (id) → (id, tag).
    my.query_drop(format!("ALTER TABLE `{db}`.keyed DROP PRIMARY KEY, ADD PRIMARY KEY (id, tag)")).await.unwrap();
    my.query_drop(format!("INSERT INTO `{db}`.keyed VALUES (1, 12, 'z')")).await.unwrap();
    let line = wait_for_log(&pipeline, "primary key changed from (id) to (id, tag)").await;
    assert!(line.contains("recreate the table"), "{line}");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(rows(&ch, &typed).await, [(1, 10), (2, 20)], "nothing after the refused change was applied");
    assert_eq!(rows(&ch, &keyed).await, [(1, 10), (2, 20)]);

    // The operator's fixes, then a restart: every change arrives.
    pipeline.kill_sink();
    ch.query(&format!("ALTER TABLE `{typed}` MODIFY COLUMN v Int64")).execute().await.unwrap();
    // The documented re-keying: a copy ordered by the new key takes the old table's place.
    for statement in [
        format!(
            "CREATE TABLE `{keyed}_rekeyed` ENGINE = ReplacingMergeTree(_version, _is_deleted) ORDER BY (id, tag) \
             SETTINGS non_replicated_deduplication_window = 1000 AS SELECT * FROM `{keyed}`"
        ),
        format!("DROP TABLE `{keyed}`"),
        format!("RENAME TABLE `{keyed}_rekeyed` TO `{keyed}`"),
    ] {
        ch.query(&statement).execute().await.unwrap();
    }
    pipeline.start_sink();
    wait_for_rows(&ch, &typed, &[(1, 11), (2, 20), (3, 30_000_000_000)]).await;
    // Ordered by the new key, (1, 'a') and (1, 'z') are two rows, as in MySQL.
    wait_for_rows(&ch, &keyed, &[(1, 10), (1, 12), (2, 20)]).await;
    let sorting_key: String = ch
        .query("SELECT sorting_key FROM system.tables WHERE database = currentDatabase() AND name = ?")
        .bind(&keyed)
        .fetch_one()
        .await
        .unwrap();
    assert_eq!(sorting_key.trim_matches(['(', ')']), "id, tag");
    pipeline.stop();
}
