//! Debezium change events (`before`, `after`, `source`, `op`) as rows of a
//! `ReplacingMergeTree(_version, _is_deleted)` table ordered by the source
//! table's primary key.
//!
//! Guarantee: each change becomes exactly one row — `c`, `u` and `r` (snapshot)
//! write the `after` image with `_is_deleted = 0`, `d` writes the `before`
//! image with `_is_deleted = 1` — and every row carries the change's
//! [`RowVersion`] as `_version`. So `SELECT … FINAL` gives, per key, the latest
//! change in binlog order, whatever order the rows arrived in and however often
//! one was inserted. A record that is not such a change (an unknown `op`, a
//! missing image, no version) is an error naming what is wrong; it is never
//! guessed at.
//!
//! Column types follow the Avro types of the row record (see
//! [`super::columns`]) refined by Debezium's semantic names, which Avro keeps
//! only as `connect.name` attributes in the schema text:
//! `io.debezium.data.Enum` → `LowCardinality(String)`,
//! `io.debezium.time.ZonedTimestamp` → `DateTime64(6, 'UTC')`; `Json`,
//! `EnumSet` and `Bits` stay `String`.

use super::columns::{Column, ColumnType};
use apache_avro::Schema;
use apache_avro::types::Value;
use serde_json::Value as Json;
use shared::row_version::RowVersion;
use std::collections::HashMap;

/// The row version column (`ReplacingMergeTree`'s version).
pub const VERSION: &str = "_version";
/// 1 for a deleted key (`ReplacingMergeTree`'s `is_deleted`).
pub const IS_DELETED: &str = "_is_deleted";

/// The names of the sink's own columns in a table of change events: a
/// changelog's version and deleted flag ([`VERSION`], [`IS_DELETED`]), a
/// change table's `_op`, `_version`, `_sign` and `_kafka_partition` — or,
/// when the source table has a column of such a name, the first of
/// `__version`, `___version`, … that is free. An existing changelog table's
/// are read from its engine (`ReplacingMergeTree(v, d)`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Markers {
    pub version: String,
    pub deleted: String,
    pub op: String,
    pub sign: String,
    pub partition: String,
}

impl Default for Markers {
    fn default() -> Self {
        Self::avoiding(std::iter::empty())
    }
}

impl Markers {
    /// Marker names that no name in `taken` uses.
    pub fn avoiding<'a>(taken: impl Iterator<Item = &'a str> + Clone) -> Self {
        let free = |base: &str| {
            let mut name = base.to_string();
            while taken.clone().any(|t| t == name) {
                name.insert(0, '_');
            }
            name
        };
        Self {
            version: free(VERSION),
            deleted: free(IS_DELETED),
            op: free("_op"),
            sign: free("_sign"),
            partition: free("_kafka_partition"),
        }
    }

    /// A change table's markers, from its column names: for each, the
    /// variant with the most leading underscores that is present (the sink
    /// adds underscores only to step aside from the source's columns).
    pub fn of_columns(columns: &[String]) -> Option<Self> {
        let pick = |base: &str| {
            columns
                .iter()
                .filter(|c| c.trim_start_matches('_') == base.trim_start_matches('_') && c.ends_with(base))
                .max_by_key(|c| c.len())
                .cloned()
        };
        Some(Self {
            version: pick(VERSION)?,
            deleted: IS_DELETED.into(),
            op: pick("_op")?,
            sign: pick("_sign")?,
            partition: pick("_kafka_partition")?,
        })
    }

    /// The markers named in `engine_full` (`ReplacingMergeTree(_version, _is_deleted) …`).
    pub fn of_engine(engine_full: &str) -> Option<Self> {
        let start = engine_full.find("ReplacingMergeTree(")? + "ReplacingMergeTree(".len();
        let mut depth = 0;
        let end = engine_full[start..].char_indices().find_map(|(i, c)| match c {
            '(' => {
                depth += 1;
                None
            }
            ')' if depth == 0 => Some(start + i),
            ')' => {
                depth -= 1;
                None
            }
            _ => None,
        })?;
        match identifiers(&engine_full[start..end]).as_slice() {
            [version, deleted] => Some(Self {
                version: version.clone(),
                deleted: deleted.clone(),
                ..Self::default()
            }),
            _ => None,
        }
    }
}

