//! Encoding the records of one table shape: its key and envelope schemas are
//! derived once per shape and registered in Glue (a new shape — a DDL — is a
//! new schema version, checked against the schema's compatibility rule), or
//! written as Kafka Connect JSON. Excluded columns never reach an encoder.

use crate::config::{CaptureConfig, OutputFormat};
use crate::envelope::{Op, SourceInfo, envelope};
use crate::table::{ColumnKind, TableSchema};
use crate::values::{Origin, column_value};
use anyhow::{Context, Result};
use apache_avro::Schema;
use apache_avro::types::Value;
use mysql_common::binlog::value::BinlogValue;
use shared::connect_json::{ConnectJsonWriter, payload};
use crate::avro_binary;
use shared::retry::{Gave, RetryPolicy};
use shared::glue::{Compression, GlueAvroEncoder, GlueSchemaCache, RegisteredSchema, RegistrationOptions, wire};
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;

/// Column values of one row by column index, from the binlog or from a query.
pub trait RowValues {
    fn value(&self, index: usize) -> Option<&BinlogValue<'_>>;
}

impl RowValues for Vec<BinlogValue<'static>> {
    fn value(&self, index: usize) -> Option<&BinlogValue<'_>> {
        self.get(index)
    }
}

enum Encoder {
    /// The schema lives as long as the process (one per table shape, a handful).
    Avro(GlueAvroEncoder<'static>),
    Json(ConnectJsonWriter),
}

impl Encoder {
    fn encode(&self, value: &Value, out: &mut Vec<u8>) -> Result<()> {
        match self {
            Encoder::Avro(e) => e.encode_value(value, out).map_err(Into::into),
            Encoder::Json(w) => w.write(&payload(value), out).map_err(Into::into),
        }
    }
}

/// The encoders of one table shape.
pub struct TableCodec {
    pub topic: String,
    /// The shape without excluded columns.
    pub table: TableSchema,
    /// For each kept column, its index in the row images.
    kept: Vec<usize>,
    key: Option<Encoder>,
    value: Encoder,
}

/// One encoded change: key and value bytes (value `None` for a tombstone).
pub struct Encoded {
    pub key: Option<Vec<u8>>,
    pub value: Vec<u8>,
}

/// A row image: the kept columns' Avro values, in column order.
#[derive(Debug, Clone, PartialEq)]
pub struct Row(pub Vec<Value>);

impl TableCodec {
    /// The values of a row image (kept columns only).
    pub fn row(&self, row: &dyn RowValues, origin: Origin) -> Result<Row, String> {
        let mut values = Vec::with_capacity(self.kept.len());
        for (column, &index) in self.table.columns.iter().zip(&self.kept) {
            values.push(column_value(column, row.value(index), origin)?);
        }
        Ok(Row(values))
    }

    /// The row as a named Avro record (the JSON path and tests).
    pub fn record(&self, row: &Row) -> Value {
        Value::Record(self.table.columns.iter().zip(&row.0).map(|(c, v)| (c.field.clone(), v.clone())).collect())
    }

    /// Whether an update moved the row to another primary key.
    pub fn key_changed(&self, before: &Row, after: &Row) -> bool {
        self.table.primary_key.iter().any(|&i| before.0[i] != after.0[i])
    }

    /// The row's key as compact JSON (`{"id":1}`), for the key-change headers.
    pub fn key_json(&self, row: &Row) -> String {
        let fields: serde_json::Map<String, serde_json::Value> = self
            .table
            .primary_key
            .iter()
            .map(|&i| {
                let value = serde_json::Value::try_from(row.0[i].clone()).unwrap_or(serde_json::Value::Null);
                (self.table.columns[i].name.clone(), value)
            })
            .collect();
        serde_json::Value::Object(fields).to_string()
    }

