//! Every column type round-trips: a row written before the source starts
//! (read by the snapshot, `op = r`) and the same row inserted afterwards (read
//! from the binlog, `op = c`) both decode to the values Debezium's mapping
//! prescribes, including the `mysql_common` corrections (MEDIUMINT sign, YEAR
//! 0000, BINARY padding). Then NULLs, an update and a delete with its tombstone.

use crate::common::*;
use apache_avro::Decimal;
use apache_avro::types::Value;
use cdc_source::values::days_from_civil;
use integration_tests::{Flavor, Stack};
use mysql_async::prelude::Queryable;
use std::time::Duration;

integration_tests::on_both_flavors!(every_column_type_round_trips_through_snapshot_and_binlog);

const TABLE: &str = "CREATE TABLE all_types (
  id INT PRIMARY KEY,
  t_tiny TINYINT, t_tiny_u TINYINT UNSIGNED, t_small SMALLINT, t_small_u SMALLINT UNSIGNED,
  t_medium MEDIUMINT, t_medium_u MEDIUMINT UNSIGNED, t_int INT, t_int_u INT UNSIGNED,
  t_big BIGINT, t_big_u BIGINT UNSIGNED,
  t_dec DECIMAL(12,3), t_float FLOAT, t_double DOUBLE,
  t_char CHAR(5), t_varchar VARCHAR(50), t_text TEXT, t_latin VARCHAR(20) CHARACTER SET latin1,
  t_binary BINARY(4), t_varbinary VARBINARY(10), t_blob BLOB,
  t_date DATE, t_time TIME(3), t_dt0 DATETIME, t_dt6 DATETIME(6), t_ts TIMESTAMP(3) NULL DEFAULT NULL, t_year YEAR,
  t_json JSON, t_enum ENUM('small','medium','large'), t_set SET('a','b','c'), t_bit1 BIT(1), t_bit10 BIT(10),
  t_notnull VARCHAR(10) NOT NULL DEFAULT 'x'
)";

const COLUMNS: &str = "id, t_tiny, t_tiny_u, t_small, t_small_u, t_medium, t_medium_u, t_int, t_int_u, t_big, t_big_u, \
  t_dec, t_float, t_double, t_char, t_varchar, t_text, t_latin, t_binary, t_varbinary, t_blob, \
  t_date, t_time, t_dt0, t_dt6, t_ts, t_year, t_json, t_enum, t_set, t_bit1, t_bit10, t_notnull";

fn edge_values(id: i32) -> String {
    format!(
        "({id}, -128, 255, -32768, 65535, -1, 16777215, -2147483648, 4294967295, -9223372036854775808, 18446744073709551615, \
         -12345.678, 1.5, -2.25, 'ab', 'héllo 😀', 'long text', 'café €', x'0102', x'00ff00', x'deadbeef', \
         '2024-02-29', '-838:59:59.000', '2024-01-02 03:04:05', '2024-01-02 03:04:05.123456', '2024-01-02 03:04:05.678', 0, \
         '{{\"b\": 1, \"a\": [1,2]}}', 'medium', 'a,c', b'1', b'1000000001', 'nn')"
    )
}

fn some(v: Value) -> Value {
    Value::Union(1, Box::new(v))
}

