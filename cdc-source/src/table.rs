//! The shape of a captured table as the binlog describes it at the moment of
//! each change: column names, types, nullability, signedness, charsets,
//! ENUM/SET values and the primary key, all from the table-map event's
//! optional metadata (`binlog_row_metadata = FULL`). Because the table map
//! precedes every rows event, the shape is always the one the row was written
//! with — a DDL later in the binlog cannot make an earlier row decode wrongly.
//! Without FULL metadata the source refuses to start (the check names the
//! setting). The snapshot, which
//! reads tables before any table map, takes the shape from `information_schema`
//! with [`TableSchema::from_catalog`].

use mysql_common::binlog::events::{OptionalMetaExtractor, OptionalMetadataField, TableMapEvent};
use mysql_common::constants::{ColumnType, GeometryType};
use serde_json::{Value as Json, json};

/// What a column holds, with the parameters its Debezium mapping needs.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ColumnKind {
    /// TINYINT (1), SMALLINT (2), MEDIUMINT (3), INT (4), BIGINT (8) bytes.
    Integer { bytes: u8, unsigned: bool },
    /// BIGINT UNSIGNED as a DECIMAL(20, 0) (`bigint_unsigned_handling = "precise"`).
    UnsignedBigintDecimal,
    Float,
    Double,
    Decimal { precision: u8, scale: u8 },
    /// Character data in a charset (CHAR, VARCHAR, TEXT).
    Text { charset: Charset },
    /// BINARY(n): MySQL strips trailing zero bytes in the binlog; re-padded to `len`.
    Binary { len: usize },
    /// VARBINARY, BLOB, GEOMETRY.
    Bytes,
    Date,
    Time { fsp: u8 },
    DateTime { fsp: u8 },
    Timestamp { fsp: u8 },
    Year,
    Json,
    Enum { values: Vec<String> },
    Set { values: Vec<String> },
    Bit { bits: u16 },
    /// GEOMETRY and its subtypes (MySQL's internal format: 4-byte SRID + WKB);
    /// `point`: a POINT column (Debezium's `Point` struct, else `Geometry`).
    Geometry { point: bool },
    /// MySQL 9's VECTOR: little-endian float32s (Debezium's `FloatVector`).
    Vector,
}

/// How a text column's bytes (in the binlog: the column's own charset) become text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Charset {
    Utf8,
    /// MySQL's latin1, which is Windows-1252.
    Latin1,
    /// UTF-32 big-endian (`utf32`).
    Utf32,
    /// A charset the WHATWG encodings cover (`gbk`, `big5`, `sjis`, `ujis`,
    /// `euckr`, `utf16`, `ucs2`, `cp1251`, `koi8r`, `latin2`, …).
    Encoded(&'static encoding_rs::Encoding),
    /// A charset without a decoder here (`armscii8`, `dec8`, `geostd8`, …):
    /// read as UTF-8 with replacement characters.
    Unsupported,
}

impl Charset {
    fn of_collation(id: u16) -> Option<Self> {
        // 63 is `binary`: not text at all.
        if id == 63 {
            return None;
        }
        if id == 0 {
            return Some(Charset::Utf8);
        }
        Some(Self::named(mysql_common::collations::Collation::resolve(id.into()).charset()))
    }

