//! A row image without every column (a session writing with
//! `binlog_row_image=MINIMAL`) is never published with NULLs in place of the
//! missing values: the source stops, naming the table and the fix. Checked
//! per event: the server's global setting is FULL.

use crate::common::*;
use integration_tests::{Flavor, Stack};
use mysql_async::prelude::Queryable;
use std::time::Duration;

integration_tests::on_both_flavors!(a_minimal_row_image_stops_the_source_with_the_fix);

async fn a_minimal_row_image_stops_the_source_with_the_fix(flavor: Flavor) {
    let stack = Stack::get();
    let setup = SourceSetup::new("minimal", flavor);
    let mut conn = setup.conn().await;
    create_events_database(&mut conn, &setup).await;
    conn.query_drop(format!("INSERT INTO `{}`.events VALUES (1, 0, 'a')", setup.database)).await.unwrap();
    let log = setup.database.clone();
    let mut source = start_source(&setup.config_file(stack), &log);
    wait_for_offsets(&setup, Duration::from_secs(60)).await;
    conn.query_drop("SET SESSION binlog_row_image = 'MINIMAL'").await.unwrap();
    conn.query_drop(format!("UPDATE `{}`.events SET n = 1 WHERE id = 1", setup.database)).await.unwrap();

    let status = wait_for_exit(&mut source, &log).await;
    let text = log_of(&log);
    assert!(!status.success());
    assert!(text.contains("partial row image") && text.contains("binlog_row_image=FULL") && text.contains("events"), "{text}");
    let records = read_topic(stack, &setup.topic("events"), 2, Duration::from_secs(3)).await;
    assert_eq!(records.len(), 1, "only the snapshot row; the partial update was not published");
}