fn expected_edge_row(flavor: Flavor) -> Vec<(&'static str, Value)> {
    let epoch_s = days_from_civil(2024, 1, 2) * 86_400 + 3 * 3600 + 4 * 60 + 5;
    let unscaled = |v: i64| {
        let bytes = v.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0xff).count().min(7);
        Decimal::from(bytes[skip.saturating_sub(if bytes[skip] & 0x80 == 0 { 1 } else { 0 })..].to_vec())
    };
    vec![
        ("t_tiny", some(Value::Int(-128))),
        ("t_tiny_u", some(Value::Int(255))),
        ("t_small", some(Value::Int(-32768))),
        ("t_small_u", some(Value::Int(65535))),
        ("t_medium", some(Value::Int(-1))),
        ("t_medium_u", some(Value::Int(16_777_215))),
        ("t_int", some(Value::Int(i32::MIN))),
        ("t_int_u", some(Value::Long(4_294_967_295))),
        ("t_big", some(Value::Long(i64::MIN))),
        ("t_big_u", some(Value::Long(-1))),
        ("t_dec", some(Value::Decimal(unscaled(-12_345_678)))),
        ("t_float", some(Value::Float(1.5))),
        ("t_double", some(Value::Double(-2.25))),
        ("t_char", some(Value::String("ab".into()))),
        ("t_varchar", some(Value::String("héllo 😀".into()))),
        ("t_text", some(Value::String("long text".into()))),
        ("t_latin", some(Value::String("café €".into()))),
        ("t_binary", some(Value::Bytes(vec![1, 2, 0, 0]))),
        ("t_varbinary", some(Value::Bytes(vec![0, 255, 0]))),
        ("t_blob", some(Value::Bytes(vec![0xde, 0xad, 0xbe, 0xef]))),
        ("t_date", some(Value::Date(days_from_civil(2024, 2, 29) as i32))),
        ("t_time", some(Value::TimeMicros(-((838 * 3600 + 59 * 60 + 59) * 1_000_000)))),
        ("t_dt0", some(Value::TimestampMillis(epoch_s * 1000))),
        ("t_dt6", some(Value::TimestampMicros(epoch_s * 1_000_000 + 123_456))),
        ("t_ts", some(Value::String("2024-01-02T03:04:05.678Z".into()))),
        ("t_year", some(Value::Int(0))),
        // MySQL's binary JSON is rendered compactly (keys in MySQL's stored
        // order, as Debezium's JsonBinary does); MariaDB's JSON is LONGTEXT with
        // a check: the text as written.
        (
            "t_json",
            some(Value::String(match flavor {
                Flavor::MySql => "{\"a\":[1,2],\"b\":1}".into(),
                Flavor::MariaDb => "{\"b\": 1, \"a\": [1,2]}".into(),
            })),
        ),
        ("t_enum", some(Value::String("medium".into()))),
        ("t_set", some(Value::String("a,c".into()))),
        ("t_bit1", some(Value::Boolean(true))),
        // Debezium's Bits: little-endian bytes of 0b10_0000_0001.
        ("t_bit10", some(Value::Bytes(vec![0x01, 0x02]))),
        ("t_notnull", Value::String("nn".into())),
    ]
}

fn row_fields(record: &Published, image: &str) -> Vec<(String, Value)> {
    match record.field(image) {
        Some(Value::Record(fields)) => fields,
        other => panic!("{image} of {record:?} is {other:?}"),
    }
}

fn assert_edge_row(flavor: Flavor, record: &Published, id: i32) {
    let fields = row_fields(record, "after");
    assert_eq!(fields[0], ("id".to_string(), Value::Int(id)));
    for (name, expected) in expected_edge_row(flavor) {
        let actual = &fields.iter().find(|(n, _)| n == name).unwrap_or_else(|| panic!("no field {name}")).1;
        assert_eq!(actual, &expected, "column {name} (op {:?})", record.field("op"));
    }
}

