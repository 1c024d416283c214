//! The ClickHouse table fed from one topic, in one of three [`Layout`]s:
//! append-only (`MergeTree`, a row per record), a changelog of Debezium
//! change events (`ReplacingMergeTree(_version, _is_deleted)` ordered by the
//! source's primary key, see [`super::changelog`]), or the change table of a
//! keyless source table. This module encodes records as RowBinary rows of the
//! table's columns and inserts them with the batch's deduplication token; its
//! shape — creation, engine and key checks, schema evolution — is
//! [`super::ddl`]'s.
//!
//! Guarantee: an insert either lands whole or not at all (one INSERT per
//! batch, below `max_insert_block_size`), and a retried insert with the same
//! token is dropped by ClickHouse; a row is written only in the columns its
//! schema version was adopted for.

use super::changelog;
use super::columns::{Column, ConvertError, UnsupportedSchema, columns_of, encode, encode_default};
pub use super::ddl::{SchemaChanges, TableSettings};
use apache_avro::types::Value;
use clickhouse::Client;
use shared::glue::RegisteredSchema;
use std::collections::HashMap;
use uuid::Uuid;

/// Kafka coordinates stored with each row when metadata columns are on.
#[derive(Debug, Clone, Copy)]
pub struct RecordMeta<'a> {
    pub topic: &'a str,
    pub partition: i32,
    pub offset: i64,
    pub timestamp_ms: i64,
    /// The record's `cdc.version` header, if any (changelog tables).
    pub version: Option<u64>,
}

/// What rows a table holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Layout {
    /// A row per record (`MergeTree`).
    Append,
    /// The current rows of a source table whose primary key is `key`, from
    /// Debezium change events (`ReplacingMergeTree(_version, _is_deleted)`).
    Changelog { key: Vec<String> },
    /// The changes of a source table without a primary key (see
    /// [`changelog::Markers`]): a `MergeTree` row per image with `_op`,
    /// `_version` and `_sign` (+1 for an image that appeared, −1 for one
    /// that went: an update writes both), so the table's current rows are the
    /// images whose signs sum above zero.
    Changes,
}

#[derive(Debug, thiserror::Error)]
pub enum TableError {
    /// ClickHouse could not be reached, or failed in a way a retry can cure.
    #[error("ClickHouse unavailable for {table}: {reason}")]
    Unavailable { table: String, reason: String },
    /// ClickHouse refused the statement; retrying the same statement cannot help.
    #[error("ClickHouse refused a statement on {table}: {reason}")]
    Refused { table: String, reason: String },
    #[error("table {table}: {reason}")]
    Unusable { table: String, reason: String },
}

impl TableError {
    /// Worth retrying (ClickHouse down or overloaded), as opposed to a
    /// statement or table that can never work.
    pub fn is_transient(&self) -> bool {
        matches!(self, TableError::Unavailable { .. })
    }

    /// Sorts a client error: network failures, time-outs, answers without a
    /// ClickHouse exception code (a proxy or load balancer talking) and the
    /// server's own transient exception codes are worth a retry; any other
    /// exception is final.
    pub fn from_client(table: &str, e: clickhouse::error::Error) -> Self {
        let table = table.to_string();
        if let Some(reason) = tls_refusal(&e) {
            return Self::Refused { table, reason };
        }
        let reason = error_chain(&e);
        let transient = match &e {
            clickhouse::error::Error::Network(_) | clickhouse::error::Error::TimedOut => true,
            clickhouse::error::Error::BadResponse(text) => exception_code(text).is_none_or(|code| TRANSIENT_CODES.contains(&code)),
            _ => false,
        };
        if transient { Self::Unavailable { table, reason } } else { Self::Refused { table, reason } }
    }
}

/// An error and its causes, `: `-joined (the client's own text names only
/// the outermost layer, e.g. "client error (Connect)").
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let next = c.to_string();
        if !text.contains(&next) {
            text = format!("{text}: {next}");
        }
        cause = c.source();
    }
    text
}

