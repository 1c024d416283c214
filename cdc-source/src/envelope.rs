//! Debezium's MySQL change-event envelope: `before`, `after`, `source`, `op`,
//! `ts_ms`, `transaction`, with the `source` block Debezium's MySQL connector
//! writes (`io.debezium.connector.mysql.Source`).

use apache_avro::types::Value;
use serde_json::{Value as Json, json};

/// Written into `source.version`.
pub const CONNECTOR_VERSION: &str = concat!("rust-cdc-", env!("CARGO_PKG_VERSION"));

/// Debezium's `op` codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Create,
    Update,
    Delete,
    Read,
    /// The table was emptied (`TRUNCATE`; also sent when it is dropped).
    Truncate,
}

impl Op {
    pub fn code(self) -> &'static str {
        match self {
            Op::Create => "c",
            Op::Update => "u",
            Op::Delete => "d",
            Op::Read => "r",
            Op::Truncate => "t",
        }
    }
}

/// `source.snapshot`: `"true"` for rows of a consistent snapshot, `"last"`
/// for its final one, `"incremental"` for rows of an incremental snapshot's
/// chunk, else `"false"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SnapshotMarker {
    No,
    Yes,
    Last,
    Incremental,
}

impl SnapshotMarker {
    /// Rows of a consistent snapshot share one row version (the snapshot
    /// point's), so they are not compared with what a partition holds.
    pub fn shares_version(self) -> bool {
        matches!(self, SnapshotMarker::Yes | SnapshotMarker::Last)
    }
}

/// Everything `source` says about where a change came from.
#[derive(Debug, Clone)]
pub struct SourceInfo {
    /// The logical server name (the topic prefix).
    pub name: String,
    pub ts_ms: i64,
    pub snapshot: SnapshotMarker,
    pub db: String,
    pub table: String,
    pub server_id: u32,
    pub gtid: Option<String>,
    pub file: String,
    pub pos: u64,
    pub row: u32,
    pub thread: Option<u64>,
}

pub fn source_schema() -> Json {
    let optional = |name: &str, ty: &str| json!({"name": name, "type": ["null", ty], "default": null});
    json!({
        "type": "record", "name": "Source", "namespace": "io.debezium.connector.mysql",
        "fields": [
            {"name": "version", "type": "string"},
            {"name": "connector", "type": "string"},
            {"name": "name", "type": "string"},
            {"name": "ts_ms", "type": "long"},
            {"name": "snapshot", "type": ["string", "null"], "default": "false"},
            {"name": "db", "type": "string"},
            optional("sequence", "string"),
            optional("table", "string"),
            {"name": "server_id", "type": "long"},
            optional("gtid", "string"),
            {"name": "file", "type": "string"},
            {"name": "pos", "type": "long"},
            {"name": "row", "type": "int"},
            optional("thread", "long"),
            optional("query", "string"),
        ]
    })
}

fn some(v: Value) -> Value {
    Value::Union(1, Box::new(v))
}

fn none() -> Value {
    Value::Union(0, Box::new(Value::Null))
}

impl SnapshotMarker {
    pub fn as_str(self) -> &'static str {
        match self {
            SnapshotMarker::No => "false",
            SnapshotMarker::Yes => "true",
            SnapshotMarker::Last => "last",
            SnapshotMarker::Incremental => "incremental",
        }
    }
}

impl SourceInfo {
    pub fn to_value(&self) -> Value {
        let snapshot = self.snapshot.as_str();
        Value::Record(vec![
            ("version".into(), Value::String(CONNECTOR_VERSION.into())),
            ("connector".into(), Value::String("mysql".into())),
            ("name".into(), Value::String(self.name.clone())),
            ("ts_ms".into(), Value::Long(self.ts_ms)),
            ("snapshot".into(), Value::Union(0, Box::new(Value::String(snapshot.into())))),
            ("db".into(), Value::String(self.db.clone())),
            ("sequence".into(), none()),
            ("table".into(), some(Value::String(self.table.clone()))),
            ("server_id".into(), Value::Long(i64::from(self.server_id))),
            ("gtid".into(), self.gtid.clone().map_or_else(none, |g| some(Value::String(g)))),
            ("file".into(), Value::String(self.file.clone())),
            ("pos".into(), Value::Long(self.pos as i64)),
            ("row".into(), Value::Int(self.row as i32)),
            ("thread".into(), self.thread.map_or_else(none, |t| some(Value::Long(t as i64)))),
            ("query".into(), none()),
        ])
    }
}

/// The envelope value: `before`/`after` are the row records (or absent).
pub fn envelope(op: Op, before: Option<Value>, after: Option<Value>, source: &SourceInfo, ts_ms: i64) -> Value {
    Value::Record(vec![
        ("before".into(), before.map_or_else(none, some)),
        ("after".into(), after.map_or_else(none, some)),
        ("source".into(), source.to_value()),
        ("op".into(), Value::String(op.code().into())),
        ("ts_ms".into(), some(Value::Long(ts_ms))),
        ("transaction".into(), none()),
    ])
}

/// Milliseconds since the epoch (the events' `ts_ms`).
pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_millis() as i64
}
