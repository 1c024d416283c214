//! Primary-key updates end to end, on MySQL and MariaDB: `UPDATE t SET id =
//! id + 1000` reaches ClickHouse as Debezium's delete of the old key and
//! create of the new one, so the old rows leave the live view and ClickHouse
//! equals MySQL key for key (checked by `verify`). The MySQL run carries Glue
//! Avro, the MariaDB run Kafka Connect JSON (source writes it, sink reads it).

use crate::pipeline::Pipeline;
use integration_tests::{Flavor, Stack};
use mysql_async::prelude::Queryable;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn primary_key_updates_leave_no_old_row_behind() {
    let _serial = crate::SERIAL.lock().await;
    let stack = Stack::get();
    for flavor in Flavor::ALL {
        let server = stack.server(flavor);
        let format = if flavor == Flavor::MySql { "avro" } else { "json" };
        let mut pipeline = Pipeline::on_server(stack, server, &format!("pk_{}", flavor.name()), &["accounts"], 200, format);
        let db = pipeline.database.clone();
        let mut my = server.conn().await;
        my.query_drop(format!("CREATE DATABASE `{db}`")).await.unwrap();
        my.query_drop(format!("CREATE TABLE `{db}`.accounts (id INT PRIMARY KEY, v INT NOT NULL, tag VARCHAR(8))")).await.unwrap();
        let seed: Vec<String> = (1..=50).map(|i| format!("({i}, {i}, 's')")).collect();
        my.query_drop(format!("INSERT INTO `{db}`.accounts VALUES {}", seed.join(", "))).await.unwrap();
        pipeline.start_source();
        pipeline.wait_for_source_log("snapshot complete", Duration::from_secs(60));
        pipeline.start_sink();

        // Every key moves; some move twice; one moves back onto a freed key; a row is deleted after moving.
        my.query_drop(format!("UPDATE `{db}`.accounts SET id = id + 1000")).await.unwrap();
        my.query_drop(format!("UPDATE `{db}`.accounts SET id = id + 1000, v = v + 1 WHERE id <= 1010")).await.unwrap();
        my.query_drop(format!("UPDATE `{db}`.accounts SET id = 1 WHERE id = 1020")).await.unwrap();
        my.query_drop(format!("DELETE FROM `{db}`.accounts WHERE id = 1030")).await.unwrap();
        my.query_drop(format!("INSERT INTO `{db}`.accounts VALUES (1020, 7, 'new')")).await.unwrap();

        let report = pipeline.verify_table(stack, server, "accounts").await;
        assert_eq!(report.differences(), 0, "{}: {}", flavor.name(), report.render());
        assert_eq!(report.tables[0].mysql_rows, 50);
        pipeline.stop();
    }
}