/// A connection that failed in TLS — the server's certificate did not
/// verify, or the server refused ours — will fail the same way again: the
/// reason with the fix, so it is reported instead of retried.
pub fn tls_refusal(e: &clickhouse::error::Error) -> Option<String> {
    let clickhouse::error::Error::Network(_) = e else { return None };
    let text = error_chain(e);
    let lower = text.to_ascii_lowercase();
    (lower.contains("certificate") || lower.contains("handshake") || lower.contains("tlsv1 alert")).then(|| {
        format!(
            "{text}; the TLS handshake with ClickHouse failed: set clickhouse.tls.ca_file to the CA that signed the server's \
             certificate (it must name the url's host), or give the client certificate the server requires in \
             clickhouse.tls.cert_file and key_file"
        )
    })
}

/// ClickHouse exception codes that describe the server's condition, not the
/// statement: timeouts, network, overload, memory, read-only replica, Keeper,
/// an insert whose outcome is unknown.
const TRANSIENT_CODES: [u32; 13] = [3, 32, 159, 202, 203, 209, 210, 241, 242, 252, 319, 425, 999];

/// `Code: 53. DB::Exception: ...` → 53.
fn exception_code(text: &str) -> Option<u32> {
    let rest = &text[text.find("Code: ")? + 6..];
    rest[..rest.find(|c: char| !c.is_ascii_digit())?].parse().ok()
}

/// One target table and the rows of the batch being built for it.
pub struct Table {
    pub(super) client: Client,
    pub(super) layout: Layout,
    /// `` `db`.`table` ``
    pub(super) name: String,
    pub(super) database: String,
    pub(super) table: String,
    pub(super) columns: Vec<Column>,
    pub(super) metadata_columns: bool,
    /// Per schema version: for each table column, the index of the record field feeding it.
    pub(super) field_maps: HashMap<Uuid, Vec<Option<usize>>>,
    /// Key schema versions checked against a changelog table's sorting key.
    pub(super) known_keys: std::collections::HashSet<Uuid>,
    /// A changelog table's version and deleted-flag columns (see [`changelog::Markers`]).
    pub(super) markers: changelog::Markers,
}

pub use shared::sql::clickhouse_identifier as quote;

impl Table {

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The table's own name (unquoted, without the database).
    pub fn table(&self) -> &str {
        &self.table
    }

    pub(super) fn unusable(&self, reason: String) -> TableError {
        TableError::Unusable {
            table: self.name.clone(),
            reason,
        }
    }

    pub(super) fn clickhouse_error(&self, e: clickhouse::error::Error) -> TableError {
        TableError::from_client(&self.name, e)
    }

    pub(super) async fn execute(&self, sql: &str) -> Result<(), TableError> {
        self.client.query(sql).execute().await.map_err(|e| self.clickhouse_error(e))
    }

    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// Whether key schema version `id` was checked against the sorting key.
    pub fn knows_key(&self, id: Uuid) -> bool {
        self.known_keys.contains(&id)
    }

    pub fn adopt_key(&mut self, id: Uuid) {
        self.known_keys.insert(id);
    }

    /// Whether rows of schema version `version_id` can be encoded already.
    pub fn knows(&self, version_id: Uuid) -> bool {
        self.field_maps.contains_key(&version_id)
    }

    /// Records the columns changed for `schema` and how its fields map to columns.
    pub fn adopt_schema(&mut self, schema: &RegisteredSchema, changes: SchemaChanges) {
        for changed in changes.retyped {
            if let Some(column) = self.columns.iter_mut().find(|c| c.name == changed.name) {
                column.column_type = changed.column_type;
            }
        }
        let added = changes.added;
        // Versions adopted earlier have no field for the added columns (else
        // they would have been added then): their rows write the default.
        for map in self.field_maps.values_mut() {
            map.extend(std::iter::repeat_n(None, added.len()));
        }
        self.columns.extend(added);
        let fields = fields_of(&self.layout, schema).unwrap_or_default();
        let map = self
            .columns
            .iter()
            .map(|c| fields.iter().position(|f| f.name == c.name))
            .collect();
        self.field_maps.insert(schema.version_id, map);
    }

    /// Appends one record as a RowBinary row to `out`. [`Self::adopt_schema`]
    /// must have been called for `version_id`. On error `out` is unchanged.
    pub fn encode_row(&self, version_id: Uuid, record: &Value, meta: RecordMeta<'_>, out: &mut Vec<u8>) -> Result<(), ConvertError> {
        let start = out.len();
        let result = self.encode_row_inner(version_id, record, meta, out);
        if result.is_err() {
            out.truncate(start);
        }
        result
    }