/// The identifiers of a comma-separated list as ClickHouse prints it
/// (`id, \`my col\``, optionally in parentheses), unquoted.
pub fn identifiers(list: &str) -> Vec<String> {
    let list = list.trim();
    let list = list.strip_prefix('(').and_then(|l| l.strip_suffix(')')).unwrap_or(list);
    let mut out = Vec::new();
    let mut current = String::new();
    let mut chars = list.chars();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match c {
            '\\' if quoted => current.extend(chars.next()),
            '`' => quoted = !quoted,
            ',' if !quoted => out.push(std::mem::take(&mut current).trim().to_string()),
            c => current.push(c),
        }
    }
    if !current.trim().is_empty() || !out.is_empty() {
        out.push(current.trim().to_string());
    }
    out
}

/// What to do when the table's sorting key is not the source's primary key
/// (completes a sentence naming the table).
pub const REKEY: &str = "is ordered by the old key, so the change cannot be applied in place. The records wait in Kafka: \
     recreate the table with ORDER BY the new key (docs/TROUBLESHOOTING.md) or map the topic to a new table, and restart";

/// Whether `schema` is a Debezium envelope: a record with `before`, `after`
/// (both the same optional row record), `source` and `op`.
pub fn is_envelope(schema: &Schema) -> bool {
    let Schema::Record(record) = schema else { return false };
    ["before", "after", "source", "op"].iter().all(|name| record.lookup.contains_key(*name)) && row_schema(schema).is_some()
}

/// The row record inside the `["null", Value]` union of `before` (where
/// Debezium defines it; `after` refers to it by name).
pub fn row_schema(schema: &Schema) -> Option<&Schema> {
    let Schema::Record(record) = schema else { return None };
    ["before", "after"].iter().find_map(|image| {
        let Schema::Union(union) = &record.fields[*record.lookup.get(*image)?].schema else { return None };
        union.variants().iter().find(|s| matches!(s, Schema::Record(_)))
    })
}

/// The columns of the row record, refined by what the envelope's schema
/// text `definition` says beyond Avro: `connect.name` attributes (Debezium's
/// semantic types), and the `connect.parameters` of cdc-source (also
/// Debezium's with `column.propagate.source.type`): an unsigned MySQL
/// integer (`__debezium.source.column.type`) gets the unsigned ClickHouse
/// type of its width, and a column whose name the Avro field could not carry
/// (`__debezium.source.column.name`) gets its exact name.
pub fn refine(columns: &mut [Column], definition: &str) {
    let Ok(envelope) = serde_json::from_str::<Json>(definition) else { return };
    let Some(row) = row_record(&envelope) else { return };
    let metadata = field_metadata(row);
    for column in columns {
        let Some(meta) = metadata.get(&column.name) else { continue };
        let refined = match meta.connect_name.as_deref() {
            Some("io.debezium.data.Enum") => Some(ColumnType::LowCardinalityString),
            Some("io.debezium.time.ZonedTimestamp") => Some(ColumnType::DateTime64(6)),
            _ => meta.source_type.as_deref().and_then(unsigned_type),
        };
        if let Some(refined) = refined {
            column.column_type = match &column.column_type {
                ColumnType::Nullable(_) => ColumnType::Nullable(Box::new(refined)),
                _ => refined,
            };
        }
        if let Some(name) = &meta.source_name {
            column.name = name.clone();
        }
    }
}

/// The exact source names of a key record's fields (schema text `definition`), in order.
pub fn key_names(definition: &str) -> Option<Vec<String>> {
    let key: Json = serde_json::from_str(definition).ok()?;
    let metadata = field_metadata(&key);
    let fields = key["fields"].as_array()?;
    fields
        .iter()
        .map(|f| {
            let name = f["name"].as_str()?;
            Some(metadata.get(name).and_then(|m| m.source_name.clone()).unwrap_or_else(|| name.to_string()))
        })
        .collect()
}

