//! A change too large for the broker, on MySQL and MariaDB: its table goes
//! into quarantine (its changes skipped; the metric, `/healthz` and the
//! schema-change topic naming it) while the other
//! tables keep flowing; once the limit is raised, a restarted source re-reads
//! the table and ClickHouse is equal to MySQL again. Then rows of 10 MiB
//! flow, updates of them included: a 20 MiB binlog event (before and after
//! image), larger than MariaDB's default `max_allowed_packet`.

use crate::pipeline::Pipeline;
use integration_tests::{Flavor, Stack};
use mysql_async::prelude::Queryable;
use std::time::Duration;

/// The answer of the source's `/healthz` (its address from the log).
fn healthz(log: &str) -> String {
    use std::io::{Read, Write};
    let line = log.lines().rev().find(|l| l.contains("serving /metrics and /healthz")).expect("the source logs its metrics address");
    let address = line.split("bound=").nth(1).expect("bound=").split_whitespace().next().unwrap();
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    stream.write_all(b"GET /healthz HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_oversized_row_quarantines_only_its_table() {
    let _serial = crate::SERIAL.lock().await;
    let stack = Stack::get();
    for flavor in Flavor::ALL {
        let server = stack.server(flavor);
        let mut pipeline = Pipeline::on_server(stack, server, &format!("big_{}", flavor.name()), &["big", "small"], 200, "avro");
        let db = pipeline.database.clone();
        pipeline.capture_setting("max_record_bytes = 100000");
        let mut my = server.conn().await;
        my.query_drop(format!("CREATE DATABASE `{db}`")).await.unwrap();
        my.query_drop(format!("CREATE TABLE `{db}`.big (id INT PRIMARY KEY, body LONGTEXT)")).await.unwrap();
        my.query_drop(format!("CREATE TABLE `{db}`.small (id INT PRIMARY KEY, v INT)")).await.unwrap();
        my.query_drop(format!("INSERT INTO `{db}`.big VALUES (1, 'small enough')")).await.unwrap();
        pipeline.start_source();
        pipeline.wait_for_source_log("snapshot complete", Duration::from_secs(60));
        pipeline.start_sink();

        my.query_drop(format!("INSERT INTO `{db}`.big VALUES (2, REPEAT('x', 300000))")).await.unwrap();
        my.query_drop(format!("UPDATE `{db}`.big SET body = 'changed while in quarantine' WHERE id = 1")).await.unwrap();
        for i in 1..=20 {
            my.query_drop(format!("INSERT INTO `{db}`.small VALUES ({i}, {i})")).await.unwrap();
        }
        let report = pipeline.verify_table(stack, server, "small").await;
        assert_eq!(report.differences(), 0, "{}: the other table flows: {}", flavor.name(), report.render());
        pipeline.wait_for_source_log("table put in quarantine", Duration::from_secs(30));
        pipeline.assert_running();
        let health = healthz(&integration_tests::log_of(&pipeline.source_log()));
        assert!(health.contains("200 OK") && health.contains("in quarantine") && health.contains(&format!("{db}.big")), "{health}");
        // … and the schema-change topic records it (the sink keeps that topic as a table).
        let clickhouse = Pipeline::clickhouse(stack);
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        loop {
            let recorded: u64 = clickhouse
                .query(&format!("SELECT count() FROM `{}` WHERE ddl LIKE '%big%put in quarantine%'", shared::kafka::default_table(&db)))
                .fetch_one()
                .await
                .unwrap_or(0);
            if recorded > 0 {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "the quarantine is not on the schema-change topic");
            tokio::time::sleep(Duration::from_millis(300)).await;
        }

        // Raised limit, restart: the table is read again.
        pipeline.kill_source();
        pipeline.edit_source_config("max_record_bytes = 100000", "max_record_bytes = 67108864");
        pipeline.start_source();
        pipeline.wait_for_source_log("re-reading the tables in quarantine", Duration::from_secs(60));
        my.query_drop(format!("INSERT INTO `{db}`.big VALUES (3, 'after')")).await.unwrap();
        my.query_drop(format!("INSERT INTO `{db}`.big VALUES (4, REPEAT('a', 10485760))")).await.unwrap();
        my.query_drop(format!("UPDATE `{db}`.big SET body = REPEAT('b', 10485760) WHERE id = 4")).await.unwrap();
        my.query_drop(format!("UPDATE `{db}`.big SET body = CONCAT(body, 'c') WHERE id = 4")).await.unwrap();
        for table in ["big", "small"] {
            let report = pipeline.verify_table(stack, server, table).await;
            assert_eq!(report.differences(), 0, "{} {table}: {}\n{}", flavor.name(), report.render(), integration_tests::tail(&integration_tests::log_of(&pipeline.source_log()), 20));
        }
        pipeline.stop();
    }
}
