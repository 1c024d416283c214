//! Schema-change events on `<topic_prefix>`, in Debezium's layout: `source`,
//! `ts_ms`, `databaseName`, `schemaName`, `ddl`, and `tableChanges[]` with
//! `type` (CREATE/ALTER/DROP), `id` and the table's columns and key. The key
//! is `{databaseName}`.
//!
//! The statement comes from the binlog; the table description is read from
//! `information_schema` when the statement is processed, so it describes the
//! table as it is then (the same as the statement's result unless further DDL
//! on that table has already run). Row events never depend on it: their shape
//! comes from their own table maps.

use crate::envelope::SourceInfo;
use apache_avro::types::Value;
use mysql_async::Conn;
use mysql_async::prelude::Queryable;
use serde_json::{Value as Json, json};

/// What a DDL statement did to which table, as far as the statement says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DdlTarget {
    pub kind: &'static str,
    pub database: String,
    pub table: String,
}

/// The tables a `CREATE TABLE`, `ALTER TABLE`, `DROP TABLE`, `RENAME TABLE`
/// or `TRUNCATE [TABLE]` statement targets: every table of `DROP TABLE a, b`,
/// the first table named otherwise; other statements (views, users, …) have none.
pub fn ddl_targets(statement: &str, default_database: &str) -> Vec<DdlTarget> {
    let words: Vec<String> = tokens(statement);
    let upper: Vec<String> = words.iter().map(|w| w.to_ascii_uppercase()).collect();
    let at = |i: usize| upper.get(i).map(String::as_str);
    let (kind, mut i) = match (at(0), at(1), at(2)) {
        (Some("CREATE"), Some("TABLE"), _) => ("CREATE", 2),
        (Some("CREATE"), Some("TEMPORARY"), Some("TABLE")) => return Vec::new(),
        (Some("CREATE"), Some("OR"), _) => return Vec::new(),
        (Some("ALTER"), Some("TABLE"), _) => ("ALTER", 2),
        (Some("ALTER"), Some("ONLINE" | "IGNORE"), Some("TABLE")) => ("ALTER", 3),
        (Some("DROP"), Some("TABLE"), _) => ("DROP", 2),
        (Some("DROP"), Some("TEMPORARY"), _) => return Vec::new(),
        (Some("RENAME"), Some("TABLE"), _) => ("ALTER", 2),
        (Some("TRUNCATE"), Some("TABLE"), _) => ("TRUNCATE", 2),
        (Some("TRUNCATE"), Some(_), _) => ("TRUNCATE", 1),
        _ => return Vec::new(),
    };
    while matches!(at(i), Some("IF" | "NOT" | "EXISTS")) {
        i += 1;
    }
    let target = |name: &String| {
        let (database, table) = match split_qualified(name) {
            Some((d, t)) => (unquote(d), unquote(t)),
            None => (default_database.to_string(), unquote(name)),
        };
        DdlTarget { kind, database, table }
    };
    let names = if kind == "DROP" {
        // DROP TABLE a, b [RESTRICT | CASCADE]
        words[i.min(words.len())..].iter().zip(&upper[i.min(upper.len())..]).take_while(|(_, u)| !matches!(u.as_str(), "RESTRICT" | "CASCADE")).map(|(w, _)| w).collect()
    } else {
        words.get(i).into_iter().collect::<Vec<_>>()
    };
    names.into_iter().map(target).collect()
}

/// The `(old, new)` names of every table a `RENAME TABLE a TO b, c TO d` or
/// `ALTER TABLE a … RENAME [TO | AS] b` statement renames.
pub fn renames(statement: &str, default_database: &str) -> Vec<(DdlTarget, DdlTarget)> {
    let words: Vec<String> = tokens(statement);
    let upper: Vec<String> = words.iter().map(|w| w.to_ascii_uppercase()).collect();
    let name = |word: &String| {
        let (database, table) = match split_qualified(word) {
            Some((d, t)) => (unquote(d), unquote(t)),
            None => (default_database.to_string(), unquote(word)),
        };
        DdlTarget { kind: "RENAME", database, table }
    };
    let at = |i: usize| upper.get(i).map(String::as_str);
    match (at(0), at(1)) {
        (Some("RENAME"), Some("TABLE" | "TABLES")) => {
            // a TO b [, c TO d …] (the commas were dropped by `tokens`)
            let mut out = Vec::new();
            let mut i = 2;
            while let (Some(old), Some("TO"), Some(new)) = (words.get(i), at(i + 1), words.get(i + 2)) {
                out.push((name(old), name(new)));
                i += 3;
            }
            out
        }
        (Some("ALTER"), _) => {
            let Some(table_at) = upper.iter().position(|w| w == "TABLE") else { return Vec::new() };
            let Some(old) = words.get(table_at + 1) else { return Vec::new() };
            let Some(rename_at) = upper.iter().skip(table_at + 2).position(|w| w == "RENAME").map(|p| p + table_at + 2) else {
                return Vec::new();
            };
            let mut new_at = rename_at + 1;
            match at(new_at) {
                Some("COLUMN" | "INDEX" | "KEY") => return Vec::new(),
                Some("TO" | "AS") => new_at += 1,
                _ => {}
            }
            words.get(new_at).map(|new| vec![(name(old), name(new))]).unwrap_or_default()
        }
        _ => Vec::new(),
    }
}

