//! The ClickHouse table fed from one topic, in one of two [`Layout`]s:
//! append-only (`MergeTree`, a row per record) or a changelog of Debezium
//! change events (`ReplacingMergeTree(_version, _is_deleted)` ordered by the
//! source's primary key, see [`super::changelog`]). Created from the value
//! schema when missing, given new (nullable) columns when the schema grows,
//! and written in RowBinary with the batch's deduplication token.
//!
//! Guarantee: an insert either lands whole or not at all (one INSERT per
//! batch, below `max_insert_block_size`), and a retried insert with the same
//! token is dropped by ClickHouse. A table that cannot deduplicate (no
//! `non_replicated_deduplication_window`, not Replicated) is refused at start,
//! because exactly-once cannot hold on it. A changelog table whose sorting key
//! is not the source's primary key, or whose column would have to change type,
//! is refused with what to do: its partition stops, its records stay in Kafka.

use super::changelog;
use super::columns::{self, Column, ColumnType, ConvertError, UnsupportedSchema, columns_of, encode, encode_default};
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

const METADATA: [(&str, ColumnType); 4] = [
    ("_topic", ColumnType::LowCardinalityString),
    ("_partition", ColumnType::Int32),
    ("_offset", ColumnType::Int64),
    ("_timestamp", ColumnType::DateTime64(3)),
];

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
        let reason = e.to_string();
        let transient = match &e {
            clickhouse::error::Error::Network(_) | clickhouse::error::Error::TimedOut => true,
            clickhouse::error::Error::BadResponse(text) => exception_code(text).is_none_or(|code| TRANSIENT_CODES.contains(&code)),
            _ => false,
        };
        let table = table.to_string();
        if transient { Self::Unavailable { table, reason } } else { Self::Refused { table, reason } }
    }
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

pub struct TableSettings {
    pub metadata_columns: bool,
    pub create: bool,
    pub dedup_window: u64,
}

/// One target table and the rows of the batch being built for it.
pub struct Table {
    client: Client,
    layout: Layout,
    /// `` `db`.`table` ``
    name: String,
    database: String,
    table: String,
    columns: Vec<Column>,
    metadata_columns: bool,
    /// Per schema version: for each table column, the index of the record field feeding it.
    field_maps: HashMap<Uuid, Vec<Option<usize>>>,
    /// Key schema versions checked against a changelog table's sorting key.
    known_keys: std::collections::HashSet<Uuid>,
    /// A changelog table's version and deleted-flag columns (see [`changelog::Markers`]).
    markers: changelog::Markers,
}

pub use shared::sql::clickhouse_identifier as quote;

