//! An update that changes the primary key is published as Debezium publishes
//! it: a delete of the old key carrying `__debezium.newkey`, the old key's
//! tombstone, then a create of the new key carrying `__debezium.oldkey`.

use crate::common::*;
use apache_avro::types::Value;
use integration_tests::{Flavor, Stack};
use mysql_async::prelude::Queryable;
use std::time::Duration;

integration_tests::on_both_flavors!(a_key_change_is_a_delete_and_a_create);

async fn a_key_change_is_a_delete_and_a_create(flavor: Flavor) {
    let stack = Stack::get();
    let setup = SourceSetup::new("keys", flavor);
    let mut conn = setup.conn().await;
    create_events_database(&mut conn, &setup).await;
    conn.query_drop(format!("INSERT INTO `{}`.events VALUES (1, 0, 'a'), (2, 0, 'b')", setup.database)).await.unwrap();
    let log = setup.database.clone();
    let source = start_source(&setup.config_file(stack), &log);
    wait_for_offsets(&setup, Duration::from_secs(60)).await;
    conn.query_drop(format!("UPDATE `{}`.events SET id = 101, n = 5 WHERE id = 1", setup.database)).await.unwrap();
    conn.query_drop(format!("UPDATE `{}`.events SET n = 6 WHERE id = 2", setup.database)).await.unwrap();

    let records = read_topic(stack, &setup.topic("events"), 6, Duration::from_secs(60)).await;
    let late = read_topic(stack, &setup.topic("events"), 7, Duration::from_secs(3)).await;
    stop_source(source);
    assert_eq!(late.len(), 6, "log:\n{}", log_of(&log));
    let key = |r: &Published| match &r.key {
        Some(Value::Record(fields)) => fields[0].1.clone(),
        other => panic!("key {other:?}"),
    };
    let of_key = |id: i32| records.iter().filter(|r| key(r) == Value::Int(id)).collect::<Vec<_>>();
    let op = |r: &Published| r.field("op");
    let s = |t: &str| Some(Value::String(t.into()));

    let old = of_key(1);
    assert_eq!(old.iter().map(|r| op(r)).collect::<Vec<_>>(), vec![s("r"), s("d"), None], "snapshot read, delete, tombstone");
    assert_eq!(old[1].headers.get("__debezium.newkey").map(String::as_str), Some("{\"id\":101}"));
    assert_eq!(old[1].field("before.n"), Some(Value::Int(0)));
    let new = of_key(101);
    assert_eq!(new.iter().map(|r| op(r)).collect::<Vec<_>>(), vec![s("c")]);
    assert_eq!(new[0].headers.get("__debezium.oldkey").map(String::as_str), Some("{\"id\":1}"));
    assert_eq!(new[0].field("before"), Some(Value::Null));
    assert_eq!(new[0].field("after.n"), Some(Value::Int(5)));
    // An update that keeps its key stays one update.
    let same = of_key(2);
    assert_eq!(same.iter().map(|r| op(r)).collect::<Vec<_>>(), vec![s("r"), s("u")]);
    assert!(!same[1].headers.contains_key("__debezium.newkey"));
    // The three records of the key change share the row's version; streamed positions stay unique.
    assert_eq!(old[1].headers["cdc.version"], new[0].headers["cdc.version"]);
    let streamed: Vec<&Published> = records.iter().filter(|r| op(r) != s("r")).collect();
    let positions: std::collections::HashSet<&str> = streamed.iter().map(|r| r.position()).collect();
    assert_eq!(positions.len(), streamed.len());
}