async fn every_column_type_round_trips_through_snapshot_and_binlog(flavor: Flavor) {
    let stack = Stack::get();
    let setup = SourceSetup::new("types", flavor);
    let mut conn = setup.conn().await;
    conn.query_drop("SET time_zone = '+00:00'").await.unwrap();
    create_database(&mut conn, &setup).await;
    conn.query_drop(format!("USE `{}`", setup.database)).await.unwrap();
    conn.query_drop(TABLE).await.unwrap();
    conn.query_drop(format!("INSERT INTO all_types ({COLUMNS}) VALUES {}", edge_values(1))).await.unwrap();

    let log = setup.database.clone();
    let source = start_source(&setup.config_file(stack), &log);
    wait_for_offsets(&setup, Duration::from_secs(60)).await;
    conn.query_drop(format!("INSERT INTO all_types ({COLUMNS}) VALUES {}", edge_values(11))).await.unwrap();
    conn.query_drop("INSERT INTO all_types (id, t_notnull) VALUES (2, 'only')").await.unwrap();
    conn.query_drop("INSERT INTO all_types (id, t_varchar, t_year, t_binary) VALUES (3, 'before', 2155, x'01')").await.unwrap();
    conn.query_drop("UPDATE all_types SET t_varchar = 'after' WHERE id = 3").await.unwrap();
    conn.query_drop("DELETE FROM all_types WHERE id = 2").await.unwrap();

    let records = read_topic(stack, &setup.topic("all_types"), 7, Duration::from_secs(60)).await;
    stop_source(source);
    let ops: Vec<Option<Value>> = records.iter().map(|r| r.field("op")).collect();
    let s = |t: &str| Some(Value::String(t.into()));
    assert_eq!(ops, vec![s("r"), s("c"), s("c"), s("c"), s("u"), s("d"), None], "records: {records:#?}\nlog:\n{}", log_of(&log));

    // Snapshot and binlog agree with the mapping, value for value.
    assert_edge_row(flavor, &records[0], 1);
    assert_edge_row(flavor, &records[1], 11);
    assert_eq!(records[0].field("source.snapshot"), s("last"));
    assert_eq!(records[1].field("source.snapshot"), s("false"));
    assert_eq!(records[1].field("source.db"), s(&setup.database));
    assert_eq!(records[1].field("source.table"), s("all_types"));
    assert_eq!(records[1].field("source.connector"), s("mysql"));
    let gtid = records[1].field("source.gtid");
    match flavor {
        Flavor::MySql => assert!(matches!(&gtid, Some(Value::String(g)) if g.len() > 37 && g.split_once(':').is_some_and(|(_, n)| n.parse::<u64>().is_ok())), "MySQL GTID uuid:n, got {gtid:?}"),
        Flavor::MariaDb => assert!(matches!(&gtid, Some(Value::String(g)) if g.split('-').count() == 3), "MariaDB GTID d-s-n, got {gtid:?}"),
    }

    // NULLs stay NULL; the NOT NULL column is a plain string.
    let nulls = row_fields(&records[2], "after");
    for (name, value) in &nulls {
        match name.as_str() {
            "id" => assert_eq!(value, &Value::Int(2)),
            "t_notnull" => assert_eq!(value, &Value::String("only".into())),
            _ => assert_eq!(value, &Value::Union(0, Box::new(Value::Null)), "column {name}"),
        }
    }
    // YEAR at its top, BINARY re-padded.
    let third = row_fields(&records[3], "after");
    assert!(third.contains(&("t_year".into(), some(Value::Int(2155)))));
    assert!(third.contains(&("t_binary".into(), some(Value::Bytes(vec![1, 0, 0, 0])))));

    // Update: both images; delete: before only, then a tombstone with the key.
    assert!(row_fields(&records[4], "before").contains(&("t_varchar".into(), some(Value::String("before".into())))));
    assert!(row_fields(&records[4], "after").contains(&("t_varchar".into(), some(Value::String("after".into())))));
    assert_eq!(records[5].field("after"), Some(Value::Null));
    assert!(row_fields(&records[5], "before").contains(&("t_notnull".into(), Value::String("only".into()))));
    assert!(records[6].value.is_none(), "tombstone after the delete");
    assert_eq!(records[6].key, Some(Value::Record(vec![("id".into(), Value::Int(2))])));
    assert!(records[6].position().ends_with(":t"));

    // Positions are unique and versions grow in offset order.
    let versions: Vec<i64> = records.iter().map(|r| r.headers["cdc.version"].parse().unwrap()).collect();
    assert!(versions.windows(2).all(|w| w[0] <= w[1]), "{versions:?}");
    let positions: std::collections::HashSet<&str> = records.iter().map(Published::position).collect();
    assert_eq!(positions.len(), records.len());
}

