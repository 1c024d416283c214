//! Table lifecycle end to end, on MySQL and MariaDB: `TRUNCATE` and `DROP
//! TABLE` reach ClickHouse (Debezium's truncate event, `op = t`; a drop is
//! sent as one marked dropped), so the emptied table's old rows leave the live
//! view while rows written after it stay, and a table dropped and created
//! again with other columns is equal to MySQL again (checked by `verify`).
//! The sink subscribes by pattern, so a table created while everything runs
//! arrives by itself. A renamed table (`RENAME TABLE`, `ALTER TABLE …
//! RENAME`) lives under its new name with every row, and its old names show
//! no live row. A renamed column's values follow it (the table is read
//! again); a dropped column stays in ClickHouse, retired.

use crate::pipeline::Pipeline;
use integration_tests::{Flavor, Stack};
use mysql_async::prelude::Queryable;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn truncate_and_drop_leave_clickhouse_equal_to_mysql() {
    let _serial = crate::SERIAL.lock().await;
    let stack = Stack::get();
    for flavor in Flavor::ALL {
        let server = stack.server(flavor);
        let mut pipeline = Pipeline::on_server(stack, server, &format!("life_{}", flavor.name()), &["items", "gone"], 200, "avro");
        let db = pipeline.database.clone();
        let mut my = server.conn().await;
        my.query_drop(format!("CREATE DATABASE `{db}`")).await.unwrap();
        my.query_drop(format!("CREATE TABLE `{db}`.items (id INT PRIMARY KEY, v INT NOT NULL, note VARCHAR(20))")).await.unwrap();
        my.query_drop(format!("CREATE TABLE `{db}`.gone (id INT PRIMARY KEY, a INT, b VARCHAR(5))")).await.unwrap();
        my.query_drop(format!("CREATE TABLE `{db}`.old_name (id INT PRIMARY KEY, v INT)")).await.unwrap();
        let seed: Vec<String> = (1..=10).map(|i| format!("({i}, {i})")).collect();
        my.query_drop(format!("INSERT INTO `{db}`.old_name VALUES {}", seed.join(", "))).await.unwrap();
        let seed: Vec<String> = (1..=100).map(|i| format!("({i}, {i}, 'seed')")).collect();
        my.query_drop(format!("INSERT INTO `{db}`.items VALUES {}", seed.join(", "))).await.unwrap();
        let seed: Vec<String> = (1..=20).map(|i| format!("({i}, {i}, 'old')")).collect();
        my.query_drop(format!("INSERT INTO `{db}`.gone VALUES {}", seed.join(", "))).await.unwrap();
        pipeline.start_source();
        pipeline.wait_for_source_log("snapshot complete", Duration::from_secs(60));
        pipeline.subscribe_by_pattern();
        pipeline.start_sink();

        // Streamed rows, then TRUNCATE, then rows that reuse old keys and add new ones.
        my.query_drop(format!("INSERT INTO `{db}`.items VALUES (101, 1, 'streamed')")).await.unwrap();
        my.query_drop(format!("TRUNCATE TABLE `{db}`.items")).await.unwrap();
        my.query_drop(format!("INSERT INTO `{db}`.items VALUES (1, 10, 'after'), (5, 50, 'after'), (300, 3, 'after')")).await.unwrap();
        my.query_drop(format!("UPDATE `{db}`.items SET v = v + 1 WHERE id = 5")).await.unwrap();
        // A second truncate in the same run, then one more row.
        my.query_drop(format!("TRUNCATE `{db}`.items")).await.unwrap();
        my.query_drop(format!("INSERT INTO `{db}`.items VALUES (7, 70, 'last')")).await.unwrap();

        // DROP and CREATE again with a column retyped, one dropped and one added.
        my.query_drop(format!("DROP TABLE `{db}`.gone")).await.unwrap();
        my.query_drop(format!("CREATE TABLE `{db}`.gone (id INT PRIMARY KEY, a VARCHAR(10), c DATE)")).await.unwrap();
        my.query_drop(format!("INSERT INTO `{db}`.gone VALUES (1, 'one', '2024-01-02'), (30, NULL, NULL)")).await.unwrap();

        // Renamed twice, written between and after.
        my.query_drop(format!("INSERT INTO `{db}`.old_name VALUES (11, 11), (12, 12)")).await.unwrap();
        my.query_drop(format!("RENAME TABLE `{db}`.old_name TO `{db}`.new_name")).await.unwrap();
        my.query_drop(format!("UPDATE `{db}`.new_name SET v = 100 WHERE id = 1")).await.unwrap();
        my.query_drop(format!("ALTER TABLE `{db}`.new_name RENAME TO `{db}`.newer_name")).await.unwrap();
        my.query_drop(format!("INSERT INTO `{db}`.newer_name VALUES (13, 13)")).await.unwrap();
        my.query_drop(format!("DELETE FROM `{db}`.newer_name WHERE id = 2")).await.unwrap();

        // A table created while everything runs.
        my.query_drop(format!("CREATE TABLE `{db}`.late (id INT PRIMARY KEY, v VARCHAR(10), x INT NOT NULL)")).await.unwrap();
        my.query_drop(format!("INSERT INTO `{db}`.late VALUES (1, 'a', 1), (2, 'b', 2)")).await.unwrap();
        // A column renamed (its values must follow), one dropped (kept in ClickHouse, retired).
        my.query_drop(format!("ALTER TABLE `{db}`.late RENAME COLUMN v TO w")).await.unwrap();
        my.query_drop(format!("ALTER TABLE `{db}`.late DROP COLUMN x")).await.unwrap();
        my.query_drop(format!("INSERT INTO `{db}`.late VALUES (3, 'c')")).await.unwrap();
        my.query_drop(format!("ALTER TABLE `{db}`.late CHANGE w `w 2` VARCHAR(20)")).await.unwrap();
        my.query_drop(format!("UPDATE `{db}`.late SET `w 2` = 'B' WHERE id = 2")).await.unwrap();

        for table in ["items", "gone", "late", "newer_name"] {
            let report = pipeline.verify_table(stack, server, table).await;
            assert_eq!(report.differences(), 0, "{} {table}: {}\n{}", flavor.name(), report.render(), integration_tests::tail(&integration_tests::log_of(&pipeline.sink_log()), 30));
        }
        let items = pipeline.verify_table(stack, server, "items").await;
        assert_eq!(items.tables[0].mysql_rows, 1, "only the row written after the second TRUNCATE");
        let clickhouse = Pipeline::clickhouse(stack);
        for old in ["old_name", "new_name"] {
            let table = producer_sim::verify::clickhouse_table(&db, &db, old);
            let live: u64 = clickhouse
                .query(&format!("SELECT count() FROM `{table}` FINAL WHERE _is_deleted = 0"))
                .fetch_one()
                .await
                .unwrap_or_else(|e| panic!("{table}: {e}"));
            assert_eq!(live, 0, "{}: the old name {old} still shows rows", flavor.name());
        }
        pipeline.stop();
    }
}