/// Whether an `ALTER TABLE` renames a column (`RENAME COLUMN a TO b`, or
/// `CHANGE [COLUMN] a b …` with another name): the column's values then live
/// under the new name, which the binlog alone cannot tell a consumer.
pub fn renames_column(statement: &str) -> bool {
    let words: Vec<String> = tokens(statement);
    let upper: Vec<String> = words.iter().map(|w| w.to_ascii_uppercase()).collect();
    if upper.first().map(String::as_str) != Some("ALTER") {
        return false;
    }
    (0..upper.len()).any(|i| match upper[i].as_str() {
        "RENAME" => upper.get(i + 1).is_some_and(|w| w == "COLUMN"),
        "CHANGE" => {
            let at = if upper.get(i + 1).is_some_and(|w| w == "COLUMN") { i + 2 } else { i + 1 };
            match (words.get(at), words.get(at + 1)) {
                (Some(old), Some(new)) => !unquote(old).eq_ignore_ascii_case(&unquote(new)),
                _ => false,
            }
        }
        _ => false,
    })
}

/// `db.table` → (`db`, `table`), minding backquotes (a quoted name may hold dots).
fn split_qualified(name: &str) -> Option<(&str, &str)> {
    let mut quoted = false;
    for (i, c) in name.char_indices() {
        match c {
            '`' => quoted = !quoted,
            '.' if !quoted => return Some((&name[..i], &name[i + 1..])),
            _ => {}
        }
    }
    None
}

/// Words of the statement with comments dropped; a quoted name (with dots) stays one word.
fn tokens(statement: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    let mut chars = statement.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match c {
            '`' => {
                quoted = !quoted;
                word.push(c);
            }
            '/' if !quoted && chars.peek() == Some(&'*') => {
                while let Some(c) = chars.next() {
                    if c == '*' && chars.peek() == Some(&'/') {
                        chars.next();
                        break;
                    }
                }
            }
            c if !quoted && (c.is_whitespace() || c == '(' || c == ',' || c == ';') => {
                if !word.is_empty() {
                    out.push(std::mem::take(&mut word));
                }
            }
            c => word.push(c),
        }
    }
    if !word.is_empty() {
        out.push(word);
    }
    out
}

fn unquote(name: &str) -> String {
    match name.strip_prefix('`').and_then(|n| n.strip_suffix('`')) {
        Some(inner) => inner.replace("``", "`"),
        None => name.to_string(),
    }
}

pub fn key_schema(prefix: &str) -> Json {
    json!({"type": "record", "name": "SchemaChangeKey", "namespace": "io.debezium.connector.mysql",
           "connect.name": format!("{prefix}.SchemaChangeKey"),
           "fields": [{"name": "databaseName", "type": "string"}]})
}

pub fn value_schema() -> Json {
    let opt = |name: &str, ty: Json| json!({"name": name, "type": ["null", ty], "default": null});
    let field = |name: &str, ty: Json| json!({"name": name, "type": ty});
    let column = json!({
        "type": "record", "name": "Column",
        "fields": [
            field("name", json!("string")),
            field("jdbcType", json!("int")),
            opt("nativeType", json!("int")),
            field("typeName", json!("string")),
            opt("typeExpression", json!("string")),
            opt("charsetName", json!("string")),
            opt("length", json!("int")),
            opt("scale", json!("int")),
            field("position", json!("int")),
            opt("optional", json!("boolean")),
            opt("autoIncremented", json!("boolean")),
            opt("generated", json!("boolean")),
        ]
    });
    let table = json!({
        "type": "record", "name": "Table",
        "fields": [
            opt("defaultCharsetName", json!("string")),
            field("primaryKeyColumnNames", json!({"type": "array", "items": "string"})),
            field("columns", json!({"type": "array", "items": column})),
        ]
    });
    let change = json!({
        "type": "record", "name": "Change", "namespace": "io.debezium.connector.schema",
        "fields": [field("type", json!("string")), field("id", json!("string")), opt("table", table)]
    });
    json!({
        "type": "record", "name": "SchemaChangeValue", "namespace": "io.debezium.connector.mysql",
        "fields": [
            field("source", crate::envelope::source_schema()),
            field("ts_ms", json!("long")),
            opt("databaseName", json!("string")),
            opt("schemaName", json!("string")),
            opt("ddl", json!("string")),
            field("tableChanges", json!({"type": "array", "items": change})),
        ]
    })
}

