//! Encoding the records of one table shape: its key and envelope schemas are
//! derived once per shape and registered in Glue (a new shape — a DDL — is a
//! new schema version, checked against the schema's compatibility rule), or
//! written as Kafka Connect JSON. Excluded columns never reach an encoder.

use crate::config::{CaptureConfig, OutputFormat};
use crate::envelope::{Op, SourceInfo, envelope};
use crate::table::TableSchema;
use crate::values::{Origin, column_value};
use anyhow::{Context, Result};
use apache_avro::Schema;
use apache_avro::types::Value;
use mysql_common::binlog::row::BinlogRow;
use mysql_common::binlog::value::BinlogValue;
use shared::connect_json::{ConnectJsonWriter, payload};
use shared::glue::{Compression, GlueAvroEncoder, GlueSchemaCache, RegisteredSchema, RegistrationOptions};
use std::collections::HashMap;
use std::sync::Arc;

/// Column values of one row by column index, from the binlog or from a query.
pub trait RowValues {
    fn value(&self, index: usize) -> Option<&BinlogValue<'_>>;
}

impl RowValues for BinlogRow {
    fn value(&self, index: usize) -> Option<&BinlogValue<'_>> {
        self.as_ref(index)
    }
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

impl TableCodec {
    /// The Avro record of a row image (kept columns only).
    pub fn row(&self, row: &dyn RowValues, origin: Origin) -> Result<Value, String> {
        let mut fields = Vec::with_capacity(self.kept.len());
        for (column, &index) in self.table.columns.iter().zip(&self.kept) {
            fields.push((column.field.clone(), column_value(column, row.value(index), origin)?));
        }
        Ok(Value::Record(fields))
    }

    /// Encodes one change event; `image` is the after image (before for deletes), for the key.
    pub fn encode(&self, op: Op, before: Option<Value>, after: Option<Value>, source: &SourceInfo, ts_ms: i64) -> Result<Encoded> {
        let key_source = after.as_ref().or(before.as_ref());
        let key = match (&self.key, key_source) {
            (Some(encoder), Some(Value::Record(fields))) => {
                let key_fields: Vec<(String, Value)> = self.table.primary_key.iter().map(|&i| fields[i].clone()).collect();
                let mut out = Vec::with_capacity(32);
                encoder.encode(&Value::Record(key_fields), &mut out)?;
                Some(out)
            }
            _ => None,
        };
        let mut value = Vec::with_capacity(256);
        self.value.encode(&envelope(op, before, after, source, ts_ms), &mut value)?;
        Ok(Encoded { key, value })
    }
}

/// Finds or builds the codec of each table shape.
pub struct Codecs {
    capture: CaptureConfig,
    registry: Option<Arc<GlueSchemaCache>>,
    options: RegistrationOptions,
    by_shape: HashMap<TableSchema, Arc<TableCodec>>,
    schema_change: Option<(Encoder, Encoder)>,
}

impl Codecs {
    pub fn new(capture: CaptureConfig, registry: Option<Arc<GlueSchemaCache>>) -> Self {
        Self {
            capture,
            registry,
            options: RegistrationOptions::default(),
            by_shape: HashMap::new(),
            schema_change: None,
        }
    }

    /// Encodes a schema-change event (key `{databaseName}`) for `<topic_prefix>`.
    pub async fn schema_change(&mut self, key: &Value, value: &Value) -> Result<Encoded> {
        if self.schema_change.is_none() {
            let prefix = self.capture.topic_prefix.clone();
            let key_schema = crate::schema_change::key_schema(&prefix);
            let value_schema = crate::schema_change::value_schema();
            self.schema_change = Some(self.encoders(&prefix, &key_schema, &value_schema).await?);
        }
        let (key_encoder, value_encoder) = self.schema_change.as_ref().expect("set above");
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

    pub async fn for_table(&mut self, shape: &TableSchema) -> Result<Arc<TableCodec>> {
        if let Some(codec) = self.by_shape.get(shape) {
            return Ok(codec.clone());
        }
        let (table, kept) = shape
            .clone()
            .without_columns(|column| self.capture.excludes_column(&shape.database, &shape.table, column));
        let topic = self.capture.topic_for(&shape.database, &shape.table);
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
        let codec = Arc::new(TableCodec {
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
        let registered: Arc<RegisteredSchema> = registry
            .register(name, &schema.to_string(), &self.options)
            .await
            .with_context(|| format!("registering schema {name}"))?;
        // One leak per table shape over the life of the process: the encoder borrows its schema.
        let registered: &'static RegisteredSchema = Box::leak(Box::new(RegisteredSchema::clone(&registered)));
        Ok(GlueAvroEncoder::new(registered, Compression::None)?)
    }
}
