//! The ClickHouse side of a table's shape: created from the value schema
//! when missing, its engine and sorting key checked against what the topic
//! carries, and evolved with the schema — columns added (nullable) for new
//! fields, retyped for widened types.
//!
//! Guarantee: a table that cannot deduplicate inserts (no
//! `non_replicated_deduplication_window`, not Replicated) is refused, because
//! exactly-once cannot hold on it; a changelog table whose sorting key is not
//! the source's primary key, or whose column would have to change in a way
//! ClickHouse cannot do as MySQL did, is refused with what to do: its
//! partition stops, its records stay in Kafka. A column is only ever changed
//! to a type that holds every value it had (or replaced when the table has no
//! live row).

use super::changelog;
use super::columns::{self, Column, ColumnType};
use super::table::{Layout, Table, TableError, fields_of, quote};
use clickhouse::Client;
use shared::glue::RegisteredSchema;
use std::collections::HashMap;

const METADATA: [(&str, ColumnType); 4] = [
    ("_topic", ColumnType::LowCardinalityString),
    ("_partition", ColumnType::Int32),
    ("_offset", ColumnType::Int64),
    ("_timestamp", ColumnType::DateTime64(3)),
];

pub struct TableSettings {
    pub metadata_columns: bool,
    pub create: bool,
    pub dedup_window: u64,
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
}

#[cfg(test)]
mod tests {
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
}