fn some(v: Value) -> Value {
    Value::Union(1, Box::new(v))
}

fn none() -> Value {
    Value::Union(0, Box::new(Value::Null))
}

fn opt_string(v: Option<String>) -> Value {
    v.map_or_else(none, |s| some(Value::String(s)))
}

/// `java.sql.Types` of a MySQL data type, as Debezium reports it.
fn jdbc_type(data_type: &str) -> i32 {
    match data_type {
        "bit" => -7,
        "tinyint" => -6,
        "smallint" => 5,
        "mediumint" | "int" | "integer" => 4,
        "bigint" => -5,
        "float" => 7,
        "double" | "real" => 8,
        "decimal" | "numeric" => 3,
        "char" | "enum" | "set" => 1,
        "varchar" => 12,
        "tinytext" | "text" | "mediumtext" | "longtext" | "json" => -1,
        "binary" => -2,
        "varbinary" => -3,
        "tinyblob" | "blob" | "mediumblob" | "longblob" => -4,
        "date" | "year" => 91,
        "time" => 92,
        "datetime" => 93,
        "timestamp" => 2014,
        _ => 1111,
    }
}

/// The table description of `tableChanges[].table` (none: the table is gone).
pub async fn describe(conn: &mut Conn, database: &str, table: &str) -> Result<Option<Value>, mysql_async::Error> {
    type ColumnRow = (String, String, String, String, Option<String>, Option<u64>, Option<u64>, Option<u64>, u32, String);
    let rows: Vec<ColumnRow> = conn
        .exec(
            "SELECT COLUMN_NAME, DATA_TYPE, COLUMN_TYPE, IS_NULLABLE, CHARACTER_SET_NAME, CHARACTER_MAXIMUM_LENGTH, \
                    NUMERIC_PRECISION, NUMERIC_SCALE, ORDINAL_POSITION, EXTRA \
             FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION",
            (database, table),
        )
        .await?;
    if rows.is_empty() {
        return Ok(None);
    }
    let key: Vec<String> = conn
        .exec(
            "SELECT COLUMN_NAME FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? AND INDEX_NAME = 'PRIMARY' ORDER BY SEQ_IN_INDEX",
            (database, table),
        )
        .await?;
    let charset: Option<String> = conn
        .exec_first(
            "SELECT c.CHARACTER_SET_NAME FROM information_schema.TABLES t JOIN information_schema.COLLATION_CHARACTER_SET_APPLICABILITY c \
             ON c.COLLATION_NAME = t.TABLE_COLLATION WHERE t.TABLE_SCHEMA = ? AND t.TABLE_NAME = ?",
            (database, table),
        )
        .await?;
    let columns = rows
        .into_iter()
        .map(|(name, data_type, column_type, nullable, charset, char_len, precision, scale, position, extra)| {
            let length = char_len.or(precision).map(|l| some(Value::Int(l.min(i32::MAX as u64) as i32))).unwrap_or_else(none);
            let extra = extra.to_ascii_lowercase();
            Value::Record(vec![
                ("name".into(), Value::String(name)),
                ("jdbcType".into(), Value::Int(jdbc_type(&data_type))),
                ("nativeType".into(), none()),
                ("typeName".into(), Value::String(data_type.to_ascii_uppercase())),
                ("typeExpression".into(), some(Value::String(column_type.to_ascii_uppercase()))),
                ("charsetName".into(), opt_string(charset)),
                ("length".into(), length),
                ("scale".into(), scale.map(|s| some(Value::Int(s as i32))).unwrap_or_else(none)),
                ("position".into(), Value::Int(position as i32)),
                ("optional".into(), some(Value::Boolean(nullable == "YES"))),
                ("autoIncremented".into(), some(Value::Boolean(extra.contains("auto_increment")))),
                ("generated".into(), some(Value::Boolean(extra.contains("generated")))),
            ])
        })
        .collect();
    Ok(Some(Value::Record(vec![
        ("defaultCharsetName".into(), opt_string(charset)),
        ("primaryKeyColumnNames".into(), Value::Array(key.into_iter().map(Value::String).collect())),
        ("columns".into(), Value::Array(columns)),
    ])))
}

