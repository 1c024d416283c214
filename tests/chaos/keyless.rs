//! Tables without a primary key end to end, on MySQL and MariaDB. One flows
//! into a change table (a row per image with its sign), duplicates, updates,
//! a single-row delete and a TRUNCATE included, and `verify` compares its
//! rows as a multiset; the other gets a key from `capture.key_columns` and is
//! kept by it like any keyed table.

use crate::pipeline::Pipeline;
use integration_tests::{Flavor, Stack};
use mysql_async::prelude::Queryable;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn keyless_tables_flow_and_compare_equal() {
    let _serial = crate::SERIAL.lock().await;
    let stack = Stack::get();
    for flavor in Flavor::ALL {
        let server = stack.server(flavor);
        let mut pipeline = Pipeline::on_server(stack, server, &format!("nokey_{}", flavor.name()), &["log", "coded"], 200, "avro");
        let db = pipeline.database.clone();
        pipeline.capture_setting(&format!("key_columns = {{ \"{db}.coded\" = [\"code\"] }}"));
        let mut my = server.conn().await;
        my.query_drop(format!("CREATE DATABASE `{db}`")).await.unwrap();
        my.query_drop(format!("CREATE TABLE `{db}`.log (a INT, b VARCHAR(10))")).await.unwrap();
        my.query_drop(format!("CREATE TABLE `{db}`.coded (code VARCHAR(8) NOT NULL, v INT, UNIQUE KEY (code))")).await.unwrap();
        my.query_drop(format!("INSERT INTO `{db}`.log VALUES (1, 'x'), (1, 'x'), (2, 'y'), (NULL, NULL)")).await.unwrap();
        my.query_drop(format!("INSERT INTO `{db}`.coded VALUES ('a', 1), ('b', 2), ('c', 3)")).await.unwrap();
        pipeline.start_source();
        pipeline.wait_for_source_log("snapshot complete", Duration::from_secs(60));
        pipeline.start_sink();

        my.query_drop(format!("INSERT INTO `{db}`.log VALUES (3, 'z'), (1, 'x')")).await.unwrap();
        my.query_drop(format!("UPDATE `{db}`.log SET b = 'w' WHERE a = 2")).await.unwrap();
        my.query_drop(format!("DELETE FROM `{db}`.log WHERE a = 1 LIMIT 1")).await.unwrap();
        my.query_drop(format!("UPDATE `{db}`.coded SET v = v * 10 WHERE code <> 'b'")).await.unwrap();
        my.query_drop(format!("DELETE FROM `{db}`.coded WHERE code = 'b'")).await.unwrap();
        my.query_drop(format!("UPDATE `{db}`.coded SET code = 'z' WHERE code = 'c'")).await.unwrap();
        let report = pipeline.verify_table(stack, server, "log").await;
        assert_eq!(report.differences(), 0, "{} log: {}\n{}", flavor.name(), report.render(), integration_tests::tail(&integration_tests::log_of(&pipeline.sink_log()), 30));
        assert_eq!(report.tables[0].mysql_rows, 5);

        my.query_drop(format!("TRUNCATE TABLE `{db}`.log")).await.unwrap();
        my.query_drop(format!("INSERT INTO `{db}`.log VALUES (5, 'v'), (5, 'v')")).await.unwrap();
        for (table, rows) in [("log", 2), ("coded", 2)] {
            let report = pipeline.verify_table(stack, server, table).await;
            assert_eq!(report.differences(), 0, "{} {table}: {}\n{}", flavor.name(), report.render(), integration_tests::tail(&integration_tests::log_of(&pipeline.sink_log()), 30));
            assert_eq!(report.tables[0].mysql_rows, rows, "{table}");
        }
        pipeline.stop();
    }
}
