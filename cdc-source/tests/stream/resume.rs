//! Kill -9 at random moments while the server (MySQL, MariaDB) takes writes, restart each time:
//! Kafka ends up with every change exactly once — as many records as the
//! workload made, no position twice, and replaying them gives the table.

use crate::common::*;
use integration_tests::{DbServer, Flavor, Stack};
use mysql_async::prelude::Queryable;
use rand::{Rng, SeedableRng};
use std::time::Duration;

integration_tests::on_both_flavors!(kill_minus_nine_during_writes_leaves_no_gap_and_no_duplicate, a_position_the_server_no_longer_has_stops_the_source_with_advice, when_needed_snapshots_again_when_the_position_is_gone, a_dropped_connection_is_resumed_without_loss_or_duplicate);

/// Runs `transactions` small transactions (2-row insert; every 3rd also an
/// update, every 10th a delete); returns the number of change records they make
/// (tombstones included).
async fn workload(server: DbServer, database: String, transactions: i32) -> usize {
    let mut conn = server.conn().await;
    conn.query_drop(format!("USE `{database}`")).await.unwrap();
    let mut records = 0;
    for k in 1..=transactions {
        let mut tx = conn.start_transaction(Default::default()).await.unwrap();
        tx.query_drop(format!("INSERT INTO events (id, n, note) VALUES ({}, 0, 'a'), ({}, 0, 'b')", 2 * k - 1, 2 * k)).await.unwrap();
        records += 2;
        if k % 3 == 0 {
            tx.query_drop(format!("UPDATE events SET n = n + 1 WHERE id = {}", 2 * k - 3)).await.unwrap();
            records += tx.affected_rows() as usize;
        }
        if k % 10 == 0 {
            tx.query_drop(format!("DELETE FROM events WHERE id = {}", 2 * k - 10)).await.unwrap();
            records += 2 * tx.affected_rows() as usize;
        }
        tx.commit().await.unwrap();
        tokio::time::sleep(Duration::from_millis(3)).await;
    }
    records
}