/// `BIGINT UNSIGNED` → `UInt64`, and so on; signed types keep the Avro mapping.
fn unsigned_type(mysql_type: &str) -> Option<ColumnType> {
    let base = mysql_type.to_ascii_uppercase();
    let base = base.strip_suffix(" UNSIGNED")?.trim();
    Some(match base {
        "TINYINT" => ColumnType::UInt8,
        "SMALLINT" => ColumnType::UInt16,
        "MEDIUMINT" | "INT" | "INTEGER" => ColumnType::UInt32,
        "BIGINT" => ColumnType::UInt64,
        _ => return None,
    })
}

/// What the schema text says of one field beyond its Avro type.
#[derive(Debug, Default)]
struct FieldMetadata {
    connect_name: Option<String>,
    source_name: Option<String>,
    source_type: Option<String>,
}

/// The row record (`before`'s non-null branch) of an envelope's schema text.
fn row_record(envelope: &Json) -> Option<&Json> {
    let before = envelope["fields"].as_array()?.iter().find(|f| f["name"] == "before")?;
    match &before["type"] {
        Json::Array(variants) => variants.iter().find(|v| v["type"] == "record"),
        _ => None,
    }
}

/// Field name → its metadata, for the fields of record schema `record`.
/// Parameters are read from the field (cdc-source) or its type (Confluent's converter).
fn field_metadata(record: &Json) -> HashMap<String, FieldMetadata> {
    let Some(fields) = record["fields"].as_array() else { return HashMap::new() };
    fields
        .iter()
        .filter_map(|field| {
            let declared = match &field["type"] {
                Json::Array(variants) => variants.iter().find(|v| v.as_str() != Some("null")).unwrap_or(&Json::Null),
                other => other,
            };
            let parameter = |key: &str| {
                field["connect.parameters"][key].as_str().or_else(|| declared["connect.parameters"][key].as_str()).map(str::to_string)
            };
            let meta = FieldMetadata {
                connect_name: declared.get("connect.name").and_then(Json::as_str).map(str::to_string),
                source_name: parameter("__debezium.source.column.name"),
                source_type: parameter("__debezium.source.column.type"),
            };
            Some((field["name"].as_str()?.to_string(), meta))
        })
        .collect()
}

/// One change, ready to be written as a row.
#[derive(Debug)]
pub struct Change<'a> {
    /// The row image's fields (`after`, or `before` for a delete).
    pub image: &'a [(String, Value)],
    pub deleted: bool,
    pub version: u64,
}

/// Reads the change in `envelope`; `header_version` is the record's
/// `cdc.version` header, else the version is derived from `source.file`,
/// `source.pos` and `source.row` (Debezium's own records have no header).
pub fn change(envelope: &Value, header_version: Option<u64>) -> Result<Change<'_>, String> {
    let Value::Record(fields) = envelope else { return Err("the value is not a change-event record".into()) };
    let field = |name: &str| field(fields, name);
    let op = match field("op") {
        Some(Value::String(op)) => op.as_str(),
        _ => return Err("the change event has no `op`".into()),
    };
    let (image, deleted) = match op {
        "c" | "u" | "r" => ("after", false),
        "d" => ("before", true),
        other => return Err(format!("op {other:?} is not a row change (only c, u, r, d are; t is applied to the whole table)")),
    };
    let Some(Value::Record(image)) = field(image) else {
        return Err(format!("op {op:?} without a `{image}` image"));
    };
    Ok(Change {
        image,
        deleted,
        version: version(envelope, header_version)?,
    })
}

/// The images of one change of a keyless table, for a change table.
#[derive(Debug)]
pub struct Images<'a> {
    pub op: &'a str,
    pub before: Option<&'a [(String, Value)]>,
    pub after: Option<&'a [(String, Value)]>,
    pub version: u64,
}

impl<'a> Images<'a> {
    /// The rows the change writes: the image that went (−1), then the one that appeared (+1).
    pub fn signed(&self) -> impl Iterator<Item = (&'a [(String, Value)], i32)> {
        let went = match self.op {
            "u" | "d" => self.before.map(|b| (b, -1)),
            _ => None,
        };
        let came = match self.op {
            "c" | "u" | "r" => self.after.map(|a| (a, 1)),
            _ => None,
        };
        went.into_iter().chain(came)
    }
}