    fn encode_row_inner(&self, version_id: Uuid, record: &Value, meta: RecordMeta<'_>, out: &mut Vec<u8>) -> Result<(), ConvertError> {
        let not_a_row = |reason: String| ConvertError {
            column: "<record>".into(),
            column_type: "-".into(),
            reason,
        };
        match (&self.layout, record) {
            (Layout::Append, Value::Record(fields)) => self.write_row(version_id, fields, meta, &|_| None, out),
            (Layout::Append, _) => Err(not_a_row("the value is not a record".into())),
            (Layout::Changelog { .. }, envelope) => {
                let change = changelog::change(envelope, meta.version).map_err(not_a_row)?;
                let markers = &self.markers;
                let special = |name: &str| match name {
                    n if n == markers.version => Some(Value::Long(change.version as i64)),
                    n if n == markers.deleted => Some(Value::Boolean(change.deleted)),
                    _ => None,
                };
                self.write_row(version_id, change.image, meta, &special, out)
            }
            (Layout::Changes, envelope) => {
                let images = changelog::images(envelope, meta.version).map_err(not_a_row)?;
                let markers = &self.markers;
                for (image, sign) in images.signed() {
                    let special = |name: &str| match name {
                        n if n == markers.op => Some(Value::String(images.op.to_string())),
                        n if n == markers.version => Some(Value::Long(images.version as i64)),
                        n if n == markers.sign => Some(Value::Int(sign)),
                        n if n == markers.partition => Some(Value::Int(meta.partition)),
                        _ => None,
                    };
                    self.write_row(version_id, image, meta, &special, out)?;
                }
                Ok(())
            }
        }
    }

    /// One RowBinary row: each column from its field of `fields`, else from
    /// `special` (the layout's own columns), else metadata or its default.
    fn write_row(
        &self,
        version_id: Uuid,
        fields: &[(String, Value)],
        meta: RecordMeta<'_>,
        special: &dyn Fn(&str) -> Option<Value>,
        out: &mut Vec<u8>,
    ) -> Result<(), ConvertError> {
        let map = &self.field_maps[&version_id];
        debug_assert_eq!(map.len(), self.columns.len(), "a field map for every column");
        for (column, field) in self.columns.iter().zip(map) {
            if let Some(i) = field {
                encode(column, &fields[*i].1, out)?;
                continue;
            }
            if let Some(value) = special(&column.name) {
                encode(column, &value, out)?;
                continue;
            }
            match column.name.as_str() {
                "_topic" if self.metadata_columns => encode(column, &Value::String(meta.topic.into()), out)?,
                "_partition" if self.metadata_columns => encode(column, &Value::Int(meta.partition), out)?,
                "_offset" if self.metadata_columns => encode(column, &Value::Long(meta.offset), out)?,
                "_timestamp" if self.metadata_columns => encode(column, &Value::TimestampMillis(meta.timestamp_ms), out)?,
                _ => encode_default(&column.column_type, out),
            }
        }
        Ok(())
    }

    /// Inserts the RowBinary `rows` in one INSERT carrying `token`. `rows` is
    /// reference-counted, so a retry resends it without copying.
    /// Inserts RowBinary `rows`; with a `token`, ClickHouse drops the insert
    /// if one with the same token is in the table's deduplication window.
    pub async fn insert(&self, rows: bytes::Bytes, token: Option<&str>) -> Result<(), TableError> {
        let column_list: Vec<String> = self.columns.iter().map(|c| quote(&c.name)).collect();
        let sql = format!("INSERT INTO {} ({}) FORMAT RowBinary", self.name, column_list.join(", "));
        let fail = |e| self.clickhouse_error(e);
        let mut insert = self.client.insert_formatted_with(sql);
        if let Some(token) = token {
            insert = insert
                .with_setting("insert_deduplicate", "1")
                .with_setting("insert_deduplication_token", token);
        }
        let mut rows = rows;
        if crate::faults::is_armed("mid_insert") && rows.len() > 1 {
            // Crash tests: the server has received part of the rows when the process dies.
            insert.send(rows.split_to(rows.len() / 2)).await.map_err(fail)?;
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            crate::faults::point("mid_insert");
        }
        insert.send(rows).await.map_err(fail)?;
        insert.end().await.map_err(fail)
    }
}

