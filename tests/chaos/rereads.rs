//! Tables read again while the stream runs, on MySQL and MariaDB: a table
//! the capture lists take in at a restart is read by itself, and
//! `cdc-source snapshot start` (Debezium's execute-snapshot signal through the
//! signal table) re-reads a table so that a ClickHouse copy that lost rows is
//! equal to MySQL again.

use crate::pipeline::Pipeline;
use integration_tests::{Flavor, Stack};
use mysql_async::prelude::Queryable;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn added_tables_and_signalled_tables_are_read_again() {
    let _serial = crate::SERIAL.lock().await;
    let stack = Stack::get();
    for flavor in Flavor::ALL {
        let server = stack.server(flavor);
        let mut pipeline = Pipeline::on_server(stack, server, &format!("reread_{}", flavor.name()), &["kept", "added"], 200, "avro");
        let db = pipeline.database.clone();
        pipeline.capture_setting(&format!("exclude_tables = [\"{db}.added\"]\nsignal_table = \"{db}.cdc_signal\""));
        let mut my = server.conn().await;
        my.query_drop(format!("CREATE DATABASE `{db}`")).await.unwrap();
        my.query_drop(format!("CREATE TABLE `{db}`.cdc_signal (id VARCHAR(42) PRIMARY KEY, type VARCHAR(32) NOT NULL, data VARCHAR(2048))")).await.unwrap();
        my.query_drop(format!("CREATE TABLE `{db}`.kept (id INT PRIMARY KEY, v INT)")).await.unwrap();
        my.query_drop(format!("CREATE TABLE `{db}`.added (id INT PRIMARY KEY, v INT)")).await.unwrap();
        let rows: Vec<String> = (1..=30).map(|i| format!("({i}, {i})")).collect();
        my.query_drop(format!("INSERT INTO `{db}`.kept VALUES {}", rows.join(", "))).await.unwrap();
        my.query_drop(format!("INSERT INTO `{db}`.added VALUES {}", rows.join(", "))).await.unwrap();
        pipeline.start_source();
        pipeline.wait_for_source_log("snapshot complete", Duration::from_secs(60));
        pipeline.start_sink();
        my.query_drop(format!("UPDATE `{db}`.added SET v = v + 1 WHERE id <= 10")).await.unwrap();
        my.query_drop(format!("UPDATE `{db}`.kept SET v = v + 1 WHERE id <= 10")).await.unwrap();
        let report = pipeline.verify_table(stack, server, "kept").await;
        assert_eq!(report.differences(), 0, "{}: {}", flavor.name(), report.render());

        // The table is taken in at a restart: read by itself.
        pipeline.kill_source();
        pipeline.edit_source_config(&format!("exclude_tables = [\"{db}.added\"]"), "exclude_tables = []");
        pipeline.start_source();
        pipeline.wait_for_source_log("the capture lists take in more tables", Duration::from_secs(60));
        my.query_drop(format!("DELETE FROM `{db}`.added WHERE id = 30")).await.unwrap();
        let report = pipeline.verify_table(stack, server, "added").await;
        assert_eq!(report.differences(), 0, "{} added: {}", flavor.name(), report.render());

        // ClickHouse loses rows behind the pipeline's back; a signalled re-read repairs it.
        let table = producer_sim::verify::clickhouse_table(&db, &db, "kept");
        Pipeline::clickhouse(stack).query(&format!("DELETE FROM `{table}` WHERE id <= 5")).execute().await.unwrap();
        let out = pipeline.source_command(&["snapshot", "start", "--tables", &format!("{db}.kept")]);
        assert!(out.contains("sent execute-snapshot"), "{out}");
        pipeline.wait_for_source_log("signal execute-snapshot", Duration::from_secs(30));
        my.query_drop(format!("UPDATE `{db}`.kept SET v = 0 WHERE id = 1")).await.unwrap();
        let report = pipeline.verify_table(stack, server, "kept").await;
        assert_eq!(report.differences(), 0, "{} kept after the signal: {}", flavor.name(), report.render());
        assert_eq!(report.tables[0].mysql_rows, 30);
        pipeline.stop();
    }
}