/// The images of change event `envelope` (c, u, r, d), each required where its op has one.
pub fn images(envelope: &Value, header_version: Option<u64>) -> Result<Images<'_>, String> {
    let Value::Record(fields) = envelope else { return Err("the value is not a change-event record".into()) };
    let op = op(envelope).ok_or("the change event has no `op`")?;
    let image = |name: &str| match field(fields, name) {
        Some(Value::Record(image)) => Some(image.as_slice()),
        _ => None,
    };
    let (before, after) = (image("before"), image("after"));
    let needs = match op {
        "c" | "r" => (false, true),
        "u" => (true, true),
        "d" => (true, false),
        other => return Err(format!("op {other:?} is not a row change (only c, u, r, d are; t is applied to the whole table)")),
    };
    if (needs.0 && before.is_none()) || (needs.1 && after.is_none()) {
        return Err(format!("op {op:?} without its images (a keyless table's changes need full before and after images)"));
    }
    Ok(Images {
        op,
        before,
        after,
        version: version(envelope, header_version)?,
    })
}

/// The `op` of a change event.
pub fn op(envelope: &Value) -> Option<&str> {
    let Value::Record(fields) = envelope else { return None };
    match field(fields, "op") {
        Some(Value::String(op)) => Some(op),
        _ => None,
    }
}

/// The version of a change event: its `cdc.version` header, else derived
/// from `source.file`, `source.pos` and `source.row`.
pub fn version(envelope: &Value, header_version: Option<u64>) -> Result<u64, String> {
    if let Some(v) = header_version {
        return Ok(v);
    }
    let Value::Record(fields) = envelope else { return Err("the value is not a change-event record".into()) };
    version_from_source(field(fields, "source")).ok_or_else(|| "no `cdc.version` header and no usable source.file/pos/row to order the change by".into())
}

/// `(source.db, source.table)` of a change event: the source table's exact names.
pub fn source_table(envelope: &Value) -> Option<(String, String)> {
    let Value::Record(fields) = envelope else { return None };
    let Some(Value::Record(source)) = field(fields, "source") else { return None };
    match (field(source, "db"), field(source, "table")) {
        (Some(Value::String(db)), Some(Value::String(table))) if !db.is_empty() && !table.is_empty() => Some((db.clone(), table.clone())),
        _ => None,
    }
}

/// The value of record field `name`, out of its union if it is in one.
fn field<'a>(fields: &'a [(String, Value)], name: &str) -> Option<&'a Value> {
    fields.iter().find(|(n, _)| n == name).map(|(_, v)| match v {
        Value::Union(_, inner) => inner.as_ref(),
        other => other,
    })
}

fn version_from_source(source: Option<&Value>) -> Option<u64> {
    let Some(Value::Record(fields)) = source else { return None };
    let field = |name: &str| field(fields, name);
    let file = match field("file")? {
        Value::String(file) => file,
        _ => return None,
    };
    let pos = match field("pos")? {
        Value::Long(p) => u64::try_from(*p).ok()?,
        Value::Int(p) => u64::try_from(*p).ok()?,
        _ => return None,
    };
    let row = match field("row") {
        Some(Value::Int(r)) => u32::try_from(*r).ok()?,
        _ => 0,
    };
    RowVersion::of(file, pos, row).ok().map(|v| v.0)
}

