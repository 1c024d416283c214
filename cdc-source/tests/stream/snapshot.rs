//! The snapshot seam: rows are inserted, updated and deleted while the
//! snapshot reads the table, and the stream that follows picks up exactly
//! where the snapshot's consistent read stood — replaying the topic gives the
//! table, and no key is read twice by the snapshot.

use crate::common::*;
use integration_tests::{Flavor, Stack};
use mysql_async::prelude::Queryable;
use std::time::Duration;

integration_tests::on_both_flavors!(writes_during_the_snapshot_are_neither_lost_nor_doubled, table_locking_snapshot_is_exact_too);

async fn writes_during_the_snapshot_are_neither_lost_nor_doubled(flavor: Flavor) {
    snapshot_seam(flavor, "auto").await;
}

/// The fallback for users without RELOAD: the captured tables are read-locked
/// for the whole snapshot (writers wait), and the seam is just as exact.
async fn table_locking_snapshot_is_exact_too(flavor: Flavor) {
    snapshot_seam(flavor, "tables").await;
}

async fn snapshot_seam(flavor: Flavor, locking: &str) {
    const ROWS: i32 = 20_000;
    let stack = Stack::get();
    let mut setup = SourceSetup::new("snap", flavor);
    setup.extra_snapshot = format!("locking = \"{locking}\"");
    let mut conn = setup.conn().await;
    create_events_database(&mut conn, &setup).await;
    for chunk in (1..=ROWS).collect::<Vec<_>>().chunks(1000) {
        let values: Vec<String> = chunk.iter().map(|id| format!("({id}, 0, 'seed')")).collect();
        conn.query_drop(format!("INSERT INTO `{}`.events VALUES {}", setup.database, values.join(","))).await.unwrap();
    }

    let database = setup.database.clone();
    let server = setup.server.clone();
    let writer = tokio::spawn(async move {
        let mut conn = server.conn().await;
        conn.query_drop(format!("USE `{database}`")).await.unwrap();
        for k in 0..600 {
            let id = (k * 7919) % ROWS + 1;
            conn.query_drop(format!("UPDATE events SET n = n + 1 WHERE id = {id}")).await.unwrap();
            conn.query_drop(format!("INSERT INTO events VALUES ({}, {k}, 'new')", ROWS + 1 + k)).await.unwrap();
            if k % 5 == 0 {
                conn.query_drop(format!("DELETE FROM events WHERE id = {}", (k * 31) % ROWS + 1)).await.unwrap();
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    });
    tokio::time::sleep(Duration::from_millis(300)).await; // the writer is under way
    let log = setup.database.clone();
    let source = start_source(&setup.config_file(stack), &log);
    writer.await.unwrap();
    let final_state = table_state(&mut conn, &setup.database, "events").await;

    // Wait until replaying the topic gives the table (or time out).
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    let records = loop {
        let records = read_topic(stack, &setup.topic("events"), usize::MAX, Duration::from_secs(3)).await;
        if replay(&records) == final_state || std::time::Instant::now() > deadline {
            break records;
        }
    };
    stop_source(source);
    let reads = records.iter().filter(|r| r.field("op") == Some(apache_avro::types::Value::String("r".into()))).count();
    assert!(reads > 0 && reads <= ROWS as usize + 600, "{reads} snapshot reads");
    let replayed = replay(&records);
    let differing: Vec<_> = final_state.iter().filter(|(k, v)| replayed.get(k) != Some(v)).take(10).collect();
    let extra: Vec<_> = replayed.keys().filter(|k| !final_state.contains_key(k)).take(10).collect();
    assert!(
        differing.is_empty() && extra.is_empty(),
        "{} records; table rows differing/missing in the replay (first 10): {differing:?}; extra: {extra:?}\nlog:\n{}",
        records.len(),
        log_of(&log)
    );
    let positions: std::collections::HashSet<&str> = records.iter().filter(|r| r.field("op") != Some(apache_avro::types::Value::String("r".into()))).map(Published::position).collect();
    let streamed = records.iter().filter(|r| r.field("op") != Some(apache_avro::types::Value::String("r".into()))).count();
    assert_eq!(positions.len(), streamed, "a streamed change was published twice");
}