integration_tests::on_both_flavors!(zero_dates_negative_times_json_and_transaction_control);

/// Edge values the established CDC tools' suites exercise, through snapshot
/// and binlog: zero and partial-zero dates (null when nullable, the epoch when
/// NOT NULL), negative TIME with 1, 2 and 4 fractional digits, and on MySQL
/// binary JSON with opaque DECIMAL/DATE/DATETIME/TIME values. The binlog rows
/// are written in one transaction with a savepoint rolled back (and, on MySQL,
/// with binlog_transaction_compression on): the rolled-back row never appears,
/// the savepoint statements are no schema change, and the stream goes on.
async fn zero_dates_negative_times_json_and_transaction_control(flavor: Flavor) {
    let stack = Stack::get();
    let setup = SourceSetup::new("edges", flavor);
    let mut conn = setup.conn().await;
    conn.query_drop("SET SESSION sql_mode = '', time_zone = '+00:00'").await.unwrap();
    create_database(&mut conn, &setup).await;
    conn.query_drop(format!("USE `{}`", setup.database)).await.unwrap();
    let json_column = if flavor == Flavor::MySql { ", j JSON" } else { "" };
    conn.query_drop(format!(
        "CREATE TABLE edges (id INT PRIMARY KEY, d_null DATE NULL, d_nn DATE NOT NULL, d_partial DATE NULL, \
         dt_null DATETIME NULL, dt_nn DATETIME(6) NOT NULL, ts_nn TIMESTAMP NOT NULL DEFAULT '0000-00-00 00:00:00', \
         t1 TIME(1), t2 TIME(2), t4 TIME(4){json_column})"
    ))
    .await
    .unwrap();
    let json_value = if flavor == Flavor::MySql {
        ", JSON_OBJECT('price', 9.99, 'day', CAST('2024-01-02' AS DATE), 'at', CAST('2024-01-02 03:04:05.5' AS DATETIME(1)), \
         'dur', CAST('-01:02:03.5' AS TIME(1)), 'big', 12345678901234567890)"
    } else {
        ""
    };
    let insert = |id: i32| {
        format!(
            "INSERT INTO edges VALUES ({id}, '0000-00-00', '0000-00-00', '2024-00-15', '0000-00-00 00:00:00', \
             '0000-00-00 00:00:00', '0000-00-00 00:00:00', '-00:00:01.5', '-01:02:03.45', '-00:00:00.0001'{json_value})"
        )
    };
    conn.query_drop(insert(1)).await.unwrap();

    let log = setup.database.clone();
    let source = start_source(&setup.config_file(stack), &log);
    wait_for_offsets(&setup, Duration::from_secs(60)).await;
    if flavor == Flavor::MySql {
        conn.query_drop("SET SESSION binlog_transaction_compression = ON").await.unwrap();
    }
    conn.query_drop("BEGIN").await.unwrap();
    conn.query_drop(insert(2)).await.unwrap();
    conn.query_drop("SAVEPOINT before_three").await.unwrap();
    conn.query_drop(insert(3)).await.unwrap();
    conn.query_drop("ROLLBACK TO SAVEPOINT before_three").await.unwrap();
    conn.query_drop("RELEASE SAVEPOINT before_three").await.unwrap();
    conn.query_drop("COMMIT").await.unwrap();
    conn.query_drop("SET SESSION binlog_transaction_compression = OFF").await.ok();
    conn.query_drop(insert(4)).await.unwrap();

    let records = read_topic(stack, &setup.topic("edges"), 3, Duration::from_secs(60)).await;
    let late = read_topic(stack, &setup.topic("edges"), 4, Duration::from_secs(3)).await;
    let schema_changes = read_topic(stack, &setup.prefix, 1, Duration::from_secs(3)).await;
    stop_source(source);
    let ids: Vec<Option<Value>> = records.iter().map(|r| r.field("after.id")).collect();
    assert_eq!(ids, vec![Some(Value::Int(1)), Some(Value::Int(2)), Some(Value::Int(4))], "log:\n{}", log_of(&log));
    assert_eq!(late.len(), 3, "the row rolled back to the savepoint is not published");
    assert!(schema_changes.is_empty(), "savepoint statements are no schema change: {schema_changes:#?}");

    let null = Value::Union(0, Box::new(Value::Null));
    let expected = [
        ("d_null", null.clone()),
        ("d_nn", Value::Date(0)),
        ("d_partial", null.clone()),
        ("dt_null", null.clone()),
        ("dt_nn", Value::TimestampMicros(0)),
        ("ts_nn", Value::String("1970-01-01T00:00:00Z".into())),
        ("t1", some(Value::TimeMicros(-1_500_000))),
        ("t2", some(Value::TimeMicros(-(3_723_450_000)))),
        ("t4", some(Value::TimeMicros(-100))),
    ];
    for record in &records {
        let fields = row_fields(record, "after");
        for (name, value) in &expected {
            let actual = &fields.iter().find(|(n, _)| n == name).unwrap().1;
            assert_eq!(actual, value, "column {name} of {:?} (op {:?})", record.field("after.id"), record.field("op"));
        }
    }
    if flavor == Flavor::MySql {
        // The same compact text from the snapshot's query and from the binlog's binary JSON:
        // the server's own rendering, whitespace removed.
        let text: String = conn.query_first("SELECT CAST(j AS CHAR) FROM edges WHERE id = 1").await.unwrap().unwrap();
        let compact = serde_json::from_str::<serde_json::Value>(&text).unwrap().to_string();
        assert!(compact.contains("\"price\":9.99") && compact.contains("\"day\":\"2024-01-02\""), "{compact}");
        for record in &records {
            assert_eq!(record.field("after.j"), Some(Value::String(compact.clone())), "op {:?}", record.field("op"));
        }
    }
}

