//! DDL mid-stream: columns added to a captured table (nullable, then NOT NULL
//! with a default) show up in the very next row events, each shape is a new,
//! compatible schema version in the registry, and every statement is published
//! on the schema-change topic with the table's new description. The offsets
//! live in Kafka here, and the source is restarted between the statements.

use crate::common::*;
use apache_avro::types::Value;
use integration_tests::{Flavor, Stack};
use mysql_async::prelude::Queryable;
use std::time::Duration;

integration_tests::on_both_flavors!(added_columns_flow_into_events_and_the_schema_change_topic);

async fn added_columns_flow_into_events_and_the_schema_change_topic(flavor: Flavor) {
    let stack = Stack::get();
    let mut setup = SourceSetup::new("ddl", flavor);
    setup.offsets_store = "kafka";
    let mut conn = setup.conn().await;
    create_database(&mut conn, &setup).await;
    conn.query_drop(format!("USE `{}`", setup.database)).await.unwrap();
    conn.query_drop("CREATE TABLE items (id INT PRIMARY KEY, name VARCHAR(20))").await.unwrap();
    let log = setup.database.clone();
    let config = setup.config_file(stack);
    let source = start_source(&config, &log);
    wait_for_log_count(&log, "streaming the binlog", 1, Duration::from_secs(60)).await;

    conn.query_drop("INSERT INTO items VALUES (1, 'one')").await.unwrap();
    read_topic(stack, &setup.topic("items"), 1, Duration::from_secs(30)).await;
    stop_source(source);
    let source = start_source(&config, &log);
    wait_for_log_count(&log, "streaming the binlog", 2, Duration::from_secs(60)).await;
    assert!(log_of(&log).contains("offsets loaded store=topic"), "{}", log_of(&log));
    conn.query_drop("ALTER TABLE items ADD COLUMN color VARCHAR(10) NULL").await.unwrap();
    conn.query_drop("INSERT INTO items VALUES (2, 'two', 'red')").await.unwrap();
    conn.query_drop("ALTER TABLE items ADD COLUMN qty INT NOT NULL DEFAULT 5").await.unwrap();
    conn.query_drop("INSERT INTO items (id, name) VALUES (3, 'three')").await.unwrap();

    let rows = read_topic(stack, &setup.topic("items"), 3, Duration::from_secs(60)).await;
    let changes = read_topic(stack, &setup.prefix, 2, Duration::from_secs(30)).await;
    let again = read_topic(stack, &setup.topic("items"), 4, Duration::from_secs(3)).await;
    stop_source(source);
    assert_eq!(again.len(), 3, "nothing sent twice across the restart");
    assert_eq!(rows.len(), 3, "log:\n{}", log_of(&log));
    let names = |r: &Published| match r.field("after") {
        Some(Value::Record(fields)) => fields.into_iter().map(|(n, _)| n).collect::<Vec<_>>(),
        other => panic!("{other:?}"),
    };
    assert_eq!(names(&rows[0]), ["id", "name"]);
    assert_eq!(names(&rows[1]), ["id", "name", "color"]);
    assert_eq!(names(&rows[2]), ["id", "name", "color", "qty"]);
    assert_eq!(rows[2].field("after.qty"), Some(Value::Int(5)));
    assert_eq!(rows[1].field("after.color"), Some(Value::String("red".into())));
    let versions: std::collections::HashSet<_> = rows.iter().map(|r| r.value_schema).collect();
    assert_eq!(versions.len(), 3, "one schema version per table shape");

    let ddl: Vec<Option<Value>> = changes.iter().map(|c| c.field("ddl")).collect();
    assert_eq!(
        ddl,
        vec![
            Some(Value::String("ALTER TABLE items ADD COLUMN color VARCHAR(10) NULL".into())),
            Some(Value::String("ALTER TABLE items ADD COLUMN qty INT NOT NULL DEFAULT 5".into()))
        ]
    );
    assert_eq!(changes[0].key, Some(Value::Record(vec![("databaseName".into(), Value::String(setup.database.clone()))])));
    let Some(Value::Array(table_changes)) = changes[1].field("tableChanges") else { panic!("{:?}", changes[1]) };
    let Value::Record(change) = &table_changes[0] else { panic!() };
    assert_eq!(change[0], ("type".into(), Value::String("ALTER".into())));
    let columns = format!("{:?}", change[2].1);
    for column in ["\"id\"", "\"name\"", "\"color\"", "\"qty\""] {
        assert!(columns.contains(column), "{column} in {columns}");
    }
}
