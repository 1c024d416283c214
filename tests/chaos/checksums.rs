//! Binlogs without event checksums (`binlog_checksum = NONE`), on MySQL and
//! MariaDB: the source names files right across a rotation and a restart (the
//! first ROTATE of a dump carries no checksum to cut), and ClickHouse ends
//! equal to the server. In this binary because it changes a global setting
//! of the shared servers (restored at the end).

use crate::pipeline::Pipeline;
use integration_tests::{Flavor, Stack};
use mysql_async::prelude::Queryable;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn binlogs_without_checksums_are_read_whole() {
    let _serial = crate::SERIAL.lock().await;
    let stack = Stack::get();
    for flavor in Flavor::ALL {
        let server = stack.server(flavor);
        let mut my = server.conn().await;
        my.query_drop("SET GLOBAL binlog_checksum = 'NONE'").await.unwrap();
        let mut pipeline = Pipeline::on_server(stack, server, &format!("crc_{}", flavor.name()), &["events"], 200, "avro");
        let db = pipeline.database.clone();
        my.query_drop(format!("CREATE DATABASE `{db}`")).await.unwrap();
        my.query_drop(format!("CREATE TABLE `{db}`.events (id INT PRIMARY KEY, n INT NOT NULL)")).await.unwrap();
        my.query_drop(format!("INSERT INTO `{db}`.events VALUES (1, 0), (2, 0)")).await.unwrap();
        pipeline.start_source();
        pipeline.wait_for_source_log("streaming the binlog", Duration::from_secs(60));
        pipeline.start_sink();
        for id in 3..=50 {
            my.query_drop(format!("INSERT INTO `{db}`.events VALUES ({id}, {id})")).await.unwrap();
            if id % 10 == 0 {
                my.query_drop("FLUSH BINARY LOGS").await.unwrap();
            }
            if id == 25 {
                // A restart begins with the artificial ROTATE of the stored file.
                pipeline.kill_source();
                pipeline.start_source();
            }
        }
        my.query_drop(format!("UPDATE `{db}`.events SET n = n + 1 WHERE id % 3 = 0")).await.unwrap();
        my.query_drop(format!("DELETE FROM `{db}`.events WHERE id % 7 = 0")).await.unwrap();
        let report = pipeline.verify_table(stack, server, "events").await;
        pipeline.stop();
        my.query_drop("SET GLOBAL binlog_checksum = 'CRC32'").await.unwrap();
        assert_eq!(report.differences(), 0, "{}: {}", flavor.name(), report.render());
        assert!(
            !integration_tests::log_of(&pipeline.source_log()).contains("has no binlog at"),
            "file names were read whole"
        );
    }
}
