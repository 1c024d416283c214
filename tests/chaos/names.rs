//! Names and wide values end to end, on MySQL and MariaDB: tables and
//! columns with spaces, dashes, quotes, backquotes, reserved words, non-ASCII
//! letters and 64 characters, a column named like the sink's own version
//! column, and the edge values of BIGINT UNSIGNED, INT/TINYINT UNSIGNED and
//! DECIMAL(65,30) — snapshotted, then streamed — reach ClickHouse under their
//! exact names with their exact values (checked by `verify`; the MySQL run in
//! Glue Avro with BIGINT UNSIGNED as `long`, the MariaDB run in Kafka Connect
//! JSON — names and types carried by the field parameters there too — with
//! BIGINT UNSIGNED as DECIMAL(20, 0), precise mode), and the topics
//! carry only characters Kafka allows. Two tables whose names map to one
//! topic (`col lide`, `col_lide`): the second is put in quarantine with both
//! names in the message, and everything else flows.

use crate::pipeline::Pipeline;
use integration_tests::{Flavor, Stack};
use mysql_async::prelude::Queryable;
use std::time::Duration;

const ODD: &str = "ünïcode tablé-1";
const LONG: &str = "t234567890123456789012345678901234567890123456789012345678901234";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn odd_names_and_wide_values_arrive_exactly() {
    let _serial = crate::SERIAL.lock().await;
    let stack = Stack::get();
    assert_eq!(LONG.len(), 64);
    for flavor in Flavor::ALL {
        let server = stack.server(flavor);
        let format = if flavor == Flavor::MariaDb { "json" } else { "avro" };
        let mut pipeline = Pipeline::on_server(stack, server, &format!("names_{}", flavor.name()), &[ODD, LONG, "select"], 200, format);
        let db = pipeline.database.clone();
        if flavor == Flavor::MariaDb {
            // BIGINT UNSIGNED as DECIMAL(20, 0) on this run (Debezium's precise mode); UInt64 in ClickHouse either way.
            pipeline.capture_setting("bigint_unsigned_handling = \"precise\"");
        }
        let mut my = server.conn().await;
        my.query_drop(format!("CREATE DATABASE `{db}`")).await.unwrap();
        my.query_drop(format!(
            "CREATE TABLE `{db}`.`{ODD}` (`id` BIGINT UNSIGNED PRIMARY KEY, `my col` INT, `naïve` VARCHAR(20), `order` INT, \
             `we``ird\"q` INT, `_version` INT, `dec` DECIMAL(65,30), `u8` TINYINT UNSIGNED, `u32` INT UNSIGNED, `i8` TINYINT, \
             `c234567890123456789012345678901234567890123456789012345678901234` SMALLINT UNSIGNED)"
        ))
        .await
        .unwrap();
        my.query_drop(format!("CREATE TABLE `{db}`.`{LONG}` (`key col` VARCHAR(10) PRIMARY KEY, v INT)")).await.unwrap();
        my.query_drop(format!("CREATE TABLE `{db}`.`select` (`from` INT PRIMARY KEY, `where` VARCHAR(5))")).await.unwrap();
        my.query_drop(format!("CREATE TABLE `{db}`.`col lide` (id INT PRIMARY KEY)")).await.unwrap();
        my.query_drop(format!("CREATE TABLE `{db}`.`col_lide` (id INT PRIMARY KEY)")).await.unwrap();
        my.query_drop(format!("INSERT INTO `{db}`.`col lide` VALUES (1)")).await.unwrap();
        my.query_drop(format!("INSERT INTO `{db}`.`col_lide` VALUES (1)")).await.unwrap();
        let insert = |ids: [&str; 2]| {
            format!(
                "INSERT INTO `{db}`.`{ODD}` VALUES \
                 ({}, -1, 'naïve ü', 1, 2, 3, '12345678901234567890123456789012345.123456789012345678901234567890', 255, 4294967295, -128, 65535), \
                 ({}, 2147483647, '', 0, NULL, NULL, '-99999999999999999999999999999999999.999999999999999999999999999999', 0, 0, 127, 0)",
                ids[0], ids[1]
            )
        };
        my.query_drop(insert(["18446744073709551615", "0"])).await.unwrap();
        my.query_drop(format!("INSERT INTO `{db}`.`{LONG}` VALUES ('a b', 1), ('ü', 2)")).await.unwrap();
        my.query_drop(format!("INSERT INTO `{db}`.`select` VALUES (1, 'x')")).await.unwrap();
        pipeline.start_source();
        pipeline.wait_for_source_log("snapshot complete", Duration::from_secs(60));
        pipeline.start_sink();
        // Streamed: the same edge values under other keys, an update of the max key, a delete.
        my.query_drop(insert(["18446744073709551614", "9223372036854775808"])).await.unwrap();
        my.query_drop(format!("UPDATE `{db}`.`{ODD}` SET `my col` = 5, `dec` = 0.000000000000000000000000000001 WHERE id = 18446744073709551615"))
            .await
            .unwrap();
        my.query_drop(format!("DELETE FROM `{db}`.`{ODD}` WHERE id = 0")).await.unwrap();
        my.query_drop(format!("UPDATE `{db}`.`{LONG}` SET v = 3 WHERE `key col` = 'ü'")).await.unwrap();
        my.query_drop(format!("INSERT INTO `{db}`.`select` VALUES (2, 'y')")).await.unwrap();

        for table in [ODD, LONG, "select"] {
            let report = pipeline.verify_table(stack, server, table).await;
            assert_eq!(report.differences(), 0, "{} {table}: {}\n{}", flavor.name(), report.render(), integration_tests::tail(&integration_tests::log_of(&pipeline.sink_log()), 30));
            assert!(report.tables[0].mysql_rows > 0);
        }
        my.query_drop(format!("INSERT INTO `{db}`.`col_lide` VALUES (2)")).await.unwrap();
        pipeline.wait_for_source_log("both map to topic", Duration::from_secs(30));
        let log = integration_tests::log_of(&pipeline.source_log());
        assert!(log.contains("`col lide` and ") && log.contains("`col_lide` both map to topic"), "{}", integration_tests::tail(&log, 10));
        pipeline.assert_running();
        let topics = shared::kafka::table_topic(&db, &db, ODD);
        assert!(topics.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c)), "{topics}");
        pipeline.stop();
    }
}
