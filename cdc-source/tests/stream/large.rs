//! Transactions larger than one binlog position can order (8,192 rows): a
//! 20,000-row transaction (on MySQL written with binlog_transaction_compression,
//! so all its rows share the payload's position) and a 10,000-row XA
//! transaction (its rows placed at the commit) — every row published once,
//! with distinct positions and versions that grow in partition order.

use crate::common::*;
use integration_tests::{Flavor, Stack};
use mysql_async::prelude::Queryable;
use std::time::Duration;

integration_tests::on_both_flavors!(transactions_beyond_8192_rows_keep_distinct_versions);

async fn transactions_beyond_8192_rows_keep_distinct_versions(flavor: Flavor) {
    let stack = Stack::get();
    let setup = SourceSetup::new("large", flavor);
    let mut conn = setup.conn().await;
    create_events_database(&mut conn, &setup).await;
    let db = setup.database.clone();
    let log = setup.database.clone();
    let source = start_source(&setup.config_file(stack), &log);
    wait_for_offsets(&setup, Duration::from_secs(60)).await;
    let rows = |from: i32, to: i32| {
        format!(
            "INSERT INTO `{db}`.events WITH RECURSIVE s(i) AS (SELECT {from} UNION ALL SELECT i + 1 FROM s WHERE i < {to}) \
             SELECT i, i % 7, 'bulk' FROM s"
        )
    };
    conn.query_drop("SET SESSION cte_max_recursion_depth = 100000").await.ok(); // MySQL
    conn.query_drop("SET SESSION max_recursive_iterations = 100000").await.ok(); // MariaDB
    if flavor == Flavor::MySql {
        conn.query_drop("SET SESSION binlog_transaction_compression = ON").await.unwrap();
    }
    conn.query_drop(rows(1, 20_000)).await.unwrap();
    conn.query_drop("SET SESSION binlog_transaction_compression = OFF").await.ok();
    for sql in ["XA START 'big'".to_string(), rows(20_001, 30_000), "XA END 'big'".into(), "XA PREPARE 'big'".into(), "XA COMMIT 'big'".into()] {
        conn.query_drop(sql).await.unwrap();
    }
    conn.query_drop(format!("UPDATE `{db}`.events SET n = n + 1 WHERE id IN (1, 20000, 20001, 30000)")).await.unwrap();

    let expected = 30_004;
    let records = read_topic(stack, &setup.topic("events"), expected, Duration::from_secs(120)).await;
    let late = read_topic(stack, &setup.topic("events"), expected + 1, Duration::from_secs(3)).await;
    stop_source(source);
    assert_eq!(late.len(), expected, "log:\n{}", log_of(&log));
    let positions: std::collections::HashSet<&str> = records.iter().map(Published::position).collect();
    assert_eq!(positions.len(), records.len(), "a position was published twice");
    let mut last: std::collections::HashMap<i32, i64> = std::collections::HashMap::new();
    for record in &records {
        let version: i64 = record.headers["cdc.version"].parse().unwrap();
        let previous = last.insert(record.partition, version);
        assert!(previous.is_none_or(|p| p < version), "versions grow in partition order: {previous:?} then {version}");
    }
    assert_eq!(replay(&records), table_state(&mut conn, &db, "events").await);
}
