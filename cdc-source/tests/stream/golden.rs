//! The Kafka Connect JSON form of an insert, an update and a delete, compared
//! field by field with the MySQL change-event layout Debezium documents
//! (https://debezium.io/documentation/reference/stable/connectors/mysql.html,
//! "Data change events"): envelope and key schemas by name, the payload's
//! fields in Debezium's order, the `source` block, tombstone after delete.
//! Values that differ per run (times, positions, ids) are masked.

use crate::common::*;
use integration_tests::{Flavor, Stack};
use mysql_async::prelude::Queryable;
use serde_json::{Value as Json, json};
use std::time::Duration;

integration_tests::on_both_flavors!(json_events_match_debeziums_documented_layout);

fn masked(mut payload: Json) -> Json {
    payload["ts_ms"] = json!("<ts>");
    if let Some(source) = payload.get_mut("source") {
        for field in ["version", "ts_ms", "server_id", "gtid", "file", "pos"] {
            source[field] = json!(format!("<{field}>"));
        }
    }
    payload
}

/// Kafka Connect's JsonConverter rules for a schema: a type; a struct lists
/// its fields (each named by "field"); an array has items; a map keys and values.
fn assert_connect_schema(schema: &Json, path: &str) {
    let kind = schema["type"].as_str().unwrap_or_else(|| panic!("{path}: no type in {schema}"));
    assert!(schema.get("optional").is_none_or(Json::is_boolean), "{path}: optional must be boolean");
    match kind {
        "struct" => {
            let fields = schema["fields"].as_array().unwrap_or_else(|| panic!("{path}: struct without fields: {schema}"));
            for field in fields {
                let name = field["field"].as_str().unwrap_or_else(|| panic!("{path}: field without a name"));
                assert_connect_schema(field, &format!("{path}.{name}"));
            }
        }
        "array" => assert_connect_schema(&schema["items"], &format!("{path}[]")),
        "map" => {
            assert_connect_schema(&schema["keys"], &format!("{path}.keys"));
            assert_connect_schema(&schema["values"], &format!("{path}.values"));
        }
        "int8" | "int16" | "int32" | "int64" | "float" | "double" | "boolean" | "string" | "bytes" => {}
        other => panic!("{path}: {other} is not a Connect type"),
    }
}

fn keys(value: &Json) -> Vec<&str> {
    value.as_object().unwrap().keys().map(String::as_str).collect()
}

async fn json_events_match_debeziums_documented_layout(flavor: Flavor) {
    let stack = Stack::get();
    let mut setup = SourceSetup::new("golden", flavor);
    setup.extra_capture = "format = \"json\"".into();
    let mut conn = setup.conn().await;
    create_database(&mut conn, &setup).await;
    conn.query_drop(format!("USE `{}`", setup.database)).await.unwrap();
    conn.query_drop("CREATE TABLE customers (id INT PRIMARY KEY, first_name VARCHAR(255) NOT NULL, email VARCHAR(255))")
        .await
        .unwrap();
    let log = setup.database.clone();
    let source = start_source(&setup.config_file(stack), &log);
    wait_for_offsets(&setup, Duration::from_secs(60)).await;
    conn.query_drop("INSERT INTO customers VALUES (1004, 'Anne', 'annek@noanswer.org')").await.unwrap();
    conn.query_drop("UPDATE customers SET first_name = 'Anne Marie' WHERE id = 1004").await.unwrap();
    conn.query_drop("DELETE FROM customers WHERE id = 1004").await.unwrap();
    let records = read_raw(stack, &setup.topic("customers"), 4, Duration::from_secs(60)).await;
    stop_source(source);
    assert_eq!(records.len(), 4, "log:\n{}", log_of(&log));

    let json = |bytes: &Option<Vec<u8>>| -> Json { serde_json::from_slice(bytes.as_ref().expect("present")).unwrap() };
    let namespace = format!("{}.{}.customers", setup.prefix, setup.database);
    let row = |name: &str| json!({"id": 1004, "first_name": name, "email": "annek@noanswer.org"});
    let source = json!({
        "version": "<version>", "connector": "mysql", "name": setup.prefix, "ts_ms": "<ts_ms>", "snapshot": "false",
        "db": setup.database, "sequence": null, "table": "customers", "server_id": "<server_id>", "gtid": "<gtid>",
        "file": "<file>", "pos": "<pos>", "row": 0, "thread": null, "query": null
    });
    let expected = [
        json!({"before": null, "after": row("Anne"), "source": source, "op": "c", "ts_ms": "<ts>", "transaction": null}),
        json!({"before": row("Anne"), "after": row("Anne Marie"), "source": source, "op": "u", "ts_ms": "<ts>", "transaction": null}),
        json!({"before": row("Anne Marie"), "after": null, "source": source, "op": "d", "ts_ms": "<ts>", "transaction": null}),
    ];
    for (record, expected) in records.iter().zip(&expected) {
        let value = json(&record.3);
        let payload = masked(value["payload"].clone());
        assert_eq!(payload, *expected);
        // Field order as Debezium writes it.
        assert_eq!(keys(&payload), ["before", "after", "source", "op", "ts_ms", "transaction"]);
        assert_eq!(
            keys(&payload["source"]),
            ["version", "connector", "name", "ts_ms", "snapshot", "db", "sequence", "table", "server_id", "gtid", "file", "pos", "row", "thread", "query"]
        );
        let schema = &value["schema"];
        assert_eq!(schema["type"], "struct");
        assert_eq!(schema["name"], format!("{namespace}.Envelope"));
        let fields: Vec<&str> = schema["fields"].as_array().unwrap().iter().map(|f| f["field"].as_str().unwrap()).collect();
        assert_eq!(fields, ["before", "after", "source", "op", "ts_ms", "transaction"]);
        assert_eq!(schema["fields"][0]["name"], format!("{namespace}.Value"));
        assert_eq!(schema["fields"][0]["optional"], true);
        assert_eq!(schema["fields"][2]["name"], "io.debezium.connector.mysql.Source");
        assert_eq!(
            schema["fields"][0]["fields"],
            json!([
                {"type": "int32", "optional": false, "field": "id"},
                {"type": "string", "optional": false, "field": "first_name"},
                {"type": "string", "optional": true, "field": "email"}
            ])
        );
        // `after` refers to `before`'s record in Avro; in Connect JSON it lists its fields too.
        assert_eq!(schema["fields"][1]["fields"], schema["fields"][0]["fields"]);
        assert_connect_schema(schema, "value");
        // Our own Connect JSON reader (the sink's) takes the record back.
        shared::connect_json::ConnectJsonReader::default().read(record.3.as_ref().unwrap()).unwrap();
        let key = json(&record.2);
        assert_connect_schema(&key["schema"], "key");
        assert_eq!(key["payload"], json!({"id": 1004}));
        assert_eq!(key["schema"]["name"], format!("{namespace}.Key"));
    }
    // The tombstone: same key, null value.
    assert_eq!(json(&records[3].2)["payload"], json!({"id": 1004}));
    assert!(records[3].3.is_none());
}