/// The version carried in a `cdc.version` header value.
pub fn header_version(value: &[u8]) -> Option<u64> {
    std::str::from_utf8(value).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const ENVELOPE: &str = r#"{"type":"record","name":"Envelope","namespace":"cdc.shop.orders","fields":[
        {"name":"before","type":["null",{"type":"record","name":"Value","fields":[
            {"name":"id","type":"long","default":0},
            {"name":"status","type":{"type":"string","connect.name":"io.debezium.data.Enum"},"default":""},
            {"name":"paid_at","type":["null",{"type":"string","connect.name":"io.debezium.time.ZonedTimestamp"}],"default":null},
            {"name":"attrs","type":["null",{"type":"string","connect.name":"io.debezium.data.Json"}],"default":null}]}],"default":null},
        {"name":"after","type":["null","Value"],"default":null},
        {"name":"source","type":{"type":"record","name":"Source","fields":[
            {"name":"file","type":"string"},{"name":"pos","type":"long"},{"name":"row","type":"int"}]}},
        {"name":"op","type":"string"}]}"#;

    fn envelope(op: &str, before: Option<i64>, after: Option<i64>) -> Value {
        let image = |id: i64| {
            Value::Union(
                1,
                Box::new(Value::Record(vec![
                    ("id".into(), Value::Long(id)),
                    ("status".into(), Value::String("paid".into())),
                    ("paid_at".into(), Value::Union(0, Box::new(Value::Null))),
                    ("attrs".into(), Value::Union(0, Box::new(Value::Null))),
                ])),
            )
        };
        let none = || Value::Union(0, Box::new(Value::Null));
        Value::Record(vec![
            ("before".into(), before.map_or_else(none, image)),
            ("after".into(), after.map_or_else(none, image)),
            (
                "source".into(),
                Value::Record(vec![
                    ("file".into(), Value::String("bin.000003".into())),
                    ("pos".into(), Value::Long(1200)),
                    ("row".into(), Value::Int(2)),
                ]),
            ),
            ("op".into(), Value::String(op.into())),
        ])
    }

    #[test]
    fn markers_and_sorting_keys_are_read_back() {
        assert_eq!(identifiers("(id, `my col`, `we\\`ird`)"), ["id", "my col", "we`ird"]);
        assert_eq!(identifiers("id"), ["id"]);
        let m = Markers::avoiding(["id", "_version"].into_iter());
        assert_eq!((m.version.as_str(), m.deleted.as_str()), ("__version", "_is_deleted"));
        let engine = "ReplacingMergeTree(__version, _is_deleted) ORDER BY id SETTINGS index_granularity = 8192";
        assert_eq!(Markers::of_engine(engine).map(|m| (m.version, m.deleted)), Some((m.version, m.deleted)));
    }

    #[test]
    fn envelope_columns_take_debezium_names_into_account() {
        let schema = Schema::parse_str(ENVELOPE).unwrap();
        assert!(is_envelope(&schema));
        let mut columns = super::super::columns::columns_of(row_schema(&schema).unwrap()).unwrap();
        refine(&mut columns, ENVELOPE);
        let types: Vec<String> = columns.iter().map(|c| format!("{} {}", c.name, c.column_type)).collect();
        assert_eq!(
            types,
            [
                "id Int64",
                "status LowCardinality(String)",
                "paid_at Nullable(DateTime64(6, 'UTC'))",
                "attrs Nullable(String)"
            ]
        );
        let plain = Schema::parse_str(r#"{"type":"record","name":"Click","fields":[{"name":"after","type":"long"}]}"#).unwrap();
        assert!(!is_envelope(&plain));
    }

    #[test]
    fn deletes_write_the_before_image_and_versions_come_from_header_or_source() {
        let insert = envelope("c", None, Some(7));
        let c = change(&insert, Some(42)).unwrap();
        assert_eq!((c.deleted, c.version, &c.image[0].1), (false, 42, &Value::Long(7)));
        let delete = envelope("d", Some(7), None);
        let d = change(&delete, None).unwrap();
        assert!(d.deleted);
        assert_eq!(d.image[0].1, Value::Long(7));
        assert_eq!(d.version, RowVersion::of("bin.000003", 1200, 2).unwrap().0);
        assert!(change(&envelope("d", None, None), Some(1)).unwrap_err().contains("without a `before` image"));
        assert!(change(&envelope("t", None, None), Some(1)).unwrap_err().contains("not a row change"));
        assert_eq!(op(&envelope("t", None, None)), Some("t"));
        assert_eq!(version(&envelope("t", None, None), None).unwrap(), RowVersion::of("bin.000003", 1200, 2).unwrap().0);
        assert_eq!(header_version(b"123"), Some(123));
        assert_eq!(header_version(b"x"), None);
    }
}