async fn kill_minus_nine_during_writes_leaves_no_gap_and_no_duplicate(flavor: Flavor) {
    let seed: u64 = std::env::var("SOURCE_CRASH_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(rand::random);
    println!("SOURCE_CRASH_SEED={seed}");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let stack = Stack::get();
    let setup = SourceSetup::new("resume", flavor);
    let mut conn = setup.conn().await;
    create_events_database(&mut conn, &setup).await;
    let config = setup.config_file(stack);
    let log = setup.database.clone();

    let mut source = start_source(&config, &log);
    wait_for_offsets(&setup, Duration::from_secs(60)).await;
    let writer = tokio::spawn(workload(setup.server.clone(), setup.database.clone(), 2500));
    let mut kills = 0;
    while !writer.is_finished() || kills < 5 {
        // Kill while streaming (not while reading back): after the source says it streams.
        wait_for_log_count(&log, "streaming the binlog", kills + 1, Duration::from_secs(60)).await;
        tokio::time::sleep(Duration::from_millis(rng.random_range(50..1500))).await;
        kill_source(source, &log);
        kills += 1;
        source = start_source(&config, &log);
    }
    let expected = writer.await.unwrap();
    let records = read_topic(stack, &setup.topic("events"), expected, Duration::from_secs(120)).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let late = read_topic(stack, &setup.topic("events"), expected + 1, Duration::from_secs(3)).await;
    stop_source(source);

    let positions: std::collections::HashSet<&str> = records.iter().map(Published::position).collect();
    assert_eq!(late.len(), expected, "no extra record arrives later (seed {seed}, {kills} kills)\nlog:\n{}", log_of(&log));
    assert_eq!(records.len(), expected, "seed {seed}, {kills} kills");
    assert_eq!(positions.len(), records.len(), "a position was published twice (seed {seed})");
    assert_eq!(replay(&records), table_state(&mut conn, &setup.database, "events").await, "seed {seed}");
    let skipped: u64 = log_of(&log)
        .lines()
        .filter_map(|l| l.split("skipped=").nth(1))
        .filter_map(|v| v.trim().parse::<u64>().ok())
        .sum();
    println!("{kills} kills, {} records, all once ({skipped} re-read records skipped by the final run)", records.len());
}

async fn a_position_the_server_no_longer_has_stops_the_source_with_advice(flavor: Flavor) {
    let stack = Stack::get();
    let setup = SourceSetup::new("purged", flavor);
    let mut conn = setup.conn().await;
    create_database(&mut conn, &setup).await;
    std::fs::write(
        &setup.offsets_file,
        r#"{"position":{"file":"gone-bin.999999","pos":4},"gtid":null,"snapshot_done":true}"#,
    )
    .unwrap();
    let log = setup.database.clone();
    let mut source = start_source(&setup.config_file(stack), &log);
    let status = wait_for_exit(&mut source, &log).await;
    let text = log_of(&log);
    assert!(!status.success());
    assert!(text.contains("has no binlog at gone-bin.999999:4") && text.contains("delete the stored offsets"), "{text}");
}

/// With `snapshot.mode = when_needed` the same situation takes a new snapshot
/// and streams on; the heartbeat topic ticks meanwhile.
async fn when_needed_snapshots_again_when_the_position_is_gone(flavor: Flavor) {
    let stack = Stack::get();
    let mut setup = SourceSetup::new("needed", flavor);
    setup.snapshot_mode = "when_needed";
    let heartbeat_topic = format!("__heartbeat.{}", setup.prefix);
    setup.extra_capture = format!("heartbeat_topic = \"{heartbeat_topic}\"");
    let mut conn = setup.conn().await;
    create_events_database(&mut conn, &setup).await;
    conn.query_drop(format!("INSERT INTO `{}`.events VALUES (1, 0, 'a'), (2, 0, 'b'), (3, 0, 'c')", setup.database)).await.unwrap();
    std::fs::write(
        &setup.offsets_file,
        r#"{"position":{"file":"gone-bin.999999","pos":4},"gtid":null,"snapshot_done":true}"#,
    )
    .unwrap();
    let log = setup.database.clone();
    let source = start_source(&setup.config_file(stack), &log);
    wait_for_log_count(&log, "snapshot complete", 1, Duration::from_secs(60)).await;
    conn.query_drop(format!("INSERT INTO `{}`.events VALUES (4, 0, 'd')", setup.database)).await.unwrap();
    let records = read_topic(stack, &setup.topic("events"), 4, Duration::from_secs(60)).await;
    let heartbeats = read_topic(stack, &heartbeat_topic, 1, Duration::from_secs(30)).await;
    stop_source(source);
    let ops: Vec<_> = records.iter().map(|r| r.field("op")).collect();
    let s = |t: &str| Some(apache_avro::types::Value::String(t.into()));
    assert_eq!(ops, vec![s("r"), s("r"), s("r"), s("c")], "log:\n{}", log_of(&log));
    assert!(log_of(&log).contains("taking a new snapshot"));
    assert!(!heartbeats.is_empty(), "heartbeats on {heartbeat_topic}");
    assert!(matches!(heartbeats[0].field("ts_ms"), Some(apache_avro::types::Value::Long(t)) if t > 0));
}

/// The server drops the replication connection mid-stream (its dump thread is
/// killed): the source reconnects with backoff from the last transaction
/// boundary, and every change still arrives once.
async fn a_dropped_connection_is_resumed_without_loss_or_duplicate(flavor: Flavor) {
    let stack = Stack::get();
    let setup = SourceSetup::new("reconnect", flavor);
    let mut conn = setup.conn().await;
    create_events_database(&mut conn, &setup).await;
    let dump_threads = |rows: Vec<(u64, String)>| -> std::collections::HashSet<u64> {
        rows.into_iter().filter(|(_, command)| command.starts_with("Binlog Dump")).map(|(id, _)| id).collect()
    };
    let before = dump_threads(conn.query("SELECT ID, COMMAND FROM information_schema.PROCESSLIST").await.unwrap());
    let log = setup.database.clone();
    let source = start_source(&setup.config_file(stack), &log);
    wait_for_log_count(&log, "streaming the binlog", 1, Duration::from_secs(60)).await;
    let ours: Vec<u64> = dump_threads(conn.query("SELECT ID, COMMAND FROM information_schema.PROCESSLIST").await.unwrap())
        .difference(&before)
        .copied()
        .collect();
    assert!(!ours.is_empty(), "the source's dump thread is listed");
    for id in 1..=100 {
        conn.query_drop(format!("INSERT INTO `{}`.events VALUES ({id}, 0, 'x')", setup.database)).await.unwrap();
    }
    for id in &ours {
        let _ = conn.query_drop(format!("KILL {id}")).await;
    }
    for id in 101..=200 {
        conn.query_drop(format!("INSERT INTO `{}`.events VALUES ({id}, 0, 'y')", setup.database)).await.unwrap();
    }
    let records = read_topic(stack, &setup.topic("events"), 200, Duration::from_secs(60)).await;
    let late = read_topic(stack, &setup.topic("events"), 201, Duration::from_secs(3)).await;
    stop_source(source);
    let text = log_of(&log);
    assert!(text.contains("reconnecting from"), "the source noticed and reconnected:\n{text}");
    assert_eq!(late.len(), 200, "no change twice:\n{text}");
    assert_eq!(replay(&records), table_state(&mut conn, &setup.database, "events").await);
}
