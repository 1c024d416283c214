//! Incremental snapshots (the watermark algorithm), on MySQL and MariaDB.
//!
//! 1. The initial snapshot read incrementally (`snapshot.method =
//!    "incremental"`, small chunks, two tables at a time) while writers
//!    update, delete, re-insert and re-key rows — a hot table hammered so that
//!    changes land inside chunk windows — and the source is killed with
//!    SIGKILL several times mid-snapshot, and a column is added mid-way. Then ClickHouse equals MySQL, every
//!    restart resumed (not from zero), and (MariaDB run, Kafka Connect JSON)
//!    the topic holds each key's snapshot row once, again only for rows of
//!    the window in flight at a kill.
//! 2. Signals: an ad-hoc incremental re-snapshot of one table while others
//!    stream, paused (no chunk read meanwhile) and resumed, one with an
//!    additional condition, one stopped; `snapshot status` tells each state.

use crate::pipeline::Pipeline;
use integration_tests::{Flavor, Stack};
use mysql_async::prelude::Queryable;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use rdkafka::consumer::{BaseConsumer, Consumer};

use rdkafka::{ClientConfig, Message};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// The big table's rows (`INCREMENTAL_TEST_ROWS` overrides: a 1M-row run by hand).
fn big_rows() -> u64 {
    std::env::var("INCREMENTAL_TEST_ROWS").ok().and_then(|v| v.parse().ok()).unwrap_or(100_000)
}
const HOT_ROWS: u64 = 2_000;
const CHUNK: u64 = 250;
const KILLS: usize = 3;

fn signal_table_sql(db: &str) -> String {
    format!("CREATE TABLE `{db}`.cdc_signal (id VARCHAR(42) PRIMARY KEY, type VARCHAR(32) NOT NULL, data VARCHAR(2048))")
}

/// Fills `db.table` (created by the caller) with `rows` generated rows `(id, a, b, c, d)`.
async fn fill(conn: &mut mysql_async::Conn, db: &str, table: &str, rows: u64) {
    let mut id = 1;
    while id <= rows {
        let last = (id + 4_999).min(rows);
        let values: Vec<String> = (id..=last)
            .map(|i| format!("({i}, {}, 'row {i} ü', '2024-01-{:02} 10:00:00.{:03}', {}.{:02})", i % 1000, 1 + i % 28, i % 1000, i * 3, i % 100))
            .collect();
        conn.query_drop(format!("INSERT INTO `{db}`.`{table}` VALUES {}", values.join(", "))).await.unwrap();
        id = last + 1;
    }
}