    /// Encodes one change event; the key comes from the after image (the before image for deletes).
    pub fn encode(&self, op: Op, before: Option<Row>, after: Option<Row>, source: &SourceInfo, ts_ms: i64) -> Result<Encoded> {
        let key_row = after.as_ref().or(before.as_ref());
        let key = match (&self.key, key_row) {
            (Some(Encoder::Avro(encoder)), Some(row)) => {
                let mut out = Vec::with_capacity(32);
                wire::write_header(&mut out, &encoder.version_id(), Compression::None);
                for &i in &self.table.primary_key {
                    avro_binary::value(&mut out, &row.0[i]).map_err(anyhow::Error::msg)?;
                }
                Some(out)
            }
            (Some(encoder), Some(row)) => {
                let fields = self.table.primary_key.iter().map(|&i| (self.table.columns[i].field.clone(), row.0[i].clone())).collect();
                let mut out = Vec::with_capacity(32);
                encoder.encode(&Value::Record(fields), &mut out)?;
                Some(out)
            }
            _ => None,
        };
        let mut value = Vec::with_capacity(256);
        match &self.value {
            Encoder::Avro(encoder) => {
                wire::write_header(&mut value, &encoder.version_id(), Compression::None);
                write_envelope(&mut value, op, before.as_ref(), after.as_ref(), source, ts_ms).map_err(anyhow::Error::msg)?;
            }
            json => {
                let image = |row: Option<Row>| row.map(|r| self.record(&r));
                json.encode(&envelope(op, image(before), image(after), source, ts_ms), &mut value)?;
            }
        }
        Ok(Encoded { key, value })
    }
}

/// The envelope in Avro binary, field by field as `TableSchema::envelope_schema` declares it.
fn write_envelope(out: &mut Vec<u8>, op: Op, before: Option<&Row>, after: Option<&Row>, source: &SourceInfo, ts_ms: i64) -> Result<(), String> {
    for image in [before, after] {
        match image {
            None => avro_binary::union(out, 0),
            Some(row) => {
                avro_binary::union(out, 1);
                for v in &row.0 {
                    avro_binary::value(out, v)?;
                }
            }
        }
    }
    write_source(out, source);
    avro_binary::string(out, op.code());
    avro_binary::union(out, 1);
    avro_binary::long(out, ts_ms);
    avro_binary::union(out, 0); // transaction
    Ok(())
}

/// `source` in Avro binary, as `envelope::source_schema` declares it.
fn write_source(out: &mut Vec<u8>, source: &SourceInfo) {
    use avro_binary::{long, string, union};
    string(out, crate::envelope::CONNECTOR_VERSION);
    string(out, "mysql");
    string(out, &source.name);
    long(out, source.ts_ms);
    union(out, 0);
    string(out, source.snapshot.as_str());
    string(out, &source.db);
    union(out, 0); // sequence
    union(out, 1);
    string(out, &source.table);
    long(out, i64::from(source.server_id));
    match &source.gtid {
        Some(gtid) => {
            union(out, 1);
            string(out, gtid);
        }
        None => union(out, 0),
    }
    string(out, &source.file);
    long(out, source.pos as i64);
    long(out, i64::from(source.row));
    match source.thread {
        Some(thread) => {
            union(out, 1);
            long(out, thread as i64);
        }
        None => union(out, 0),
    }
    union(out, 0); // query
}

/// Finds or builds the codec of each table shape.
pub struct Codecs {
    capture: CaptureConfig,
    registry: Option<Arc<GlueSchemaCache>>,
    options: RegistrationOptions,
    by_shape: HashMap<TableSchema, Rc<TableCodec>>,
    /// The codec last used for each `(database, table)`.
    latest: HashMap<(String, String), Rc<TableCodec>>,
    /// The table each table topic carries (two names can map to one topic).
    topic_owners: HashMap<String, (String, String)>,
    /// Encoders of the fixed-schema topics (schema changes, heartbeats), by topic.
    fixed: HashMap<String, (Encoder, Encoder)>,
    /// A registry that is unreachable (not one that refuses) is retried with backoff.
    retry: RetryPolicy,
}

impl Codecs {
    pub fn new(capture: CaptureConfig, registry: Option<Arc<GlueSchemaCache>>, retry: RetryPolicy) -> Self {
        let compatibility = capture.schema_compatibility;
        Self {
            capture,
            registry,
            options: RegistrationOptions {
                compatibility: compatibility.0,
                ..RegistrationOptions::default()
            },
            by_shape: HashMap::new(),
            latest: HashMap::new(),
            topic_owners: HashMap::new(),
            fixed: HashMap::new(),
            retry,
        }
    }

    /// Encodes a schema-change event (key `{databaseName}`) for `<topic_prefix>`.
    pub async fn schema_change(&mut self, key: &Value, value: &Value) -> Result<Encoded> {
        let topic = self.capture.topic_prefix.clone();
        let schemas = || (crate::schema_change::key_schema(&topic), crate::schema_change::value_schema());
        self.fixed_record(&topic, schemas, key, value).await
    }