    /// The charset MySQL calls `name` (`information_schema`'s CHARACTER_SET_NAME).
    pub fn named(name: &str) -> Self {
        use encoding_rs::*;
        match name.to_ascii_lowercase().as_str() {
            "utf8mb4" | "utf8mb3" | "utf8" | "ascii" => Charset::Utf8,
            "latin1" => Charset::Latin1,
            "utf32" => Charset::Utf32,
            "utf16" | "ucs2" => Charset::Encoded(UTF_16BE),
            "utf16le" => Charset::Encoded(UTF_16LE),
            "gbk" | "gb2312" => Charset::Encoded(GBK),
            "gb18030" => Charset::Encoded(GB18030),
            "big5" => Charset::Encoded(BIG5),
            "sjis" | "cp932" => Charset::Encoded(SHIFT_JIS),
            "ujis" | "eucjpms" => Charset::Encoded(EUC_JP),
            "euckr" => Charset::Encoded(EUC_KR),
            "cp1250" => Charset::Encoded(WINDOWS_1250),
            "cp1251" => Charset::Encoded(WINDOWS_1251),
            "cp1256" => Charset::Encoded(WINDOWS_1256),
            "cp1257" => Charset::Encoded(WINDOWS_1257),
            "cp866" => Charset::Encoded(IBM866),
            "greek" => Charset::Encoded(ISO_8859_7),
            "hebrew" => Charset::Encoded(ISO_8859_8),
            "koi8r" => Charset::Encoded(KOI8_R),
            "koi8u" => Charset::Encoded(KOI8_U),
            "latin2" => Charset::Encoded(ISO_8859_2),
            "latin5" => Charset::Encoded(WINDOWS_1254),
            "latin7" => Charset::Encoded(ISO_8859_13),
            "macroman" => Charset::Encoded(MACINTOSH),
            "tis620" => Charset::Encoded(WINDOWS_874),
            _ => Charset::Unsupported,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Column {
    /// The MySQL column name.
    pub name: String,
    /// The name as an Avro field (Debezium's sanitising: invalid characters become `_`).
    pub field: String,
    pub kind: ColumnKind,
    pub nullable: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TableSchema {
    pub database: String,
    pub table: String,
    pub columns: Vec<Column>,
    /// Indexes into `columns`, in key order.
    pub primary_key: Vec<usize>,
}

/// One row of `information_schema.COLUMNS` (plus whether it is in the primary key).
#[derive(Debug, Clone, Default)]
pub struct CatalogColumn {
    pub name: String,
    /// `DATA_TYPE`, e.g. `int`, `varchar`, `enum`.
    pub data_type: String,
    /// `COLUMN_TYPE`, e.g. `int(10) unsigned`, `enum('a','b')`.
    pub column_type: String,
    pub nullable: bool,
    pub charset: Option<String>,
    pub octet_length: Option<u64>,
    pub numeric_precision: Option<u64>,
    pub numeric_scale: Option<u64>,
    pub datetime_precision: Option<u64>,
    pub primary_key: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    #[error(
        "table map of `{database}`.`{table}` has no column names: set binlog_row_metadata=FULL on the server \
         (or let the source read information_schema)"
    )]
    NoColumnNames { database: String, table: String },
    #[error("`{database}`.`{table}`: {reason}")]
    Unreadable { database: String, table: String, reason: String },
}

impl TableSchema {
    /// The shape of the table this table map describes, from its own metadata.
    ///
    /// `mariadb`: MariaDB's COLUMN_CHARSET metadata has a slot for every
    /// GEOMETRY column too (MySQL's has not), so a text column after a
    /// geometry column would otherwise read the geometry's charset.
    pub fn from_table_map(tme: &TableMapEvent<'_>, mariadb: bool) -> Result<Self, SchemaError> {
        let database = tme.database_name().into_owned();
        let table = tme.table_name().into_owned();
        let fail = |reason: String| SchemaError::Unreadable {
            database: database.clone(),
            table: table.clone(),
            reason,
        };
        let meta = OptionalMetaExtractor::new(tme.iter_optional_meta()).map_err(|e| fail(e.to_string()))?;
        let count = tme.columns_count() as usize;
        let names: Vec<String> = meta
            .iter_column_name()
            .map(|n| n.map(|n| n.name().into_owned()))
            .collect::<Result<_, _>>()
            .map_err(|e| fail(e.to_string()))?;
        if names.len() != count {
            return Err(SchemaError::NoColumnNames { database, table });
        }
        let mut enums_and_sets = Vec::new();
        let mut geometry_types = Vec::new();
        for field in tme.iter_optional_meta() {
            match field.map_err(|e| fail(e.to_string()))? {
                OptionalMetadataField::GeometryType(types) => {
                    for t in types.iter_geometry_types() {
                        geometry_types.push(t.map_err(|e| fail(e.to_string()))?);
                    }
                }
                OptionalMetadataField::EnumStrValue(values) => {
                    for v in values.iter_values() {
                        let v = v.map_err(|e| fail(e.to_string()))?;
                        enums_and_sets.push((true, v.values().iter().map(|s| s.value().into_owned()).collect::<Vec<_>>()));
                    }
                }
                OptionalMetadataField::SetStrValue(values) => {
                    for v in values.iter_values() {
                        let v = v.map_err(|e| fail(e.to_string()))?;
                        enums_and_sets.push((false, v.values().iter().map(|s| s.value().into_owned()).collect::<Vec<_>>()));
                    }
                }
                _ => {}
            }
        }
        // ENUM values come before SET values in the metadata; each list is in column order.
        let mut enum_values = enums_and_sets.iter().filter(|(e, _)| *e).map(|(_, v)| v.clone());
        let mut set_values = enums_and_sets.iter().filter(|(e, _)| !*e).map(|(_, v)| v.clone());
        let mut signedness = meta.iter_signedness();
        let mut charsets = meta.iter_charset();
        let mut enum_charsets = meta.iter_enum_and_set_charset();
        let has_charsets = meta.iter_charset().next().is_some();
        let mut geometry_types = geometry_types.into_iter();

        let mut columns = Vec::with_capacity(count);
        for (i, name) in names.into_iter().enumerate() {
            let column_type = tme
                .get_column_type(i)
                .map_err(|e| fail(format!("column {name}: {e}")))?
                .ok_or_else(|| fail(format!("column {name}: no type")))?;
            let raw = tme.get_column_metadata(i).unwrap_or(&[]);
            let unsigned = column_type.is_numeric_type() && signedness.next().unwrap_or(false);
            let collation = if column_type.is_character_type() {
                charsets.next().transpose().map_err(|e| fail(e.to_string()))?
            } else if mariadb && column_type == ColumnType::MYSQL_TYPE_GEOMETRY {
                let _ = charsets.next();
                None
            } else if column_type.is_enum_or_set_type() {
                let _ = enum_charsets.next();
                None
            } else {
                None
            };
            let kind = match column_type {
                ColumnType::MYSQL_TYPE_TINY => ColumnKind::Integer { bytes: 1, unsigned },
                ColumnType::MYSQL_TYPE_SHORT => ColumnKind::Integer { bytes: 2, unsigned },
                ColumnType::MYSQL_TYPE_INT24 => ColumnKind::Integer { bytes: 3, unsigned },
                ColumnType::MYSQL_TYPE_LONG => ColumnKind::Integer { bytes: 4, unsigned },
                ColumnType::MYSQL_TYPE_LONGLONG => ColumnKind::Integer { bytes: 8, unsigned },
                ColumnType::MYSQL_TYPE_FLOAT => ColumnKind::Float,
                ColumnType::MYSQL_TYPE_DOUBLE => ColumnKind::Double,
                ColumnType::MYSQL_TYPE_NEWDECIMAL => ColumnKind::Decimal {
                    precision: raw.first().copied().unwrap_or(10),
                    scale: raw.get(1).copied().unwrap_or(0),
                },
                ColumnType::MYSQL_TYPE_VARCHAR | ColumnType::MYSQL_TYPE_VAR_STRING | ColumnType::MYSQL_TYPE_BLOB => {
                    match collation.and_then(Charset::of_collation) {
                        Some(charset) => ColumnKind::Text { charset },
                        None if collation.is_none() && !has_charsets => ColumnKind::Text { charset: Charset::Utf8 },
                        None => ColumnKind::Bytes,
                    }
                }
                ColumnType::MYSQL_TYPE_STRING => match collation.and_then(Charset::of_collation) {
                    Some(charset) => ColumnKind::Text { charset },
                    None => ColumnKind::Binary { len: string_length(raw) },
                },
                ColumnType::MYSQL_TYPE_GEOMETRY => ColumnKind::Geometry {
                    point: geometry_types.next() == Some(GeometryType::GEOM_POINT),
                },
                ColumnType::MYSQL_TYPE_VECTOR => ColumnKind::Vector,
                ColumnType::MYSQL_TYPE_DATE | ColumnType::MYSQL_TYPE_NEWDATE => ColumnKind::Date,
                ColumnType::MYSQL_TYPE_TIME => ColumnKind::Time { fsp: 0 },
                ColumnType::MYSQL_TYPE_TIME2 => ColumnKind::Time { fsp: raw.first().copied().unwrap_or(0) },
                ColumnType::MYSQL_TYPE_DATETIME => ColumnKind::DateTime { fsp: 0 },
                ColumnType::MYSQL_TYPE_DATETIME2 => ColumnKind::DateTime { fsp: raw.first().copied().unwrap_or(0) },
                ColumnType::MYSQL_TYPE_TIMESTAMP => ColumnKind::Timestamp { fsp: 0 },
                ColumnType::MYSQL_TYPE_TIMESTAMP2 => ColumnKind::Timestamp { fsp: raw.first().copied().unwrap_or(0) },
                ColumnType::MYSQL_TYPE_YEAR => ColumnKind::Year,
                ColumnType::MYSQL_TYPE_JSON => ColumnKind::Json,
                ColumnType::MYSQL_TYPE_ENUM => ColumnKind::Enum {
                    values: enum_values.next().unwrap_or_default(),
                },
                ColumnType::MYSQL_TYPE_SET => ColumnKind::Set {
                    values: set_values.next().unwrap_or_default(),
                },
                ColumnType::MYSQL_TYPE_BIT => ColumnKind::Bit {
                    bits: u16::from(raw.get(1).copied().unwrap_or(0)) * 8 + u16::from(raw.first().copied().unwrap_or(1)),
                },
                other => return Err(fail(format!("column {name}: type {other:?} is not supported"))),
            };
            let nullable = tme.null_bitmask().get(i).map(|b| *b).unwrap_or(true);
            columns.push(Column {
                field: avro_name(&name),
                name,
                kind,
                nullable,
            });
        }
        let primary_key: Vec<usize> = meta
            .iter_primary_key()
            .map(|k| k.map(|k| k as usize))
            .collect::<Result<_, _>>()
            .map_err(|e| fail(e.to_string()))?;
        Ok(Self {
            database,
            table,
            columns: distinct_fields(columns),
            primary_key,
        })
    }

    /// The shape from `information_schema` (the snapshot reads tables before
    /// any table map is seen). Gives the same shape as [`Self::from_table_map`]
    /// for the same table definition, so both register one schema version.
    pub fn from_catalog(database: &str, table: &str, catalog: &[CatalogColumn]) -> Result<Self, SchemaError> {
        let fail = |reason: String| SchemaError::Unreadable {
            database: database.to_string(),
            table: table.to_string(),
            reason,
        };
        let mut columns = Vec::with_capacity(catalog.len());
        for c in catalog {
            let unsigned = c.column_type.to_ascii_lowercase().contains("unsigned");
            let integer = |bytes: u8| ColumnKind::Integer { bytes, unsigned };
            let fsp = c.datetime_precision.unwrap_or(0) as u8;
            let text = || match c.charset.as_deref() {
                None | Some("binary") => None,
                Some(name) => Some(Charset::named(name)),
            };
            let kind = match c.data_type.to_ascii_lowercase().as_str() {
                "tinyint" => integer(1),
                "smallint" => integer(2),
                "mediumint" => integer(3),
                "int" | "integer" => integer(4),
                "bigint" => integer(8),
                "float" => ColumnKind::Float,
                "double" | "real" => ColumnKind::Double,
                "decimal" | "numeric" => ColumnKind::Decimal {
                    precision: c.numeric_precision.unwrap_or(10) as u8,
                    scale: c.numeric_scale.unwrap_or(0) as u8,
                },
                "char" | "varchar" | "tinytext" | "text" | "mediumtext" | "longtext" => match text() {
                    Some(charset) => ColumnKind::Text { charset },
                    None => ColumnKind::Bytes,
                },
                "binary" => ColumnKind::Binary {
                    len: c.octet_length.unwrap_or(0) as usize,
                },
                "varbinary" | "tinyblob" | "blob" | "mediumblob" | "longblob" => ColumnKind::Bytes,
                "point" => ColumnKind::Geometry { point: true },
                "geometry" | "linestring" | "polygon" | "multipoint" | "multilinestring" | "multipolygon" | "geometrycollection"
                | "geomcollection" => ColumnKind::Geometry { point: false },
                "vector" => ColumnKind::Vector,
                "date" => ColumnKind::Date,
                "time" => ColumnKind::Time { fsp },
                "datetime" => ColumnKind::DateTime { fsp },
                "timestamp" => ColumnKind::Timestamp { fsp },
                "year" => ColumnKind::Year,
                "json" => ColumnKind::Json,
                "enum" => ColumnKind::Enum {
                    values: quoted_values(&c.column_type),
                },
                "set" => ColumnKind::Set {
                    values: quoted_values(&c.column_type),
                },
                "bit" => ColumnKind::Bit {
                    bits: c.numeric_precision.unwrap_or(1) as u16,
                },
                // MariaDB reports JSON columns as longtext with a check constraint.
                other => return Err(fail(format!("column {}: type {other} is not supported", c.name))),
            };
            columns.push(Column {
                field: avro_name(&c.name),
                name: c.name.clone(),
                kind,
                nullable: c.nullable,
            });
        }
        Ok(Self {
            database: database.to_string(),
            table: table.to_string(),
            primary_key: catalog.iter().enumerate().filter(|(_, c)| c.primary_key).map(|(i, _)| i).collect(),
            columns: distinct_fields(columns),
        })
    }

    /// `<prefix>.<db>.<table>` with each part made a valid Avro name (the schemas' namespace).
    pub fn namespace(&self, prefix: &str) -> String {
        let prefix = prefix.split('.').map(avro_name).collect::<Vec<_>>().join(".");
        format!("{prefix}.{}.{}", avro_name(&self.database), avro_name(&self.table))
    }

    /// The Avro record of the key: the primary-key columns (none: the table has no key).
    pub fn key_schema(&self, prefix: &str) -> Option<Json> {
        if self.primary_key.is_empty() {
            return None;
        }
        let mut named = NamedTypes::default();
        let fields: Vec<Json> = self.primary_key.iter().map(|&i| field_json(&self.columns[i], &mut named)).collect();
        Some(json!({"type": "record", "name": "Key", "namespace": self.namespace(prefix), "fields": fields}))
    }

    /// Debezium's `Envelope` record: before/after rows, source, op, ts_ms, transaction.
    pub fn envelope_schema(&self, prefix: &str) -> Json {
        let ns = self.namespace(prefix);
        let mut named = NamedTypes::default();
        let fields: Vec<Json> = self.columns.iter().map(|c| field_json(c, &mut named)).collect();
        json!({
            "type": "record", "name": "Envelope", "namespace": ns,
            "connect.name": format!("{ns}.Envelope"),
            "fields": [
                {"name": "before", "type": ["null", {"type": "record", "name": "Value", "namespace": ns, "fields": fields}], "default": null},
                {"name": "after", "type": ["null", format!("{ns}.Value")], "default": null},
                {"name": "source", "type": crate::envelope::source_schema()},
                {"name": "op", "type": "string"},
                {"name": "ts_ms", "type": ["null", "long"], "default": null},
                {"name": "transaction", "type": ["null", {
                    "type": "record", "name": "block", "namespace": "event",
                    "fields": [
                        {"name": "id", "type": "string"},
                        {"name": "total_order", "type": "long"},
                        {"name": "data_collection_order", "type": "long"}
                    ]}], "default": null}
            ]
        })
    }

    /// Columns that are neither in `exclude` nor … (column filters applied).
    pub fn without_columns(mut self, excluded: impl Fn(&str) -> bool) -> (Self, Vec<usize>) {
        let kept: Vec<usize> = (0..self.columns.len()).filter(|&i| !excluded(&self.columns[i].name)).collect();
        let remap = |old: usize| kept.iter().position(|&k| k == old);
        self.primary_key = self.primary_key.iter().filter_map(|&i| remap(i)).collect();
        self.columns = kept.iter().map(|&i| self.columns[i].clone()).collect();
        (self, kept)
    }
}

/// Every field has a default — null, or the type's zero value for NOT NULL
/// columns — so a column added by DDL is a backward-compatible schema change
/// whatever its nullability (readers of the new version can read old records).
///
/// The field carries, as Connect schema parameters (`connect.parameters`),
/// what Avro cannot say: the column's exact name when the field name had to
/// differ (`__debezium.source.column.name`), and for unsigned integers the
/// MySQL type (`__debezium.source.column.type`, e.g. `BIGINT UNSIGNED`), so a
/// consumer can store them exactly.
fn field_json(column: &Column, named: &mut NamedTypes) -> Json {
    let ty = named.avro_type(&column.kind);
    let mut parameters = serde_json::Map::new();
    if column.field != column.name {
        parameters.insert(SOURCE_COLUMN_NAME.into(), json!(column.name));
    }
    let unsigned = match column.kind {
        ColumnKind::Integer { bytes: 1, unsigned: true } => Some("TINYINT"),
        ColumnKind::Integer { bytes: 2, unsigned: true } => Some("SMALLINT"),
        ColumnKind::Integer { bytes: 3, unsigned: true } => Some("MEDIUMINT"),
        ColumnKind::Integer { bytes: 4, unsigned: true } => Some("INT"),
        ColumnKind::Integer { unsigned: true, .. } | ColumnKind::UnsignedBigintDecimal => Some("BIGINT"),
        _ => None,
    };
    if let Some(name) = unsigned {
        parameters.insert(SOURCE_COLUMN_TYPE.into(), json!(format!("{name} UNSIGNED")));
    }
    let mut field = field_of(column, ty);
    if !parameters.is_empty() {
        field["connect.parameters"] = Json::Object(parameters);
    }
    field
}

fn field_of(column: &Column, ty: Json) -> Json {
    if column.nullable {
        json!({"name": column.field, "type": ["null", ty], "default": null})
    } else {
        json!({"name": column.field, "type": ty, "default": zero_value(&column.kind)})
    }
}

/// The default of a NOT NULL field: the type's zero value.
fn zero_value(kind: &ColumnKind) -> Json {
    match kind {
        ColumnKind::Geometry { point: false } => json!({"wkb": "", "srid": null}),
        ColumnKind::Geometry { point: true } => json!({"x": 0.0, "y": 0.0, "wkb": null, "srid": null}),
        ColumnKind::Vector => json!([]),
        _ => {
            let ty = avro_type(kind);
            match ty.get("type").unwrap_or(&ty).as_str() {
                Some("int" | "long") => json!(0),
                Some("float" | "double") => json!(0.0),
                Some("boolean") => json!(false),
                _ => json!(""), // string, bytes (and decimal bytes): empty
            }
        }
    }
}

/// Avro names a record type once per schema; later fields refer to it by name.
#[derive(Default)]
struct NamedTypes(std::collections::HashSet<&'static str>);

impl NamedTypes {
    fn avro_type(&mut self, kind: &ColumnKind) -> Json {
        let ty = avro_type(kind);
        match ty.get("connect.name").and_then(Json::as_str) {
            Some(name) if ty.get("type") == Some(&json!("record")) => {
                let name: &'static str = if name.ends_with("Point") { POINT } else { GEOMETRY };
                if self.0.insert(name) { ty } else { json!(name) }
            }
            _ => ty,
        }
    }
}

/// Connect schema parameters on a field's type (Debezium's names).
pub const SOURCE_COLUMN_NAME: &str = "__debezium.source.column.name";
pub const SOURCE_COLUMN_TYPE: &str = "__debezium.source.column.type";

const GEOMETRY: &str = "io.debezium.data.geometry.Geometry";
const POINT: &str = "io.debezium.data.geometry.Point";

/// Debezium's default mapping, as Avro (see docs/ARCHITECTURE.md, "Type mapping").
pub fn avro_type(kind: &ColumnKind) -> Json {
    let named = |base: &str, connect: &str| json!({"type": base, "connect.name": connect});
    let logical = |base: &str, logical: &str| json!({"type": base, "logicalType": logical});
    let optional = |ty: &str| json!(["null", ty]);
    match kind {
        ColumnKind::Integer { bytes: 4, unsigned: true } | ColumnKind::Integer { bytes: 8, .. } => json!("long"),
        ColumnKind::Integer { .. } => json!("int"),
        ColumnKind::Float => json!("float"),
        ColumnKind::Double => json!("double"),
        ColumnKind::Decimal { precision, scale } => {
            json!({"type": "bytes", "logicalType": "decimal", "precision": precision, "scale": scale})
        }
        ColumnKind::UnsignedBigintDecimal => json!({"type": "bytes", "logicalType": "decimal", "precision": 20, "scale": 0}),
        ColumnKind::Text { .. } => json!("string"),
        ColumnKind::Binary { .. } | ColumnKind::Bytes => json!("bytes"),
        ColumnKind::Date => logical("int", "date"),
        ColumnKind::Time { .. } => logical("long", "time-micros"),
        ColumnKind::DateTime { fsp } if *fsp <= 3 => logical("long", "timestamp-millis"),
        ColumnKind::DateTime { .. } => logical("long", "timestamp-micros"),
        ColumnKind::Timestamp { .. } => named("string", "io.debezium.time.ZonedTimestamp"),
        ColumnKind::Year => named("int", "io.debezium.time.Year"),
        ColumnKind::Json => named("string", "io.debezium.data.Json"),
        ColumnKind::Enum { .. } => named("string", "io.debezium.data.Enum"),
        ColumnKind::Set { .. } => named("string", "io.debezium.data.EnumSet"),
        ColumnKind::Bit { bits: 1 } => json!("boolean"),
        ColumnKind::Bit { .. } => named("bytes", "io.debezium.data.Bits"),
        ColumnKind::Geometry { point: false } => json!({
            "type": "record", "name": "Geometry", "namespace": "io.debezium.data.geometry",
            "connect.name": GEOMETRY, "connect.version": 1,
            "fields": [
                {"name": "wkb", "type": "bytes"},
                {"name": "srid", "type": optional("int"), "default": null}
            ]
        }),
        ColumnKind::Geometry { point: true } => json!({
            "type": "record", "name": "Point", "namespace": "io.debezium.data.geometry",
            "connect.name": POINT, "connect.version": 1,
            "fields": [
                {"name": "x", "type": "double"},
                {"name": "y", "type": "double"},
                {"name": "wkb", "type": optional("bytes"), "default": null},
                {"name": "srid", "type": optional("int"), "default": null}
            ]
        }),
        ColumnKind::Vector => json!({"type": "array", "items": "float", "connect.name": "io.debezium.data.FloatVector", "connect.version": 1}),
    }
}

/// Columns whose names become the same Avro name (`my col`, `my_col`) get
/// distinct field names: the later ones `_2`, `_3`, … (the exact names travel
/// in the fields' parameters).
fn distinct_fields(mut columns: Vec<Column>) -> Vec<Column> {
    let mut used = std::collections::HashSet::new();
    for column in &mut columns {
        let base = column.field.clone();
        let mut n = 1;
        while !used.insert(column.field.to_ascii_lowercase()) {
            n += 1;
            column.field = format!("{base}_{n}");
        }
    }
    columns
}

/// A valid Avro name: letters, digits and `_`, not starting with a digit.
pub fn avro_name(name: &str) -> String {
    let mut out: String = name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '_' }).collect();
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out
}

/// `enum('a','b''c')` → `["a", "b'c"]`.
fn quoted_values(column_type: &str) -> Vec<String> {
    let Some(open) = column_type.find('(') else { return Vec::new() };
    let body = &column_type[open + 1..column_type.rfind(')').unwrap_or(column_type.len())];
    let mut values = Vec::new();
    let mut chars = body.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\'' {
            continue;
        }
        let mut value = String::new();
        while let Some(c) = chars.next() {
            match c {
                '\'' if chars.peek() == Some(&'\'') => {
                    value.push('\'');
                    chars.next();
                }
                '\'' => break,
                '\\' => {
                    if let Some(escaped) = chars.next() {
                        value.push(escaped);
                    }
                }
                other => value.push(other),
            }
        }
        values.push(value);
    }
    values
}

/// Byte length of a CHAR/BINARY column from its table-map metadata.
fn string_length(meta: &[u8]) -> usize {
    match meta {
        [byte0, byte1, ..] if (*byte0 as usize & 0x30) != 0x30 => *byte1 as usize | (((*byte0 as usize & 0x30) ^ 0x30) << 4),
        [_, byte1, ..] => *byte1 as usize,
        _ => 0,
    }
}