integration_tests::on_both_flavors!(geometry_and_vector_columns);

/// Every geometry type as Debezium maps it — POINT to `io.debezium.data.geometry.Point`
/// {x, y, wkb, srid}, the others to `Geometry` {wkb, srid}, the WKB without
/// MySQL's SRID prefix and SRID 0 as null — plus MySQL 9's VECTOR as a float
/// array, through snapshot and binlog. A text column after the geometry
/// columns stays text (MariaDB's table maps give geometry columns a charset slot).
async fn geometry_and_vector_columns(flavor: Flavor) {
    let stack = Stack::get();
    let setup = SourceSetup::new("geo", flavor);
    let mut conn = setup.conn().await;
    create_database(&mut conn, &setup).await;
    conn.query_drop(format!("USE `{}`", setup.database)).await.unwrap();
    let vector = flavor == Flavor::MySql;
    let kinds = ["POINT", "LINESTRING", "POLYGON", "MULTIPOINT", "MULTILINESTRING", "MULTIPOLYGON", "GEOMETRYCOLLECTION", "GEOMETRY"];
    let columns: Vec<String> = kinds.iter().map(|k| format!("g_{} {k}", k.to_lowercase())).collect();
    conn.query_drop(format!(
        "CREATE TABLE geo (id INT PRIMARY KEY, {}, g_srid GEOMETRY, after_geo VARCHAR(20) CHARACTER SET latin1{})",
        columns.join(", "),
        if vector { ", v VECTOR(3)" } else { "" }
    ))
    .await
    .unwrap();
    let values = [
        "POINT(1 2)",
        "LINESTRING(0 0,1 1,2 1)",
        "POLYGON((0 0,4 0,4 4,0 4,0 0))",
        "MULTIPOINT(1 1,2 2)",
        "MULTILINESTRING((0 0,1 1),(2 2,3 3))",
        "MULTIPOLYGON(((0 0,1 0,1 1,0 0)),((2 2,3 2,3 3,2 2)))",
        "GEOMETRYCOLLECTION(POINT(1 1),LINESTRING(0 0,1 1))",
        "POINT(5 6)",
    ];
    let insert = |id: i32| {
        let geometries: Vec<String> = values.iter().map(|v| format!("ST_GeomFromText('{v}')")).collect();
        format!(
            "INSERT INTO geo VALUES ({id}, {}, ST_GeomFromText('POINT(7 8)', 3857), 'café'{})",
            geometries.join(", "),
            if vector { ", STRING_TO_VECTOR('[1.5,2,-3]')" } else { "" }
        )
    };
    conn.query_drop(insert(1)).await.unwrap();
    // What the server says the WKB is (no SRID prefix).
    let mut wkb = Vec::new();
    for kind in kinds.iter().map(|k| format!("g_{}", k.to_lowercase())).chain(["g_srid".to_string()]) {
        let bytes: Vec<u8> = conn.query_first(format!("SELECT ST_AsBinary({kind}) FROM geo WHERE id = 1")).await.unwrap().unwrap();
        wkb.push((kind, bytes));
    }

    let records = capture_around_start(stack, &setup, &mut conn, &[insert(2)], "geo", 2).await;
    let null = || Value::Union(0, Box::new(Value::Null));
    for record in &records {
        let fields = row_fields(record, "after");
        let field = |name: &str| fields.iter().find(|(n, _)| n == name).unwrap_or_else(|| panic!("no {name}")).1.clone();
        let op = record.field("op");
        for (name, bytes) in &wkb {
            let srid = if name == "g_srid" { some(Value::Int(3857)) } else { null() };
            let expected = if name == "g_point" {
                some(Value::Record(vec![
                    ("x".into(), Value::Double(1.0)),
                    ("y".into(), Value::Double(2.0)),
                    ("wkb".into(), some(Value::Bytes(bytes.clone()))),
                    ("srid".into(), srid),
                ]))
            } else {
                some(Value::Record(vec![("wkb".into(), Value::Bytes(bytes.clone())), ("srid".into(), srid)]))
            };
            assert_eq!(field(name), expected, "{name} (op {op:?})");
        }
        assert_eq!(field("after_geo"), some(Value::String("café".into())), "op {op:?}");
        if vector {
            assert_eq!(field("v"), some(Value::Array(vec![Value::Float(1.5), Value::Float(2.0), Value::Float(-3.0)])), "op {op:?}");
        }
    }
    assert_eq!(records[0].value_schema, records[1].value_schema, "snapshot and binlog give one schema version");
}

