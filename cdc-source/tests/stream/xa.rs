//! XA transactions as applications write them: the rows of a prepared
//! transaction are published when it commits — after everything committed
//! while it was prepared — and never when it rolls back after PREPARE; a
//! one-phase commit publishes at once; a source restarted while a transaction
//! is prepared still publishes it, once, when it commits.

use crate::common::*;
use apache_avro::types::Value;
use integration_tests::{Flavor, Stack};
use mysql_async::prelude::Queryable;
use std::time::Duration;

integration_tests::on_both_flavors!(xa_rows_are_published_when_they_commit);

async fn xa_rows_are_published_when_they_commit(flavor: Flavor) {
    let stack = Stack::get();
    let setup = SourceSetup::new("xa", flavor);
    let mut conn = setup.conn().await;
    let mut xa = setup.conn().await;
    create_events_database(&mut conn, &setup).await;
    let db = setup.database.clone();
    let insert = |id: i32| format!("INSERT INTO `{db}`.events VALUES ({id}, 0, 'x')");
    let config = setup.config_file(stack);
    let log = setup.database.clone();
    let mut source = start_source(&config, &log);
    wait_for_offsets(&setup, Duration::from_secs(60)).await;

    // Prepared, then a plain transaction commits, then the XA commits.
    for sql in ["XA START 'a'".to_string(), insert(1), "XA END 'a'".into(), "XA PREPARE 'a'".into()] {
        xa.query_drop(sql).await.unwrap();
    }
    conn.query_drop(insert(2)).await.unwrap();
    xa.query_drop("XA COMMIT 'a'").await.unwrap();
    // Prepared, then rolled back.
    for sql in ["XA START 'b'".to_string(), insert(3), "XA END 'b'".into(), "XA PREPARE 'b'".into(), "XA ROLLBACK 'b'".into()] {
        xa.query_drop(sql).await.unwrap();
    }
    // One phase.
    for sql in ["XA START 'c'".to_string(), insert(4), "XA END 'c'".into(), "XA COMMIT 'c' ONE PHASE".into()] {
        xa.query_drop(sql).await.unwrap();
    }
    // Prepared while the source restarts; committed after.
    for sql in ["XA START 'd'".to_string(), insert(5), "XA END 'd'".into(), "XA PREPARE 'd'".into()] {
        xa.query_drop(sql).await.unwrap();
    }
    conn.query_drop(insert(6)).await.unwrap();
    read_topic(stack, &setup.topic("events"), 4, Duration::from_secs(60)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    kill_source(source, &log);
    source = start_source(&config, &log);
    wait_for_log_count(&log, "streaming the binlog", 2, Duration::from_secs(60)).await;
    xa.query_drop("XA COMMIT 'd'").await.unwrap();
    conn.query_drop(insert(7)).await.unwrap();

    let records = read_topic(stack, &setup.topic("events"), 6, Duration::from_secs(60)).await;
    let late = read_topic(stack, &setup.topic("events"), 7, Duration::from_secs(3)).await;
    stop_source(source);
    let ids: Vec<Option<Value>> = records.iter().map(|r| r.field("after.id")).collect();
    let id = |i: i32| Some(Value::Int(i));
    assert_eq!(ids, vec![id(2), id(1), id(4), id(6), id(5), id(7)], "commit order, no rolled-back row\nlog:\n{}", log_of(&log));
    assert_eq!(late.len(), 6, "nothing twice after the restart");
    let versions: Vec<i64> = records.iter().map(|r| r.headers["cdc.version"].parse().unwrap()).collect();
    assert!(versions.windows(2).all(|w| w[0] < w[1]), "versions follow commit order: {versions:?}");
    let state = table_state(&mut conn, &db, "events").await;
    assert_eq!(state.keys().copied().collect::<Vec<_>>(), vec![1, 2, 4, 5, 6, 7]);
}