/// Random writes until `stop`: updates, deletes, re-inserts and key changes,
/// on `hot` as fast as one connection goes and on `big` now and then.
async fn writers(server: integration_tests::DbServer, db: String, stop: Arc<AtomicBool>) -> u64 {
    let mut rng = SmallRng::seed_from_u64(7);
    let mut conn = server.conn().await;
    let mut statements = 0;
    let mut moved = 10_000_000u64;
    let big = big_rows();
    while !stop.load(Ordering::Relaxed) {
        let (table, range) = if rng.random_range(0..4) == 0 { ("big", big) } else { ("hot", HOT_ROWS) };
        let id = rng.random_range(1..=range);
        let sql = match rng.random_range(0..100) {
            0..45 => format!("UPDATE `{db}`.`{table}` SET a = a + 1, b = CONCAT('u', a) WHERE id = {id}"),
            45..60 => format!("DELETE FROM `{db}`.`{table}` WHERE id = {id}"),
            60..80 => format!(
                "INSERT INTO `{db}`.`{table}` (id, a, b, c, d) VALUES ({id}, 1, 'again', '2025-05-05 05:05:05.005', 1.50) ON DUPLICATE KEY UPDATE a = a + 7"
            ),
            80..90 => {
                moved += 1;
                format!("UPDATE IGNORE `{db}`.`{table}` SET id = {moved} WHERE id = {id}")
            }
            _ => {
                // A transaction touching several keys of the hot table at once.
                let ids: Vec<String> = (0..5).map(|_| rng.random_range(1..=HOT_ROWS).to_string()).collect();
                format!("UPDATE `{db}`.hot SET d = d + 1 WHERE id IN ({})", ids.join(", "))
            }
        };
        if conn.query_drop(sql).await.is_ok() {
            statements += 1;
        }
        if table == "big" {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
    statements
}

/// Polls `cdc-source snapshot status` until no table is being read.
fn wait_until_snapshot_done(pipeline: &mut Pipeline, timeout: Duration) -> String {
    let deadline = Instant::now() + timeout;
    loop {
        pipeline.assert_running();
        let status = pipeline.source_command(&["snapshot", "status"]);
        if status.contains("incremental snapshot ") && !status.lines().any(|l| l.split_whitespace().nth(1) == Some("reading")) {
            return status;
        }
        assert!(Instant::now() < deadline, "the incremental snapshot did not end within {timeout:?}:\n{status}");
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// Every record of `topic` (both partitions) as `(key, value)` JSON, read until the topic is quiet.
fn topic_json(stack: &Stack, topic: &str) -> Vec<(serde_json::Value, serde_json::Value)> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &stack.kafka_bootstrap)
        .set("group.id", integration_tests::unique_name("incr_reader"))
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let mut partitions = rdkafka::TopicPartitionList::new();
    for partition in 0..2 {
        partitions.add_partition_offset(topic, partition, rdkafka::Offset::Beginning).unwrap();
    }
    consumer.assign(&partitions).unwrap();
    let mut records = Vec::new();
    let mut quiet_since = Instant::now();
    while quiet_since.elapsed() < Duration::from_secs(8) {
        match consumer.poll(Duration::from_millis(200)) {
            Some(Ok(m)) => {
                quiet_since = Instant::now();
                let json = |b: Option<&[u8]>| b.and_then(|b| serde_json::from_slice(b).ok()).unwrap_or(serde_json::Value::Null);
                records.push((json(m.key()), json(m.payload())));
            }
            Some(Err(e)) => panic!("reading {topic}: {e}"),
            None => {}
        }
    }
    records
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn incremental_snapshot_resumes_after_kills_under_writes() {
    let _serial = crate::SERIAL.lock().await;
    let stack = Stack::get();
    for flavor in Flavor::ALL {
        let server = stack.server(flavor);
        let format = if flavor == Flavor::MariaDb { "json" } else { "avro" };
        let mut pipeline = Pipeline::on_server(stack, server, &format!("incr_{}", flavor.name()), &["big", "hot", "pairs"], 200, format);
        let db = pipeline.database.clone();
        pipeline.capture_setting(&format!("signal_table = \"{db}.cdc_signal\""));
        pipeline.source_section(&format!("[snapshot]\nmethod = \"incremental\"\nincremental_chunk_rows = {CHUNK}\nincremental_parallel_tables = 2\n"));
        // `snapshot status` reads the offsets while the source writes them:
        // the end-offset read-back (the production setting; this broker's end offsets hold).
        pipeline.edit_source_config("readback_until = \"quiet_period\"", "readback_until = \"end_offset\"");
        let mut my = server.conn().await;
        my.query_drop(format!("CREATE DATABASE `{db}`")).await.unwrap();
        my.query_drop(signal_table_sql(&db)).await.unwrap();
        for table in ["big", "hot"] {
            my.query_drop(format!(
                "CREATE TABLE `{db}`.`{table}` (id BIGINT PRIMARY KEY, a INT NOT NULL, b VARCHAR(40), c DATETIME(3), d DECIMAL(12,2))"
            ))
            .await
            .unwrap();
        }
        fill(&mut my, &db, "big", big_rows()).await;
        fill(&mut my, &db, "hot", HOT_ROWS).await;
        // A composite key with a string part: chunks page by (g, name).
        my.query_drop(format!("CREATE TABLE `{db}`.pairs (g INT, name VARCHAR(20), v INT, PRIMARY KEY (g, name))")).await.unwrap();
        let pairs: Vec<String> = (0..3000).map(|i| format!("({}, 'n{}', {i})", i % 7, i)).collect();
        my.query_drop(format!("INSERT INTO `{db}`.pairs VALUES {}", pairs.join(", "))).await.unwrap();

        let stop = Arc::new(AtomicBool::new(false));
        let writer = tokio::spawn(writers(server.clone(), db.clone(), stop.clone()));
        pipeline.start_source();
        pipeline.start_sink();
        pipeline.wait_for_source_log("incremental snapshot started", Duration::from_secs(60));
        let mut rng = SmallRng::seed_from_u64(11);
        for kill in 0..KILLS {
            // Some chunks into this run's part of the snapshot, then SIGKILL.
            pipeline.wait_for_source_log_count("streaming the binlog", kill + 1, Duration::from_secs(60));
            std::thread::sleep(Duration::from_millis(rng.random_range(300..1500)));
            pipeline.kill_source();
            pipeline.start_source();
        }
        // A column added mid-snapshot, and values in it across the key space
        // (in chunks read before and after): later chunks carry the new shape.
        my.query_drop(format!("ALTER TABLE `{db}`.big ADD COLUMN extra INT NULL")).await.unwrap();
        my.query_drop(format!("UPDATE `{db}`.big SET extra = id % 5 WHERE id % 97 = 0")).await.unwrap();
        let status = wait_until_snapshot_done(&mut pipeline, Duration::from_secs(300));
        stop.store(true, Ordering::Relaxed);
        assert!(integration_tests::log_of(&pipeline.source_log()).contains("read in key ranges side by side"));
        let statements = writer.await.unwrap();
        assert!(statements > 500, "the writers ran only {statements} statements");
        println!("{}: {statements} statements during the snapshot\n{status}", flavor.name());
        // Every start found tables left to read: each kill came mid-snapshot.
        let resumed = integration_tests::log_of(&pipeline.source_log()).matches("resuming the incremental snapshot at the next chunk").count();
        assert!(resumed > KILLS, "{resumed} starts with a snapshot to resume for {KILLS} kills: a kill came after the snapshot ended");
        for table in ["big", "hot", "pairs"] {
            let report = pipeline.verify_table(stack, server, table).await;
            assert_eq!(report.differences(), 0, "{} {table}: {}", flavor.name(), report.render());
        }

        if format == "json" {
            // Snapshot rows in the topic: each key at most twice, and a second
            // time only for the window in flight at a kill (two chunks: the
            // table is read in two key ranges side by side).
            let topic = shared::kafka::table_topic(&db, &db, "big");
            let mut reads: HashMap<String, u32> = HashMap::new();
            for (key, value) in topic_json(stack, &topic) {
                if value["payload"]["op"] == "r" {
                    assert_eq!(value["payload"]["source"]["snapshot"], "incremental");
                    *reads.entry(key["payload"].to_string()).or_default() += 1;
                }
            }
            // A kill re-reads at most the window in flight: each key's snapshot
            // row at most once per start, and all repeats together within a window per kill.
            let again: u64 = reads.values().map(|&n| u64::from(n) - 1).sum();
            println!("{}: {} keys snapshotted, {again} rows sent again", flavor.name(), reads.len());
            assert!(reads.values().all(|&n| n as usize <= KILLS + 1), "a key's snapshot row was sent more often than the source started");
            assert!(
                again <= (KILLS as u64 + 1) * CHUNK * 2,
                "{again} snapshot rows were sent again: more than the windows in flight at {KILLS} kills (a resumed snapshot re-read completed chunks)"
            );
            assert!(reads.len() as u64 >= big_rows() / 2, "only {} keys were snapshotted", reads.len());
        }
        pipeline.stop();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn signals_start_pause_resume_filter_and_stop_incremental_snapshots() {
    let _serial = crate::SERIAL.lock().await;
    let stack = Stack::get();
    for flavor in Flavor::ALL {
        let server = stack.server(flavor);
        let mut pipeline = Pipeline::on_server(stack, server, &format!("incrsig_{}", flavor.name()), &["kept", "other", "added"], 200, "avro");
        let db = pipeline.database.clone();
        let signal_topic = format!("{db}-signal");
        pipeline.capture_setting(&format!("signal_table = \"{db}.cdc_signal\"\nsignal_topic = \"{signal_topic}\"\nexclude_tables = [\"{db}.added\"]"));
        pipeline.source_section("[snapshot]\nincremental_chunk_rows = 100\nincremental_parallel_tables = 1\n");
        let mut my = server.conn().await;
        my.query_drop(format!("CREATE DATABASE `{db}`")).await.unwrap();
        my.query_drop(signal_table_sql(&db)).await.unwrap();
        for table in ["kept", "other", "added"] {
            my.query_drop(format!(
                "CREATE TABLE `{db}`.`{table}` (id BIGINT PRIMARY KEY, a INT NOT NULL, b VARCHAR(40), c DATETIME(3), d DECIMAL(12,2))"
            ))
            .await
            .unwrap();
        }
        fill(&mut my, &db, "kept", 20_000).await;
        fill(&mut my, &db, "other", 100).await;
        fill(&mut my, &db, "added", 3_000).await;
        pipeline.subscribe_by_pattern(); // `added`'s topic appears later
        pipeline.start_source();
        pipeline.wait_for_source_log("snapshot complete", Duration::from_secs(90));
        pipeline.start_sink();
        let report = pipeline.verify_table(stack, server, "kept").await;
        assert_eq!(report.differences(), 0, "{}: {}", flavor.name(), report.render());

        // ClickHouse loses rows behind the pipeline's back; an incremental
        // re-snapshot repairs them while the other table streams on.
        let clickhouse = Pipeline::clickhouse(stack);
        let kept = producer_sim::verify::clickhouse_table(&db, &db, "kept");
        clickhouse.query(&format!("DELETE FROM `{kept}` WHERE id > 19000")).execute().await.unwrap();
        let out = pipeline.source_command(&["snapshot", "start", "--tables", &format!("{db}.kept")]);
        assert!(out.contains("sent execute-snapshot (incremental)"), "{out}");
        pipeline.wait_for_source_log("incremental snapshot started", Duration::from_secs(30));
        pipeline.source_command(&["snapshot", "pause"]);
        pipeline.wait_for_source_log("incremental snapshot paused", Duration::from_secs(30));
        std::thread::sleep(Duration::from_secs(1));
        let rows_read = |status: &str| -> u64 {
            let line = status.lines().find(|l| l.contains(".kept")).unwrap_or_else(|| panic!("no kept line in {status}"));
            line.split_whitespace().nth(2).unwrap().parse().unwrap()
        };
        let paused = pipeline.source_command(&["snapshot", "status"]);
        assert!(paused.contains("(paused)"), "{paused}");
        my.query_drop(format!("UPDATE `{db}`.other SET a = a + 1")).await.unwrap();
        std::thread::sleep(Duration::from_secs(2));
        let still = pipeline.source_command(&["snapshot", "status"]);
        assert_eq!(rows_read(&paused), rows_read(&still), "chunks were read while paused:\n{paused}\n{still}");
        assert!(rows_read(&still) < 20_000, "the snapshot ended before the pause took effect:\n{still}");
        let report = pipeline.verify_table(stack, server, "other").await;
        assert_eq!(report.differences(), 0, "{} other streams while paused: {}", flavor.name(), report.render());
        pipeline.source_command(&["snapshot", "resume"]);
        let status = wait_until_snapshot_done(&mut pipeline, Duration::from_secs(120));
        assert!(status.lines().any(|l| l.contains(".kept") && l.contains("done") && l.contains("20000")), "{status}");
        let report = pipeline.verify_table(stack, server, "kept").await;
        assert_eq!(report.differences(), 0, "{} kept after the re-snapshot: {}", flavor.name(), report.render());

        // Only the rows an additional condition selects.
        clickhouse.query(&format!("DELETE FROM `{kept}` WHERE id <= 50")).execute().await.unwrap();
        let condition = format!("{db}.kept=id <= 50");
        pipeline.source_command(&["snapshot", "start", "--tables", &format!("{db}.kept"), "--filter", &condition]);
        let status = wait_until_snapshot_done(&mut pipeline, Duration::from_secs(60));
        assert!(status.lines().any(|l| l.contains(".kept") && l.contains("done") && l.split_whitespace().nth(2) == Some("50")), "{status}");
        let report = pipeline.verify_table(stack, server, "kept").await;
        assert_eq!(report.differences(), 0, "{} kept after the filtered re-snapshot: {}", flavor.name(), report.render());

        // Through the signal topic, in Debezium's format (another source's record is ignored).
        clickhouse.query(&format!("DELETE FROM `{kept}` WHERE id BETWEEN 100 AND 200")).execute().await.unwrap();
        let producer: rdkafka::producer::FutureProducer = ClientConfig::new().set("bootstrap.servers", &stack.kafka_bootstrap).create().unwrap();
        for key in ["another-source", db.as_str()] {
            let value = serde_json::json!({"type": "execute-snapshot", "data": {"data-collections": [format!("{db}.kept")], "type": "INCREMENTAL"}}).to_string();
            let record = rdkafka::producer::FutureRecord::to(&signal_topic).partition(0).key(key).payload(&value);
            producer.send(record, Duration::from_secs(30)).await.map_err(|(e, _)| e).unwrap();
        }
        pipeline.wait_for_source_log_count("signal execute-snapshot: incremental snapshot", 3, Duration::from_secs(30));
        let status = wait_until_snapshot_done(&mut pipeline, Duration::from_secs(120));
        assert!(status.lines().any(|l| l.contains(".kept") && l.contains("done") && l.contains("20000")), "{status}");
        let report = pipeline.verify_table(stack, server, "kept").await;
        assert_eq!(report.differences(), 0, "{} kept after the signal topic's re-snapshot: {}", flavor.name(), report.render());
        // A restart does not act on the topic's signal again (its offset is stored).
        pipeline.stop();
        pipeline.start_source();
        pipeline.wait_for_source_log_count("streaming the binlog", 2, Duration::from_secs(60));
        std::thread::sleep(Duration::from_secs(2));
        assert_eq!(integration_tests::log_of(&pipeline.source_log()).matches("signal execute-snapshot: incremental snapshot").count(), 3);
        // (Assigned before the next stop: see Pipeline::start_sink_assigned.)
        pipeline.start_sink_assigned(Duration::from_secs(90));

        // Stopped (while paused, so before it ends): the table is left as far as it got.
        pipeline.source_command(&["snapshot", "start", "--tables", &format!("{db}.kept")]);
        pipeline.source_command(&["snapshot", "pause"]);
        pipeline.source_command(&["snapshot", "stop"]);
        pipeline.wait_for_source_log("incremental snapshot of the table stopped by signal", Duration::from_secs(30));
        let status = wait_until_snapshot_done(&mut pipeline, Duration::from_secs(60));
        assert!(status.lines().any(|l| l.contains(".kept") && l.contains("stopped")), "{status}");

        // A table the capture lists take in at a restart is read incrementally
        // (snapshot.method = incremental) while it takes writes.
        pipeline.stop();
        pipeline.edit_source_config(&format!("exclude_tables = [\"{db}.added\"]"), "exclude_tables = []");
        pipeline.source_section("method = \"incremental\"\n");
        pipeline.start_source();
        pipeline.start_sink_assigned(Duration::from_secs(90));
        pipeline.wait_for_source_log("the capture lists take in more tables: reading them incrementally", Duration::from_secs(60));
        my.query_drop(format!("UPDATE `{db}`.added SET a = a + 1 WHERE id % 10 = 0")).await.unwrap();
        my.query_drop(format!("DELETE FROM `{db}`.added WHERE id % 100 = 1")).await.unwrap();
        let status = wait_until_snapshot_done(&mut pipeline, Duration::from_secs(60));
        assert!(status.lines().any(|l| l.contains(".added") && l.contains("done")), "{status}");
        let report = pipeline.verify_table(stack, server, "added").await;
        assert_eq!(report.differences(), 0, "{} added table backfilled: {}", flavor.name(), report.render());
        pipeline.stop();
    }
}

/// GTID watermarks (Debezium's read-only incremental snapshot) on MySQL:
/// the source's user may only read and replicate, yet a table written to
/// meanwhile is snapshotted in chunks through a kill, and ClickHouse equals
/// MySQL. On MariaDB (no executed GTID set) the snapshot stops with the fix
/// while the stream goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn read_only_incremental_snapshot_with_gtid_watermarks() {
    let _serial = crate::SERIAL.lock().await;
    let stack = Stack::get();
    let server = stack.server(Flavor::MySql);
    let mut pipeline = Pipeline::on_server(stack, server, "incrro", &["big", "hot"], 200, "avro");
    let db = pipeline.database.clone();
    let user = format!("ro_{}", std::process::id());
    let mut my = server.conn().await;
    my.query_drop(format!("CREATE DATABASE `{db}`")).await.unwrap();
    my.query_drop(format!("DROP USER IF EXISTS '{user}'@'%'")).await.unwrap();
    my.query_drop(format!("CREATE USER '{user}'@'%' IDENTIFIED BY 'read-only-pw'")).await.unwrap();
    my.query_drop(format!("GRANT SELECT, REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO '{user}'@'%'")).await.unwrap();
    pipeline.edit_source_config(&format!("user = \"{}\"\npassword = \"{}\"", server.user, server.password), &format!("user = \"{user}\"\npassword = \"read-only-pw\""));
    pipeline.source_section(&format!("[snapshot]\nmethod = \"incremental\"\nincremental_watermarks = \"gtid\"\nincremental_chunk_rows = {CHUNK}\n"));
    pipeline.edit_source_config("readback_until = \"quiet_period\"", "readback_until = \"end_offset\"");
    for table in ["big", "hot"] {
        my.query_drop(format!("CREATE TABLE `{db}`.`{table}` (id BIGINT PRIMARY KEY, a INT NOT NULL, b VARCHAR(40), c DATETIME(3), d DECIMAL(12,2))"))
            .await
            .unwrap();
    }
    fill(&mut my, &db, "big", 30_000).await;
    fill(&mut my, &db, "hot", HOT_ROWS).await;

    let stop = Arc::new(AtomicBool::new(false));
    let writer = tokio::spawn(writers(server.clone(), db.clone(), stop.clone()));
    pipeline.start_source();
    pipeline.start_sink();
    pipeline.wait_for_source_log("streaming the binlog", Duration::from_secs(60));
    std::thread::sleep(Duration::from_millis(800));
    pipeline.kill_source();
    pipeline.start_source();
    let status = wait_until_snapshot_done(&mut pipeline, Duration::from_secs(240));
    stop.store(true, Ordering::Relaxed);
    let statements = writer.await.unwrap();
    println!("read-only: {statements} statements during the snapshot\n{status}");
    assert!(status.lines().any(|l| l.contains(".big") && l.contains("done")), "{status}");
    assert!(!integration_tests::log_of(&pipeline.source_log()).contains("incremental snapshot paused"));
    for table in ["big", "hot"] {
        let report = pipeline.verify_table(stack, server, table).await;
        assert_eq!(report.differences(), 0, "read-only {table}: {}", report.render());
    }
    pipeline.stop();
    my.query_drop(format!("DROP USER '{user}'@'%'")).await.unwrap();

    // MariaDB has no executed GTID set to use: the snapshot stops, saying what to do.
    let server = stack.server(Flavor::MariaDb);
    let mut pipeline = Pipeline::on_server(stack, server, "incrro_maria", &["t"], 200, "avro");
    let db = pipeline.database.clone();
    pipeline.source_section("[snapshot]\nmethod = \"incremental\"\nincremental_watermarks = \"gtid\"\n");
    let mut my = server.conn().await;
    my.query_drop(format!("CREATE DATABASE `{db}`")).await.unwrap();
    my.query_drop(format!("CREATE TABLE `{db}`.t (id INT PRIMARY KEY)")).await.unwrap();
    my.query_drop(format!("INSERT INTO `{db}`.t VALUES (1), (2)")).await.unwrap();
    pipeline.start_source();
    pipeline.wait_for_source_log("incremental snapshot paused", Duration::from_secs(60));
    assert!(integration_tests::log_of(&pipeline.source_log()).contains("needs MySQL with gtid_mode = ON"));
    my.query_drop(format!("INSERT INTO `{db}`.t VALUES (3)")).await.unwrap();
    pipeline.wait_for_source_log("streaming the binlog", Duration::from_secs(10));
    pipeline.assert_running();
    pipeline.stop();
}