    /// Encodes a heartbeat (`{serverName}` → `{ts_ms}`) for `topic`.
    pub async fn heartbeat(&mut self, topic: &str, ts_ms: i64) -> Result<Encoded> {
        let server = self.capture.topic_prefix.clone();
        let schemas = || {
            (
                serde_json::json!({"type": "record", "name": "ServerNameKey", "namespace": "io.debezium.connector.mysql",
                                   "fields": [{"name": "serverName", "type": "string"}]}),
                serde_json::json!({"type": "record", "name": "Heartbeat", "namespace": "io.debezium.connector.mysql",
                                   "fields": [{"name": "ts_ms", "type": "long"}]}),
            )
        };
        let key = Value::Record(vec![("serverName".into(), Value::String(server))]);
        let value = Value::Record(vec![("ts_ms".into(), Value::Long(ts_ms))]);
        self.fixed_record(topic, schemas, &key, &value).await
    }

    async fn fixed_record(
        &mut self,
        topic: &str,
        schemas: impl FnOnce() -> (serde_json::Value, serde_json::Value),
        key: &Value,
        value: &Value,
    ) -> Result<Encoded> {
        if !self.fixed.contains_key(topic) {
            let (key_schema, value_schema) = schemas();
            let encoders = self.encoders(topic, &key_schema, &value_schema).await?;
            self.fixed.insert(topic.to_string(), encoders);
        }
        let (key_encoder, value_encoder) = &self.fixed[topic];
        let mut key_bytes = Vec::new();
        key_encoder.encode(key, &mut key_bytes)?;
        let mut value_bytes = Vec::new();
        value_encoder.encode(value, &mut value_bytes)?;
        Ok(Encoded {
            key: Some(key_bytes),
            value: value_bytes,
        })
    }

    /// Key and value encoders for `topic` in the configured format.
    async fn encoders(&self, topic: &str, key: &serde_json::Value, value: &serde_json::Value) -> Result<(Encoder, Encoder)> {
        Ok(match (self.capture.format, &self.registry) {
            (OutputFormat::Avro, Some(registry)) => (
                Encoder::Avro(self.register(registry, &format!("{topic}-key"), key).await?),
                Encoder::Avro(self.register(registry, &format!("{topic}-value"), value).await?),
            ),
            _ => {
                let parse = |json: &serde_json::Value| Schema::parse(json).with_context(|| format!("schema of {topic}"));
                (
                    Encoder::Json(ConnectJsonWriter::new(&parse(key)?, true)),
                    Encoder::Json(ConnectJsonWriter::new(&parse(value)?, true)),
                )
            }
        })
    }

    /// The codec this run last used for `database.table`, if any.
    pub fn latest(&self, database: &str, table: &str) -> Option<Rc<TableCodec>> {
        self.latest.get(&(database.to_string(), table.to_string())).cloned()
    }

    pub async fn for_table(&mut self, shape: &TableSchema) -> Result<Rc<TableCodec>> {
        let codec = self.codec_of(shape).await?;
        let name = (shape.database.clone(), shape.table.clone());
        if !self.latest.get(&name).is_some_and(|c| Rc::ptr_eq(c, &codec)) {
            self.latest.insert(name, codec.clone());
        }
        Ok(codec)
    }

    async fn codec_of(&mut self, shape: &TableSchema) -> Result<Rc<TableCodec>> {
        if let Some(codec) = self.by_shape.get(shape) {
            return Ok(codec.clone());
        }
        let (mut table, kept) = shape
            .clone()
            .without_columns(|column| self.capture.excludes_column(&shape.database, &shape.table, column));
        if self.capture.bigint_unsigned_handling == crate::config::BigintUnsignedHandling::Precise {
            for column in &mut table.columns {
                if column.kind == (ColumnKind::Integer { bytes: 8, unsigned: true }) {
                    column.kind = ColumnKind::UnsignedBigintDecimal;
                }
            }
        }
        if let Some(columns) = self.capture.key_columns.get(&format!("{}.{}", shape.database, shape.table)) {
            table.primary_key = columns
                .iter()
                .map(|name| table.columns.iter().position(|c| c.name.eq_ignore_ascii_case(name)))
                .collect::<Option<Vec<usize>>>()
                .with_context(|| {
                    format!(
                        "capture.key_columns names {columns:?} for `{}`.`{}`, which has no such column (it has {:?}): fix the setting",
                        shape.database,
                        shape.table,
                        table.columns.iter().map(|c| &c.name).collect::<Vec<_>>()
                    )
                })?;
        }
        let topic = self.capture.topic_for(&shape.database, &shape.table);
        let owner = (shape.database.clone(), shape.table.clone());
        match self.topic_owners.get(&topic) {
            Some(other) if *other != owner => anyhow::bail!(
                "`{}`.`{}` and `{}`.`{}` both map to topic {topic} (characters a topic cannot hold become _): rename one of the \
                 tables, or leave one out (capture.exclude_tables)",
                other.0,
                other.1,
                owner.0,
                owner.1
            ),
            Some(_) => {}
            None => {
                self.topic_owners.insert(topic.clone(), owner);
            }
        }
        let prefix = &self.capture.topic_prefix;
        let key_schema = table.key_schema(prefix);
        let value_schema = table.envelope_schema(prefix);
        let (key, value) = match key_schema {
            Some(key_schema) => {
                let (key, value) = self.encoders(&topic, &key_schema, &value_schema).await?;
                (Some(key), value)
            }
            // No primary key: no key schema, records have a null key.
            None => match (self.capture.format, &self.registry) {
                (OutputFormat::Avro, Some(registry)) => (None, Encoder::Avro(self.register(registry, &format!("{topic}-value"), &value_schema).await?)),
                _ => (None, Encoder::Json(ConnectJsonWriter::new(&Schema::parse(&value_schema)?, true))),
            },
        };
        tracing::info!(%topic, columns = table.columns.len(), key = ?table.primary_key, "table shape registered");
        let codec = Rc::new(TableCodec {
            topic,
            table,
            kept,
            key,
            value,
        });
        self.by_shape.insert(shape.clone(), codec.clone());
        Ok(codec)
    }

