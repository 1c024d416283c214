//! MariaDB writes a ROW-format binlog with full metadata that `mysql_async`
//! can stream: an insert comes back as a table map + write-rows event with the
//! inserted values and the column names.

use futures_util::StreamExt;
use integration_tests::{Stack, unique_name};
use mysql_async::binlog::events::EventData;
use mysql_async::prelude::*;
use mysql_async::BinlogStreamRequest;
use mysql_common::binlog::value::BinlogValue;
use mysql_common::value::Value;
use std::time::Duration;

#[tokio::test]
async fn insert_is_read_back_from_the_binlog() {
    let stack = Stack::get();
    let mut conn = stack.mariadb.conn().await;

    let settings: Vec<(String, String)> = conn
        .query("SHOW GLOBAL VARIABLES WHERE Variable_name IN ('binlog_format','binlog_row_image','binlog_row_metadata','log_bin')")
        .await
        .unwrap();
    for (name, expected) in [("binlog_format", "ROW"), ("binlog_row_image", "FULL"), ("binlog_row_metadata", "FULL"), ("log_bin", "ON")] {
        assert!(settings.contains(&(name.into(), expected.into())), "{name} should be {expected}: {settings:?}");
    }

    let db = unique_name("smoke");
    conn.query_drop(format!("CREATE DATABASE `{db}`")).await.unwrap();
    conn.query_drop(format!(
        "CREATE TABLE `{db}`.items (id INT PRIMARY KEY, name VARCHAR(50), qty MEDIUMINT)"
    ))
    .await
    .unwrap();
    let (file, pos): (String, u64) = conn
        .query_first("SHOW MASTER STATUS")
        .await
        .unwrap()
        .map(|row: mysql_async::Row| (row.get(0).unwrap(), row.get(1).unwrap()))
        .expect("binary log is enabled");
    conn.query_drop(format!("INSERT INTO `{db}`.items VALUES (7, 'widget', 42)")).await.unwrap();

    let mut reader = stack.mariadb.conn().await;
    // MariaDB: announce GTID awareness, else GTIDs vanish and dummy events appear.
    reader.query_drop("SET @mariadb_slave_capability=4").await.unwrap();
    let server_id = 10_000 + std::process::id() % 50_000;
    let mut stream = reader
        .get_binlog_stream(BinlogStreamRequest::new(server_id).with_filename(file.as_bytes()).with_pos(pos))
        .await
        .unwrap();

    let found = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(event) = stream.next().await {
            let event = event.unwrap();
            let Ok(Some(EventData::RowsEvent(rows))) = event.read_data() else { continue };
            let tme = stream.get_tme(rows.table_id()).expect("table map precedes rows").clone();
            if tme.database_name() != db || tme.table_name() != "items" {
                continue;
            }
            let mut values = Vec::new();
            for row in rows.rows(&tme) {
                let (before, after) = row.unwrap();
                assert!(before.is_none(), "an insert has no before image");
                values.push(after.expect("an insert has an after image"));
            }
            return (tme, values);
        }
        panic!("binlog stream ended");
    })
    .await
    .expect("the insert should reach the binlog within 30 s");

    let (tme, rows) = found;
    assert_eq!(rows.len(), 1);
    let row = &rows[0];
    let value = |i: usize| match row.as_ref(i) {
        Some(BinlogValue::Value(v)) => v.clone(),
        other => panic!("column {i}: unexpected {other:?}"),
    };
    assert_eq!(value(0), Value::Int(7));
    assert_eq!(value(1), Value::Bytes(b"widget".to_vec()));
    assert_eq!(value(2), Value::Int(42));
    // binlog_row_metadata=FULL puts column names in the table map.
    let names: Vec<String> = tme
        .iter_optional_meta()
        .filter_map(|m| match m.unwrap() {
            mysql_common::binlog::events::OptionalMetadataField::ColumnName(names) => {
                Some(names.iter_names().map(|n| n.unwrap().name().into_owned()).collect::<Vec<_>>())
            }
            _ => None,
        })
        .next()
        .expect("column names in the table map (binlog_row_metadata=FULL)");
    assert_eq!(names, ["id", "name", "qty"]);

    conn.query_drop(format!("DROP DATABASE `{db}`")).await.unwrap();
    drop(stream);
    conn.disconnect().await.unwrap();
}