impl Table {
    /// Opens (creating if allowed and missing) `database.table` for records of `schema`.
    pub async fn open(
        client: Client,
        database: &str,
        table: &str,
        layout: Layout,
        schema: &RegisteredSchema,
        settings: &TableSettings,
    ) -> Result<Self, TableError> {
        let name = format!("{}.{}", quote(database), quote(table));
        let unusable = |reason: String| TableError::Unusable {
            table: name.clone(),
            reason,
        };
        let fields = fields_of(&layout, schema).map_err(|e| unusable(e.to_string()))?;
        let mut this = Self {
            client,
            layout,
            name: name.clone(),
            database: database.to_string(),
            table: table.to_string(),
            columns: Vec::new(),
            metadata_columns: settings.metadata_columns,
            field_maps: HashMap::new(),
            known_keys: Default::default(),
            markers: changelog::Markers::avoiding(fields.iter().map(|f| f.name.as_str())),
        };
        if settings.create {
            let mut defs: Vec<String> = fields.iter().map(|c| format!("{} {}", quote(&c.name), c.column_type)).collect();
            let (engine, order) = match &this.layout {
                Layout::Append if settings.metadata_columns => ("MergeTree".to_string(), "(_topic, _partition, _offset)".to_string()),
                Layout::Append => ("MergeTree".to_string(), "tuple()".to_string()),
                Layout::Changelog { key } => {
                    for k in key {
                        match fields.iter().find(|f| f.name == *k) {
                            Some(f) if !matches!(f.column_type, ColumnType::Nullable(_)) => {}
                            Some(_) => return Err(unusable(format!("primary-key column `{k}` is nullable in the value schema"))),
                            None => return Err(unusable(format!("primary-key column `{k}` is not a field of the row"))),
                        }
                    }
                    let markers = &this.markers;
                    defs.push(format!("{} UInt64", quote(&markers.version)));
                    defs.push(format!("{} UInt8", quote(&markers.deleted)));
                    let engine = format!("ReplacingMergeTree({}, {})", quote(&markers.version), quote(&markers.deleted));
                    (engine, format!("({})", key.iter().map(|k| quote(k)).collect::<Vec<_>>().join(", ")))
                }
                Layout::Changes => {
                    let markers = &this.markers;
                    defs.push(format!("{} LowCardinality(String)", quote(&markers.op)));
                    defs.push(format!("{} UInt64", quote(&markers.version)));
                    defs.push(format!("{} Int8", quote(&markers.sign)));
                    defs.push(format!("{} Int32", quote(&markers.partition)));
                    ("MergeTree".to_string(), format!("({})", quote(&markers.version)))
                }
            };
            if settings.metadata_columns {
                defs.extend(METADATA.iter().map(|(n, t)| format!("{} {t}", quote(n))));
            }
            let ddl = format!(
                "CREATE TABLE IF NOT EXISTS {name} ({}) ENGINE = {engine} ORDER BY {order} \
                 SETTINGS non_replicated_deduplication_window = {}",
                defs.join(", "),
                settings.dedup_window
            );
            this.execute(&ddl).await?;
        }
        this.check_engine().await?;
        this.columns = this.describe().await?;
        if this.layout == Layout::Changes {
            let names: Vec<String> = this.columns.iter().map(|c| c.name.clone()).collect();
            this.markers = changelog::Markers::of_columns(&names).ok_or_else(|| {
                unusable("receives the changes of a table without a primary key but lacks a change table's _op, _version, _sign and _kafka_partition columns; drop it or map the topic to another table".into())
            })?;
        }
        this.add_missing(&fields).await?;
        for (meta, _) in METADATA.iter().filter(|_| settings.metadata_columns) {
            if !this.columns.iter().any(|c| c.name == *meta) {
                return Err(unusable(format!("metadata columns are on but the table has no `{meta}` column")));
            }
        }
        Ok(this)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The table's own name (unquoted, without the database).
    pub fn table(&self) -> &str {
        &self.table
    }

    fn unusable(&self, reason: String) -> TableError {
        TableError::Unusable {
            table: self.name.clone(),
            reason,
        }
    }

    fn clickhouse_error(&self, e: clickhouse::error::Error) -> TableError {
        TableError::from_client(&self.name, e)
    }

    async fn execute(&self, sql: &str) -> Result<(), TableError> {
        self.client.query(sql).execute().await.map_err(|e| self.clickhouse_error(e))
    }

    /// The table deduplicates inserts, and a changelog table replaces rows by
    /// version and is sorted by the source's primary key.
    async fn check_engine(&mut self) -> Result<(), TableError> {
        let engine: Option<(String, String, String)> = self
            .client
            .query("SELECT engine, engine_full, sorting_key FROM system.tables WHERE database = ? AND name = ?")
            .bind(&self.database)
            .bind(&self.table)
            .fetch_optional()
            .await
            .map_err(|e| self.clickhouse_error(e))?;
        let Some((engine, full, sorting_key)) = engine else {
            return Err(self.unusable("does not exist (and table creation is off)".into()));
        };
        let dedup = engine.starts_with("Replicated")
            || engine.starts_with("Shared")
            || full.split("non_replicated_deduplication_window = ").nth(1).is_some_and(|v| !v.starts_with('0'));
        if !dedup {
            return Err(self.unusable(format!(
                "engine {engine} does not deduplicate inserts, so a retried batch could be stored twice; \
                 run `ALTER TABLE {} MODIFY SETTING non_replicated_deduplication_window = 1000` (or use a Replicated table)",
                self.name
            )));
        }
        if let Layout::Changelog { key } = &self.layout {
            if !engine.contains("ReplacingMergeTree") {
                return Err(self.unusable(format!(
                    "receives change events but its engine is {engine}; updates and deletes need \
                     ReplacingMergeTree({}, {}) — drop it or map the topic to another table",
                    changelog::VERSION,
                    changelog::IS_DELETED
                )));
            }
            if let Some(markers) = changelog::Markers::of_engine(&full) {
                self.markers = markers;
            }
            let sorted = changelog::identifiers(&sorting_key);
            if sorted != *key {
                return Err(self.unusable(format!(
                    "is sorted by ({sorting_key}) but the source's primary key is ({}): it {}",
                    key.join(", "),
                    changelog::REKEY
                )));
            }
        }
        Ok(())
    }

    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    async fn describe(&self) -> Result<Vec<Column>, TableError> {
        let rows: Vec<(String, String)> = self
            .client
            .query("SELECT name, type FROM system.columns WHERE database = ? AND table = ? ORDER BY position")
            .bind(&self.database)
            .bind(&self.table)
            .fetch_all()
            .await
            .map_err(|e| self.clickhouse_error(e))?;
        // Known columns keep their declared type text; we only need names to
        // address them and our own mapping to encode them (checked on first use).
        Ok(rows
            .into_iter()
            .map(|(name, type_text)| Column {
                column_type: parse_type(&type_text),
                name,
            })
            .collect())
    }

    /// Adds the schema's fields the table lacks, as nullable columns.
    async fn add_missing(&mut self, fields: &[Column]) -> Result<(), TableError> {
        for column in self.missing(fields) {
            self.add_column(&column).await?;
            self.columns.push(column);
        }
        Ok(())
    }

    /// The columns `fields` need that the table lacks, typed as they will be added.
    fn missing(&self, fields: &[Column]) -> Vec<Column> {
        fields
            .iter()
            .filter(|f| !self.columns.iter().any(|c| c.name == f.name))
            .map(|f| Column {
                name: f.name.clone(),
                column_type: match &f.column_type {
                    t @ (ColumnType::Nullable(_) | ColumnType::Array(_) | ColumnType::Map(_)) => t.clone(),
                    t => ColumnType::Nullable(Box::new(t.clone())),
                },
            })
            .collect()
    }

    async fn add_column(&self, column: &Column) -> Result<(), TableError> {
        self.execute(&format!(
            "ALTER TABLE {} ADD COLUMN IF NOT EXISTS {} {}",
            self.name,
            quote(&column.name),
            column.column_type
        ))
        .await?;
        tracing::info!(table = %self.name, column = %column.name, column_type = %column.column_type, "added column for a new schema field");
        Ok(())
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

    /// Makes the table ready for schema version `schema` (schema evolution):
    /// adds the columns it lacks (nullable), and for a changelog table changes
    /// a column whose type no longer holds the field's — in place when the
    /// new type holds every old value unchanged (a widening: integer width or
    /// signedness, decimal digits, NOT NULL → NULL, DateTime64 precision,
    /// Float32 → Float64) or is text of an integer (what MySQL does to the
    /// rows); replaced by a column of the new type when the table has no live
    /// row to convert (after a truncate or a drop). Anything else — and any
    /// change of a sorting-key column — is refused with the fix. Call
    /// [`Self::adopt_schema`] with the result afterwards.
    pub async fn prepare_schema(&self, schema: &RegisteredSchema) -> Result<SchemaChanges, TableError> {
        let fields = fields_of(&self.layout, schema).map_err(|e| self.unusable(e.to_string()))?;
        let mut retyped = Vec::new();
        let key: Option<&[String]> = match &self.layout {
            Layout::Changelog { key } => Some(key),
            Layout::Changes => Some(&[]),
            Layout::Append => None,
        };
        if let Some(key) = key {
            for field in &fields {
                let Some(column) = self.columns.iter().find(|c| c.name == field.name) else { continue };
                if holds(&column.column_type, &field.column_type) {
                    continue;
                }
                let nullable = matches!(column.column_type, ColumnType::Nullable(_)) || matches!(field.column_type, ColumnType::Nullable(_));
                let inner = field.column_type.strip_nullable().clone();
                let target = if nullable && !matches!(inner, ColumnType::Array(_) | ColumnType::Map(_)) { ColumnType::Nullable(Box::new(inner)) } else { inner };
                let old = column.column_type.strip_nullable();
                let refuse = |why: &str| {
                    self.unusable(format!(
                        "column `{}` is {} but schema version {} sends {}: {why}. The records wait in Kafka: \
                         change the column by hand (ALTER TABLE … MODIFY COLUMN) or drop the table so that it is \
                         re-created and re-snapshot the source table, then restart",
                        field.name, column.column_type, schema.version_id, field.column_type
                    ))
                };
                if key.contains(&field.name) {
                    return Err(refuse("it is in the sorting key, which ClickHouse cannot retype"));
                }
                let in_place = columns::contains(target.strip_nullable(), old)
                    || (*target.strip_nullable() == ColumnType::String && columns::is_integer(old));
                let how = if in_place {
                    format!("ALTER TABLE {} MODIFY COLUMN {} {target}", self.name, quote(&column.name))
                } else if matches!(self.layout, Layout::Changelog { .. }) && self.live_rows().await? == 0 {
                    format!("ALTER TABLE {0} DROP COLUMN IF EXISTS {1}, ADD COLUMN {1} {target}", self.name, quote(&column.name))
                } else {
                    return Err(refuse("the table has live rows whose values ClickHouse cannot convert exactly as MySQL did"));
                };
                self.execute(&how).await?;
                tracing::info!(table = %self.name, column = %column.name, from = %column.column_type, to = %target, "retyped a column for a source type change");
                retyped.push(Column { name: column.name.clone(), column_type: target });
            }
        }
        let added = self.missing(&fields);
        for column in &added {
            self.add_column(column).await?;
        }
        Ok(SchemaChanges { added, retyped })
    }

    /// Rows not deleted (`FINAL`).
    async fn live_rows(&self) -> Result<u64, TableError> {
        self.client
            .query(&format!("SELECT count() FROM {} FINAL WHERE {} = 0", self.name, quote(&self.markers.deleted)))
            .fetch_one()
            .await
            .map_err(|e| self.clickhouse_error(e))
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
fn fields_of(layout: &Layout, schema: &RegisteredSchema) -> Result<Vec<Column>, UnsupportedSchema> {
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

/// Whether a column of type `column` can store every value of a field of
/// type `field` unchanged (see [`columns::contains`]), NULL included.
fn holds(column: &ColumnType, field: &ColumnType) -> bool {
    let null_ok = matches!(column, ColumnType::Nullable(_)) || !matches!(field, ColumnType::Nullable(_));
    null_ok && columns::contains(column.strip_nullable(), field.strip_nullable())
}

/// What [`Table::prepare_schema`] changed for a schema version.
#[derive(Debug, Default)]
pub struct SchemaChanges {
    /// Columns added (nullable).
    pub added: Vec<Column>,
    /// Columns given a new type.
    pub retyped: Vec<Column>,
}

/// The subset of ClickHouse type names we encode; anything else is written as
/// if it were `String` and will be refused by ClickHouse on insert if wrong.
fn parse_type(text: &str) -> ColumnType {
    let inner = |prefix: &str| text.strip_prefix(prefix).and_then(|t| t.strip_suffix(')'));
    if text == "LowCardinality(Nullable(String))" {
        return ColumnType::Nullable(Box::new(ColumnType::LowCardinalityString));
    }
    if let Some(t) = inner("Nullable(") {
        return ColumnType::Nullable(Box::new(parse_type(t)));
    }
    if let Some(t) = inner("Array(") {
        return ColumnType::Array(Box::new(parse_type(t)));
    }
    if let Some(t) = inner("Map(String, ") {
        return ColumnType::Map(Box::new(parse_type(t)));
    }
    if let Some(t) = inner("FixedString(") {
        return ColumnType::FixedString(t.parse().unwrap_or(0));
    }
    if let Some(t) = inner("DateTime64(") {
        return ColumnType::DateTime64(t.split(',').next().and_then(|p| p.trim().parse().ok()).unwrap_or(3));
    }
    if let Some(t) = inner("Decimal(") {
        let mut parts = t.split(',').map(|p| p.trim().parse().unwrap_or(0));
        return ColumnType::Decimal {
            precision: parts.next().unwrap_or(38),
            scale: parts.next().unwrap_or(0),
        };
    }
    match text {
        "Bool" => ColumnType::Bool,
        "Int8" => ColumnType::Int8,
        "Int16" => ColumnType::Int16,
        "Int32" => ColumnType::Int32,
        "Int64" => ColumnType::Int64,
        "UInt8" => ColumnType::UInt8,
        "UInt16" => ColumnType::UInt16,
        "UInt32" => ColumnType::UInt32,
        "UInt64" => ColumnType::UInt64,
        "Float32" => ColumnType::Float32,
        "Float64" => ColumnType::Float64,
        "UUID" => ColumnType::Uuid,
        "Date32" => ColumnType::Date32,
        "LowCardinality(String)" => ColumnType::LowCardinalityString,
        _ => ColumnType::String,
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

    #[test]
    fn type_names_round_trip() {
        for t in [
            "Int64",
            "Nullable(String)",
            "DateTime64(3, 'UTC')",
            "Decimal(12, 2)",
            "Array(Int32)",
            "Map(String, Float64)",
            "LowCardinality(String)",
            "LowCardinality(Nullable(String))",
            "UInt64",
            "FixedString(4)",
        ] {
            assert_eq!(parse_type(t).to_string(), t);
        }
    }

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