    async fn register(&self, registry: &GlueSchemaCache, name: &str, schema: &serde_json::Value) -> Result<GlueAvroEncoder<'static>> {
        let text = schema.to_string();
        let registered: Arc<RegisteredSchema> = self
            .retry
            .run(&format!("registering schema {name}"), || registry.register(name, &text, &self.options), |e| e.is_transient())
            .await
            .map_err(Gave::into_inner)
            .map_err(|e| match e {
                e @ shared::glue::RegistryError::Incompatible { .. } => anyhow::anyhow!(
                    "{e}. The table changed in a way the schema's compatibility rule refuses; the source must follow the table: \
                     set the schema's compatibility to NONE (aws glue update-schema --schema-id SchemaName={name},RegistryName=<registry> \
                     --compatibility NONE) and restart (new schemas get capture.schema_compatibility, NONE by default)"
                ),
                e => anyhow::Error::new(e),
            })
            .with_context(|| format!("registering schema {name}"))?;
        // One leak per table shape over the life of the process: the encoder borrows its schema.
        let registered: &'static RegisteredSchema = Box::leak(Box::new(RegisteredSchema::clone(&registered)));
        Ok(GlueAvroEncoder::new(registered, Compression::None)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::{Charset, Column, ColumnKind};
    use apache_avro::writer::datum::GenericDatumWriter;

    #[test]
    fn direct_envelope_bytes_equal_apache_avros() {
        let column = |name: &str, kind: ColumnKind, nullable: bool| Column {
            name: name.into(),
            field: name.into(),
            kind,
            nullable,
        };
        let table = TableSchema {
            database: "shop".into(),
            table: "orders".into(),
            columns: vec![
                column("id", ColumnKind::Integer { bytes: 8, unsigned: false }, false),
                column("note", ColumnKind::Text { charset: Charset::Utf8 }, true),
                column("amount", ColumnKind::Decimal { precision: 10, scale: 2 }, false),
                column("at", ColumnKind::DateTime { fsp: 6 }, true),
            ],
            primary_key: vec![0],
        };
        let schema = Schema::parse(&table.envelope_schema("p")).unwrap();
        let row = Row(vec![
            Value::Long(-5),
            Value::Union(1, Box::new(Value::String("hi".into()))),
            Value::Decimal(apache_avro::Decimal::from(vec![0x30, 0x39])),
            Value::Union(0, Box::new(Value::Null)),
        ]);
        let source = SourceInfo {
            name: "p".into(),
            ts_ms: 1_700_000_000_000,
            snapshot: crate::envelope::SnapshotMarker::Last,
            db: "shop".into(),
            table: "orders".into(),
            server_id: 7,
            gtid: Some("0-1-9".into()),
            file: "bin.000001".into(),
            pos: 1234,
            row: 3,
            thread: None,
        };
        let mut direct = Vec::new();
        write_envelope(&mut direct, Op::Update, Some(&row), Some(&row), &source, 42).unwrap();
        let record = |r: &Row| Value::Record(table.columns.iter().zip(&r.0).map(|(c, v)| (c.field.clone(), v.clone())).collect());
        let value = envelope(Op::Update, Some(record(&row)), Some(record(&row)), &source, 42);
        let writer = GenericDatumWriter::builder(&schema).build().unwrap();
        let mut reference = Vec::new();
        writer.write_value_ref(&mut reference, &value).unwrap();
        assert_eq!(direct, reference);
    }
}