integration_tests::on_both_flavors!(generated_and_invisible_columns);

/// VIRTUAL and STORED generated columns and an INVISIBLE column are captured
/// with their values, the same through snapshot and binlog (one schema).
async fn generated_and_invisible_columns(flavor: Flavor) {
    let stack = Stack::get();
    let setup = SourceSetup::new("gen", flavor);
    let mut conn = setup.conn().await;
    create_database(&mut conn, &setup).await;
    conn.query_drop(format!("USE `{}`", setup.database)).await.unwrap();
    conn.query_drop(
        "CREATE TABLE gen (id INT PRIMARY KEY, a INT NOT NULL, v INT AS (a * 2) VIRTUAL, s INT AS (a + 1) STORED, \
         hidden VARCHAR(10) INVISIBLE DEFAULT 'h')",
    )
    .await
    .unwrap();
    conn.query_drop("INSERT INTO gen (id, a, hidden) VALUES (1, 10, 'x')").await.unwrap();
    let after = ["INSERT INTO gen (id, a, hidden) VALUES (2, 20, 'y')".to_string(), "UPDATE gen SET a = 30 WHERE id = 2".to_string()];
    let records = capture_around_start(stack, &setup, &mut conn, &after, "gen", 3).await;
    let expected = [(1, 10, "x"), (2, 20, "y"), (2, 30, "y")];
    for (record, (id, a, hidden)) in records.iter().zip(expected) {
        let fields = row_fields(record, "after");
        let field = |name: &str| fields.iter().find(|(n, _)| n == name).unwrap_or_else(|| panic!("no {name} in {fields:?}")).1.clone();
        assert_eq!(field("id"), Value::Int(id));
        assert_eq!(field("v"), some(Value::Int(a * 2)), "virtual column (op {:?})", record.field("op"));
        assert_eq!(field("s"), some(Value::Int(a + 1)), "stored column (op {:?})", record.field("op"));
        assert_eq!(field("hidden"), some(Value::String(hidden.into())), "invisible column (op {:?})", record.field("op"));
    }
    assert_eq!(records[0].value_schema, records[1].value_schema, "one schema version");
}