/// The row columns of `schema` for `layout`: the record's fields, or for a
/// changelog the fields of the envelope's row record with Debezium's types.
pub(super) fn fields_of(layout: &Layout, schema: &RegisteredSchema) -> Result<Vec<Column>, UnsupportedSchema> {
    match layout {
        Layout::Append => columns_of(&schema.schema),
        Layout::Changelog { .. } | Layout::Changes => {
            let row = changelog::row_schema(&schema.schema).ok_or_else(|| UnsupportedSchema {
                field: "after".into(),
                reason: "the topic carried change events before, but this schema is not a Debezium envelope".into(),
            })?;
            let mut columns = columns_of(row)?;
            changelog::refine(&mut columns, &schema.definition);
            Ok(columns)
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn server_exceptions_are_final_unless_transient() {
        use super::TableError;
        use clickhouse::error::Error;
        let bad = |text: &str| TableError::from_client("t", Error::BadResponse(text.into())).is_transient();
        assert!(!bad("Code: 53. DB::Exception: Type mismatch in VALUES section. (TYPE_MISMATCH)"));
        assert!(!bad("Code: 60. DB::Exception: Table db.t does not exist. (UNKNOWN_TABLE)"));
        assert!(bad("Code: 252. DB::Exception: Too many parts (300). (TOO_MANY_PARTS)"));
        assert!(bad("Code: 241. DB::Exception: Memory limit exceeded"));
        assert!(bad("502 Bad Gateway"), "a proxy's answer carries no exception code");
        assert!(TableError::from_client("t", Error::TimedOut).is_transient());
        assert!(!TableError::from_client("t", Error::NotEnoughData).is_transient());
    }

    use super::*;
    use crate::clickhouse::columns::ColumnType;

    #[test]
    fn rows_of_an_older_schema_version_fill_columns_added_later() {
        let version = |n: u128, definition: &str| RegisteredSchema {
            version_id: Uuid::from_u128(n),
            definition: definition.into(),
            schema: apache_avro::Schema::parse_str(definition).unwrap(),
        };
        let v1 = version(1, r#"{"type":"record","name":"R","fields":[{"name":"a","type":"long"}]}"#);
        let v2 = version(
            2,
            r#"{"type":"record","name":"R","fields":[{"name":"a","type":"long"},{"name":"b","type":["null","string"],"default":null}]}"#,
        );
        let mut table = Table {
            client: Client::default(),
            layout: Layout::Append,
            name: "t".into(),
            database: "db".into(),
            table: "t".into(),
            columns: vec![Column {
                name: "a".into(),
                column_type: ColumnType::Int64,
            }],
            metadata_columns: false,
            field_maps: HashMap::new(),
            known_keys: Default::default(),
            markers: Default::default(),
        };
        table.adopt_schema(&v1, SchemaChanges::default());
        let b = Column {
            name: "b".into(),
            column_type: ColumnType::Nullable(Box::new(ColumnType::String)),
        };
        table.adopt_schema(&v2, SchemaChanges { added: vec![b], retyped: Vec::new() });
        let meta = RecordMeta {
            topic: "t",
            partition: 0,
            offset: 0,
            timestamp_ms: 0,
            version: None,
        };
        let mut out = Vec::new();
        table.encode_row(v1.version_id, &Value::Record(vec![("a".into(), Value::Long(7))]), meta, &mut out).unwrap();
        assert_eq!(out, [&7i64.to_le_bytes()[..], &[1]].concat(), "a v1 row carries NULL for b");
        out.clear();
        let row = Value::Record(vec![("a".into(), Value::Long(8)), ("b".into(), Value::Union(1, Box::new(Value::String("x".into()))))]);
        table.encode_row(v2.version_id, &row, meta, &mut out).unwrap();
        assert_eq!(out, [&8i64.to_le_bytes()[..], &[0, 1, b'x']].concat());
    }

    #[test]
    fn identifiers_are_quoted() {
        assert_eq!(quote("a`b"), "`a\\`b`");
        assert_eq!(quote("clicks"), "`clicks`");
    }
}