/// The key and value of one schema-change event.
pub fn event(source: &SourceInfo, database: &str, ddl: &str, change: Option<(&DdlTarget, Option<Value>)>, ts_ms: i64) -> (Value, Value) {
    let changes = match change {
        Some((target, table)) => vec![Value::Record(vec![
            ("type".into(), Value::String(target.kind.into())),
            ("id".into(), Value::String(format!("\"{}\".\"{}\"", target.database, target.table))),
            ("table".into(), table.map_or_else(none, some)),
        ])],
        None => Vec::new(),
    };
    let key = Value::Record(vec![("databaseName".into(), Value::String(database.into()))]);
    let value = Value::Record(vec![
        ("source".into(), source.to_value()),
        ("ts_ms".into(), Value::Long(ts_ms)),
        ("databaseName".into(), some(Value::String(database.into()))),
        ("schemaName".into(), none()),
        ("ddl".into(), some(Value::String(ddl.into()))),
        ("tableChanges".into(), Value::Array(changes)),
    ]);
    (key, value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ddl_targets_are_parsed() {
        let t = |s: &str| ddl_targets(s, "shop").into_iter().next().map(|t| (t.kind, t.database, t.table));
        assert_eq!(t("ALTER TABLE orders ADD COLUMN x INT"), Some(("ALTER", "shop".into(), "orders".into())));
        assert_eq!(t("create table if not exists `a b`.`c.d` (id int)"), Some(("CREATE", "a b".into(), "c.d".into())));
        assert_eq!(t("DROP TABLE IF EXISTS `t1` /* generated by server */"), Some(("DROP", "shop".into(), "t1".into())));
        assert_eq!(t("/* x */ ALTER ONLINE TABLE db.t ADD y INT"), Some(("ALTER", "db".into(), "t".into())));
        assert_eq!(t("CREATE USER bob"), None);
        assert_eq!(t("TRUNCATE `shop`.`a.b`"), Some(("TRUNCATE", "shop".into(), "a.b".into())));
        assert_eq!(t("truncate table t"), Some(("TRUNCATE", "shop".into(), "t".into())));
        assert_eq!(t("CREATE TABLE `we``ird` (id int)"), Some(("CREATE", "shop".into(), "we`ird".into())));
        let all: Vec<_> = ddl_targets("DROP TABLE IF EXISTS `a`,db2.`b c` /* generated by server */", "shop")
            .into_iter()
            .map(|t| (t.kind, t.database, t.table))
            .collect();
        assert_eq!(all, [("DROP", "shop".into(), "a".into()), ("DROP", "db2".into(), "b c".into())]);
        assert_eq!(t("CREATE OR REPLACE VIEW v AS SELECT 1"), None);
    }

    #[test]
    fn renames_are_parsed() {
        let r = |s: &str| renames(s, "shop").into_iter().map(|(a, b)| (a.database, a.table, b.database, b.table)).collect::<Vec<_>>();
        assert_eq!(r("RENAME TABLE a TO b"), [("shop".into(), "a".into(), "shop".into(), "b".into())]);
        assert_eq!(
            r("rename table `x y` to db2.`z`, c TO d"),
            [("shop".into(), "x y".into(), "db2".into(), "z".into()), ("shop".into(), "c".into(), "shop".into(), "d".into())]
        );
        assert_eq!(r("ALTER TABLE a ADD COLUMN x INT, RENAME TO b"), [("shop".into(), "a".into(), "shop".into(), "b".into())]);
        assert_eq!(r("ALTER TABLE a RENAME AS `b`"), [("shop".into(), "a".into(), "shop".into(), "b".into())]);
        assert!(r("ALTER TABLE a RENAME COLUMN x TO y").is_empty());
        assert!(r("ALTER TABLE a ADD y INT").is_empty());
    }

    #[test]
    fn column_renames_are_seen() {
        assert!(renames_column("ALTER TABLE t RENAME COLUMN a TO b"));
        assert!(renames_column("alter table t change `a` `b` INT NOT NULL"));
        assert!(renames_column("ALTER TABLE t ADD x INT, CHANGE COLUMN a b VARCHAR(3)"));
        assert!(!renames_column("ALTER TABLE t CHANGE a a BIGINT"));
        assert!(!renames_column("ALTER TABLE t RENAME TO u"));
        assert!(!renames_column("ALTER TABLE t MODIFY a BIGINT"));
    }

    #[test]
    fn schemas_parse() {
        apache_avro::Schema::parse(&value_schema()).unwrap();
        apache_avro::Schema::parse(&key_schema("shop")).unwrap();
    }
}