integration_tests::on_both_flavors!(text_in_other_charsets);

/// Text in the charsets applications use besides utf8mb4 and latin1 reads the
/// same through snapshot (the server converts) and binlog (decoded here from
/// the column's own bytes).
async fn text_in_other_charsets(flavor: Flavor) {
    let stack = Stack::get();
    let setup = SourceSetup::new("charsets", flavor);
    let mut conn = setup.conn().await;
    create_database(&mut conn, &setup).await;
    conn.query_drop(format!("USE `{}`", setup.database)).await.unwrap();
    let columns = [
        ("c_utf16", "utf16", "héllo 😀"),
        ("c_utf32", "utf32", "grüße 😀"),
        ("c_ucs2", "ucs2", "naïve"),
        ("c_gbk", "gbk", "你好，世界"),
        ("c_big5", "big5", "中文字"),
        ("c_sjis", "sjis", "こんにちは"),
        ("c_ujis", "ujis", "日本語"),
        ("c_euckr", "euckr", "안녕하세요"),
        ("c_cp1251", "cp1251", "Привет"),
        ("c_latin2", "latin2", "Łódź"),
        ("c_greek", "greek", "Καλημέρα"),
    ];
    let definitions: Vec<String> = columns.iter().map(|(name, charset, _)| format!("{name} VARCHAR(40) CHARACTER SET {charset}")).collect();
    conn.query_drop(format!("CREATE TABLE texts (id INT PRIMARY KEY, {}, c_char CHAR(10) CHARACTER SET gbk)", definitions.join(", ")))
        .await
        .unwrap();
    let names: Vec<&str> = columns.iter().map(|c| c.0).collect();
    let insert = |id: i32| {
        let values: Vec<String> = columns.iter().map(|(_, _, v)| format!("'{v}'")).collect();
        format!("INSERT INTO texts (id, {}, c_char) VALUES ({id}, {}, '汉字')", names.join(", "), values.join(", "))
    };
    conn.query_drop("SET NAMES utf8mb4").await.unwrap();
    conn.query_drop(insert(1)).await.unwrap();
    let records = capture_around_start(stack, &setup, &mut conn, &[insert(2)], "texts", 2).await;
    for record in &records {
        let fields = row_fields(record, "after");
        let field = |name: &str| fields.iter().find(|(n, _)| n == name).unwrap().1.clone();
        for (name, charset, value) in columns {
            assert_eq!(field(name), some(Value::String(value.into())), "{charset} (op {:?})", record.field("op"));
        }
        assert_eq!(field("c_char"), some(Value::String("汉字".into())), "CHAR in gbk (op {:?})", record.field("op"));
    }
    assert_eq!(records[0].value_schema, records[1].value_schema, "one schema version");
}
