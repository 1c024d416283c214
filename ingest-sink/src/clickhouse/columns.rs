//! ClickHouse columns derived from Avro schemas, and the RowBinary encoding
//! of Avro values into them.
//!
//! Mapping (Avro → ClickHouse): `boolean` → `Bool`, `int` → `Int32`, `long` →
//! `Int64`, `float`/`double` → `Float32`/`Float64`, `string` → `String`,
//! `bytes` → `String`, `fixed(n)` → `FixedString(n)`, `enum` →
//! `LowCardinality(String)`, `uuid` → `UUID`, `date` → `Date32`,
//! `time-millis`/`time-micros` → `Int32`/`Int64` (ms/µs of the day),
//! `timestamp-millis`/`-micros` (also `local-`) → `DateTime64(3|6, 'UTC')`,
//! `decimal(p, s)` → `Decimal(p, s)` (p ≤ 38), `["null", T]` → `Nullable(T)`,
//! `array` → `Array(T)`, `map` → `Map(String, T)`, a nested `record` →
//! `String` holding its JSON.
//!
//! Guarantee: a value is written only if it fits its column exactly
//! (no silent truncation or wrapping); anything else is a [`ConvertError`]
//! naming the column, for the dead-letter queue.

use apache_avro::Schema;
use apache_avro::types::Value;
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ColumnType {
    Bool,
    Int8,
    Int16,
    Int32,
    Int64,
    UInt8,
    UInt16,
    UInt32,
    UInt64,
    Float32,
    Float64,
    String,
    FixedString(usize),
    LowCardinalityString,
    Uuid,
    Date32,
    DateTime64(u32),
    Decimal { precision: usize, scale: usize },
    Nullable(Box<ColumnType>),
    Array(Box<ColumnType>),
    Map(Box<ColumnType>),
    /// A nested record, stored as JSON text.
    Json,
}

impl fmt::Display for ColumnType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ColumnType::Bool => f.write_str("Bool"),
            ColumnType::Int8 => f.write_str("Int8"),
            ColumnType::Int16 => f.write_str("Int16"),
            ColumnType::Int32 => f.write_str("Int32"),
            ColumnType::Int64 => f.write_str("Int64"),
            ColumnType::UInt8 => f.write_str("UInt8"),
            ColumnType::UInt16 => f.write_str("UInt16"),
            ColumnType::UInt32 => f.write_str("UInt32"),
            ColumnType::UInt64 => f.write_str("UInt64"),
            ColumnType::Float32 => f.write_str("Float32"),
            ColumnType::Float64 => f.write_str("Float64"),
            ColumnType::String | ColumnType::Json => f.write_str("String"),
            ColumnType::FixedString(n) => write!(f, "FixedString({n})"),
            ColumnType::LowCardinalityString => f.write_str("LowCardinality(String)"),
            ColumnType::Uuid => f.write_str("UUID"),
            ColumnType::Date32 => f.write_str("Date32"),
            ColumnType::DateTime64(p) => write!(f, "DateTime64({p}, 'UTC')"),
            ColumnType::Decimal { precision, scale } => write!(f, "Decimal({precision}, {scale})"),
            // ClickHouse nests the other way round for LowCardinality.
            ColumnType::Nullable(inner) if **inner == ColumnType::LowCardinalityString => {
                f.write_str("LowCardinality(Nullable(String))")
            }
            ColumnType::Nullable(inner) => write!(f, "Nullable({inner})"),
            ColumnType::Array(inner) => write!(f, "Array({inner})"),
            ColumnType::Map(inner) => write!(f, "Map(String, {inner})"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Avro field `{field}`: {reason}")]
pub struct UnsupportedSchema {
    pub field: String,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("column `{column}` ({column_type}): {reason}")]
pub struct ConvertError {
    pub column: String,
    pub column_type: String,
    pub reason: String,
}

/// One column of a table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    pub name: String,
    pub column_type: ColumnType,
}

/// The columns for the fields of an Avro record schema, in field order.
pub fn columns_of(schema: &Schema) -> Result<Vec<Column>, UnsupportedSchema> {
    let Schema::Record(record) = schema else {
        return Err(UnsupportedSchema {
            field: "<root>".into(),
            reason: "the value schema must be a record".into(),
        });
    };
    record
        .fields
        .iter()
        .map(|f| {
            Ok(Column {
                name: f.name.clone(),
                column_type: column_type(&f.schema).map_err(|reason| UnsupportedSchema {
                    field: f.name.clone(),
                    reason,
                })?,
            })
        })
        .collect()
}

fn column_type(schema: &Schema) -> Result<ColumnType, String> {
    Ok(match schema {
        Schema::Boolean => ColumnType::Bool,
        Schema::Int => ColumnType::Int32,
        Schema::Long => ColumnType::Int64,
        Schema::Float => ColumnType::Float32,
        Schema::Double => ColumnType::Float64,
        Schema::String | Schema::Bytes => ColumnType::String,
        Schema::Fixed(f) => ColumnType::FixedString(f.size),
        Schema::Enum(_) => ColumnType::LowCardinalityString,
        Schema::Uuid(_) => ColumnType::Uuid,
        Schema::Date => ColumnType::Date32,
        Schema::TimeMillis => ColumnType::Int32,
        Schema::TimeMicros => ColumnType::Int64,
        Schema::TimestampMillis | Schema::LocalTimestampMillis => ColumnType::DateTime64(3),
        Schema::TimestampMicros | Schema::LocalTimestampMicros => ColumnType::DateTime64(6),
        Schema::TimestampNanos | Schema::LocalTimestampNanos => ColumnType::DateTime64(9),
        Schema::Decimal(d) if d.precision <= 76 => ColumnType::Decimal {
            precision: d.precision,
            scale: d.scale,
        },
        Schema::Decimal(d) => return Err(format!("decimal precision {} is above ClickHouse's 76", d.precision)),
        Schema::Array(a) => ColumnType::Array(Box::new(column_type(&a.items)?)),
        Schema::Map(m) => ColumnType::Map(Box::new(column_type(&m.types)?)),
        Schema::Record(_) => ColumnType::Json,
        Schema::Union(u) => {
            let non_null: Vec<&Schema> = u.variants().iter().filter(|s| **s != Schema::Null).collect();
            match non_null.as_slice() {
                [only] => {
                    let inner = column_type(only)?;
                    match inner {
                        // ClickHouse cannot wrap these in Nullable: null becomes the empty value.
                        ColumnType::Array(_) | ColumnType::Map(_) => inner,
                        other => ColumnType::Nullable(Box::new(other)),
                    }
                }
                _ => return Err("unions other than [\"null\", T] are not supported".into()),
            }
        }
        other => return Err(format!("Avro type {other:?} has no ClickHouse mapping")),
    })
}

/// Appends `value` to `out` in RowBinary for `column_type`.
pub fn encode(column: &Column, value: &Value, out: &mut Vec<u8>) -> Result<(), ConvertError> {
    encode_value(&column.column_type, value, out).map_err(|reason| ConvertError {
        column: column.name.clone(),
        column_type: column.column_type.to_string(),
        reason,
    })
}

/// Appends the value a column takes when the record has no such field
/// (NULL, or the empty value of a non-nullable column).
pub fn encode_default(column_type: &ColumnType, out: &mut Vec<u8>) {
    match column_type {
        ColumnType::Nullable(_) => out.push(1),
        ColumnType::Bool | ColumnType::Int8 | ColumnType::UInt8 => out.push(0),
        ColumnType::Int16 | ColumnType::UInt16 => out.extend_from_slice(&[0; 2]),
        ColumnType::Int32 | ColumnType::UInt32 | ColumnType::Float32 | ColumnType::Date32 => out.extend_from_slice(&[0; 4]),
        ColumnType::Int64 | ColumnType::UInt64 | ColumnType::Float64 | ColumnType::DateTime64(_) => {
            out.extend_from_slice(&[0; 8])
        }
        ColumnType::String | ColumnType::Json | ColumnType::LowCardinalityString => out.push(0),
        ColumnType::FixedString(n) => out.extend(std::iter::repeat_n(0, *n)),
        ColumnType::Uuid => out.extend_from_slice(&[0; 16]),
        ColumnType::Decimal { precision, .. } => out.extend(std::iter::repeat_n(0, decimal_width(*precision))),
        ColumnType::Array(_) | ColumnType::Map(_) => out.push(0),
    }
}

fn decimal_width(precision: usize) -> usize {
    match precision {
        0..=9 => 4,
        10..=18 => 8,
        19..=38 => 16,
        _ => 32,
    }
}

/// The range of an integer column type: (signed, bits).
fn integer_range(t: &ColumnType) -> Option<(bool, u32)> {
    Some(match t {
        ColumnType::Int8 => (true, 8),
        ColumnType::Int16 => (true, 16),
        ColumnType::Int32 => (true, 32),
        ColumnType::Int64 => (true, 64),
        ColumnType::UInt8 => (false, 8),
        ColumnType::UInt16 => (false, 16),
        ColumnType::UInt32 => (false, 32),
        ColumnType::UInt64 => (false, 64),
        _ => return None,
    })
}

/// Whether `t` is an integer type.
pub fn is_integer(t: &ColumnType) -> bool {
    integer_range(t).is_some()
}

/// Whether every value of type `narrow` is also a value of type `wide`,
/// unchanged (nullability aside): integer ranges, decimals with as many
/// integer and fraction digits, Float32 in Float64, finer DateTime64,
/// enum text in String.
pub fn contains(wide: &ColumnType, narrow: &ColumnType) -> bool {
    use ColumnType::*;
    if wide == narrow {
        return true;
    }
    match (wide, narrow) {
        (w, n) if integer_range(w).is_some() && integer_range(n).is_some() => {
            let ((ws, wb), (ns, nb)) = (integer_range(w).unwrap(), integer_range(n).unwrap());
            match (ws, ns) {
                (true, true) | (false, false) => wb >= nb,
                (true, false) => wb > nb,
                (false, true) => false,
            }
        }
        (Decimal { precision: wp, scale: ws }, Decimal { precision: np, scale: ns }) => ws >= ns && wp - ws >= np - ns,
        (Decimal { precision, scale }, n) if integer_range(n).is_some() => {
            let (signed, bits) = integer_range(n).unwrap();
            let digits = match (signed, bits) {
                (_, 8) => 3,
                (_, 16) => 5,
                (_, 32) => 10,
                (true, _) => 19,
                (false, _) => 20,
            };
            precision - scale >= digits
        }
        (Float64, Float32) => true,
        (DateTime64(w), DateTime64(n)) => w >= n,
        (String, LowCardinalityString) | (LowCardinalityString, String) => true,
        (Nullable(w), n) => contains(w, n.strip_nullable()),
        (w, Nullable(n)) => contains(w, n),
        _ => false,
    }
}

impl ColumnType {
    /// The type inside `Nullable(…)`, or the type itself.
    pub fn strip_nullable(&self) -> &ColumnType {
        match self {
            ColumnType::Nullable(inner) => inner,
            other => other,
        }
    }
}

/// Writes integer `value` as a column of integer type `t`, refusing values outside its range.
fn integer(t: &ColumnType, value: i128, out: &mut Vec<u8>) -> Result<(), String> {
    let (signed, bits) = integer_range(t).expect("an integer column");
    let (min, max) = if signed { (-(1i128 << (bits - 1)), (1i128 << (bits - 1)) - 1) } else { (0, (1i128 << bits) - 1) };
    if value < min || value > max {
        return Err(format!("a value outside the range of {t}"));
    }
    out.extend_from_slice(&value.to_le_bytes()[..(bits / 8) as usize]);
    Ok(())
}

fn varint(mut n: u64, out: &mut Vec<u8>) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

fn bytes(b: &[u8], out: &mut Vec<u8>) {
    varint(b.len() as u64, out);
    out.extend_from_slice(b);
}

fn encode_value(t: &ColumnType, value: &Value, out: &mut Vec<u8>) -> Result<(), String> {
    // A union branch is encoded as its value (the null branch only fits Nullable).
    if let Value::Union(_, inner) = value {
        return encode_value(t, inner, out);
    }
    match (t, value) {
        (ColumnType::Nullable(_), Value::Null) => out.push(1),
        (ColumnType::Nullable(inner), v) => {
            out.push(0);
            encode_value(inner, v, out)?;
        }
        (ColumnType::Array(_) | ColumnType::Map(_), Value::Null) => out.push(0),
        (ColumnType::Bool | ColumnType::UInt8, Value::Boolean(b)) => out.push(*b as u8),
        // Avro has no unsigned long: a long in a UInt64 column is read as
        // its 64-bit two's complement, which is how Debezium's default
        // (`bigint.unsigned.handling.mode = long`) writes BIGINT UNSIGNED.
        (ColumnType::UInt64, Value::Long(i)) => out.extend_from_slice(&i.to_le_bytes()),
        (t, Value::Int(i) | Value::TimeMillis(i)) if integer_range(t).is_some() => integer(t, i128::from(*i), out)?,
        (t, Value::Long(i) | Value::TimeMicros(i)) if integer_range(t).is_some() => integer(t, i128::from(*i), out)?,
        (t, Value::Decimal(d)) if integer_range(t).is_some() => {
            // A whole-number decimal (`bigint.unsigned.handling.mode = precise`).
            let be: Vec<u8> = Vec::try_from(d).map_err(|e| e.to_string())?;
            let (negative, magnitude) = be_twos_complement(&be)?;
            if negative || magnitude[16..].iter().any(|b| *b != 0) {
                return Err("the decimal is outside the column's range".into());
            }
            integer(t, i128::from_le_bytes(magnitude[..16].try_into().expect("16 bytes")), out)?
        }
        // MySQL turns an integer column retyped to text into its decimal digits; so do we.
        (ColumnType::String, Value::Int(i)) => bytes(i.to_string().as_bytes(), out),
        (ColumnType::String, Value::Long(i)) => bytes(i.to_string().as_bytes(), out),
        (ColumnType::Float32, Value::Float(x)) => out.extend_from_slice(&x.to_le_bytes()),
        (ColumnType::Float64, Value::Double(x)) => out.extend_from_slice(&x.to_le_bytes()),
        (ColumnType::Float64, Value::Float(x)) => out.extend_from_slice(&f64::from(*x).to_le_bytes()),
        (ColumnType::String | ColumnType::LowCardinalityString, Value::String(s) | Value::Enum(_, s)) => {
            bytes(s.as_bytes(), out)
        }
        (ColumnType::String, Value::Bytes(b)) => bytes(b, out),
        (ColumnType::FixedString(n), Value::Fixed(len, b)) if len == n => out.extend_from_slice(b),
        (ColumnType::Uuid, Value::Uuid(u)) => {
            // RowBinary UUID: the two 64-bit halves, each little-endian.
            let (high, low) = u.as_u64_pair();
            out.extend_from_slice(&high.to_le_bytes());
            out.extend_from_slice(&low.to_le_bytes());
        }
        (ColumnType::Date32, Value::Date(d)) => out.extend_from_slice(&d.to_le_bytes()),
        (
            ColumnType::DateTime64(_),
            Value::TimestampMillis(t)
            | Value::TimestampMicros(t)
            | Value::TimestampNanos(t)
            | Value::LocalTimestampMillis(t)
            | Value::LocalTimestampMicros(t)
            | Value::LocalTimestampNanos(t),
        ) => out.extend_from_slice(&t.to_le_bytes()),
        (ColumnType::DateTime64(precision), Value::String(iso)) => {
            let micros = iso_utc_micros(iso).ok_or_else(|| "a text that is not an ISO-8601 UTC timestamp".to_string())?;
            let ticks = match precision {
                0..=6 => micros / 10i64.pow(6 - precision),
                p => micros.checked_mul(10i64.pow(p - 6)).ok_or("timestamp out of range")?,
            };
            out.extend_from_slice(&ticks.to_le_bytes())
        }
        (ColumnType::Decimal { precision, .. }, Value::Decimal(d)) => {
            let be: Vec<u8> = Vec::try_from(d).map_err(|e| e.to_string())?;
            let (negative, le) = be_twos_complement(&be)?;
            let width = decimal_width(*precision);
            // The value fits the width if every byte above it is the sign's.
            let fill = if negative { 0xFF } else { 0 };
            if le[width..].iter().any(|b| *b != fill) || (le[width - 1] & 0x80 != 0) != negative {
                return Err("value exceeds the precision".into());
            }
            out.extend_from_slice(&le[..width]);
        }
        (ColumnType::Array(inner), Value::Array(items)) => {
            varint(items.len() as u64, out);
            for item in items {
                encode_value(inner, item, out)?;
            }
        }
        (ColumnType::Map(inner), Value::Map(entries)) => {
            varint(entries.len() as u64, out);
            let mut sorted: Vec<_> = entries.iter().collect();
            sorted.sort_by(|a, b| a.0.cmp(b.0));
            for (k, v) in sorted {
                bytes(k.as_bytes(), out);
                encode_value(inner, v, out)?;
            }
        }
        // A table created by us has `Json`; one read back from ClickHouse says `String`.
        (ColumnType::Json | ColumnType::String, record @ Value::Record(_)) => {
            let json = serde_json::Value::try_from(record.clone()).map_err(|e| e.to_string())?;
            bytes(json.to_string().as_bytes(), out);
        }
        (t, v) => return Err(format!("cannot store {} in {t}", value_kind(v))),
    }
    Ok(())
}

/// `2024-05-06T07:08:09[.ffffff]Z` (Debezium's `ZonedTimestamp` in UTC) →
/// microseconds since the epoch.
fn iso_utc_micros(text: &str) -> Option<i64> {
    let body = text.strip_suffix('Z')?;
    let (date, time) = body.split_once('T')?;
    let mut ymd = date.splitn(3, '-').map(|p| p.parse::<i64>().ok());
    let (y, m, d) = (ymd.next()??, ymd.next()??, ymd.next()??);
    let (clock, fraction) = time.split_once('.').unwrap_or((time, ""));
    let mut hms = clock.splitn(3, ':').map(|p| p.parse::<i64>().ok());
    let (h, mi, s) = (hms.next()??, hms.next()??, hms.next()??);
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) || h > 23 || mi > 59 || s > 60 || fraction.len() > 6 {
        return None;
    }
    let micros: i64 = if fraction.is_empty() { 0 } else { format!("{fraction:0<6}").parse().ok()? };
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let days = era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719_468;
    Some(((days * 86_400 + h * 3600 + mi * 60 + s) * 1_000_000) + micros)
}

/// A big-endian two's-complement integer (Avro's decimal bytes) as its sign
/// and 32 little-endian bytes (a 256-bit integer).
fn be_twos_complement(be: &[u8]) -> Result<(bool, [u8; 32]), String> {
    let negative = be.first().is_some_and(|b| b & 0x80 != 0);
    let fill = if negative { 0xFF } else { 0 };
    // Leading sign bytes beyond 32 carry nothing.
    let significant = be.len().saturating_sub(32);
    if be[..significant].iter().any(|b| *b != fill) {
        return Err(format!("decimal of {} bytes exceeds Decimal(76)", be.len()));
    }
    let mut le = [fill; 32];
    for (i, b) in be[significant..].iter().rev().enumerate() {
        le[i] = *b;
    }
    Ok((negative, le))
}

fn value_kind(v: &Value) -> String {
    let debug = format!("{v:?}");
    let name = debug.split(['(', ' ']).next().unwrap_or("value");
    format!("an Avro {name}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema(fields: &str) -> Schema {
        Schema::parse_str(&format!(r#"{{"type":"record","name":"R","fields":[{fields}]}}"#)).unwrap()
    }

    #[test]
    fn clickstream_schema_maps_to_expected_columns() {
        let s = schema(
            r#"{"name":"ip","type":"string"},{"name":"ts","type":{"type":"long","logicalType":"timestamp-millis"}},
               {"name":"product_type","type":["null","string"],"default":null},{"name":"userid","type":"int"},
               {"name":"price","type":{"type":"bytes","logicalType":"decimal","precision":12,"scale":2}},
               {"name":"tags","type":{"type":"array","items":"string"}},
               {"name":"kind","type":{"type":"enum","name":"K","symbols":["A","B"]}}"#,
        );
        let types: Vec<String> = columns_of(&s).unwrap().iter().map(|c| format!("{} {}", c.name, c.column_type)).collect();
        assert_eq!(
            types,
            [
                "ip String",
                "ts DateTime64(3, 'UTC')",
                "product_type Nullable(String)",
                "userid Int32",
                "price Decimal(12, 2)",
                "tags Array(String)",
                "kind LowCardinality(String)"
            ]
        );
    }

    #[test]
    fn row_binary_layout() {
        let col = |t: ColumnType| Column {
            name: "c".into(),
            column_type: t,
        };
        let mut out = Vec::new();
        encode(&col(ColumnType::Int64), &Value::Long(-2), &mut out).unwrap();
        assert_eq!(out, (-2i64).to_le_bytes());
        out.clear();
        encode(&col(ColumnType::Nullable(Box::new(ColumnType::String))), &Value::Union(1, Box::new(Value::String("ab".into()))), &mut out).unwrap();
        assert_eq!(out, [0, 2, b'a', b'b']);
        out.clear();
        encode(&col(ColumnType::Nullable(Box::new(ColumnType::String))), &Value::Union(0, Box::new(Value::Null)), &mut out).unwrap();
        assert_eq!(out, [1]);
        out.clear();
        let d = apache_avro::Decimal::from((-12345i64).to_be_bytes().to_vec());
        encode(&col(ColumnType::Decimal { precision: 12, scale: 2 }), &Value::Decimal(d), &mut out).unwrap();
        assert_eq!(out, (-12345i64).to_le_bytes());
    }

    #[test]
    fn mismatches_name_the_column_and_types() {
        let column = Column {
            name: "userid".into(),
            column_type: ColumnType::Int32,
        };
        let err = encode(&column, &Value::String("x".into()), &mut Vec::new()).unwrap_err();
        assert_eq!(err.column, "userid");
        assert!(err.to_string().contains("cannot store an Avro String in Int32"), "{err}");
        let narrow = Column {
            name: "amount".into(),
            column_type: ColumnType::Decimal { precision: 9, scale: 0 },
        };
        let big = apache_avro::Decimal::from(10_000_000_000i64.to_be_bytes().to_vec());
        assert!(encode(&narrow, &Value::Decimal(big), &mut Vec::new()).is_err());
    }

    #[test]
    fn iso_timestamps_fill_datetime64() {
        assert_eq!(iso_utc_micros("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(iso_utc_micros("2024-02-29T12:34:56.5Z"), Some(1_709_210_096_500_000));
        assert_eq!(iso_utc_micros("1969-12-31T23:59:59.999999Z"), Some(-1));
        assert_eq!(iso_utc_micros("2024-02-29 12:34:56"), None);
        let column = Column {
            name: "paid_at".into(),
            column_type: ColumnType::DateTime64(3),
        };
        let mut out = Vec::new();
        encode(&column, &Value::String("2024-02-29T12:34:56.5Z".into()), &mut out).unwrap();
        assert_eq!(out, 1_709_210_096_500i64.to_le_bytes());
        assert_eq!(ColumnType::Nullable(Box::new(ColumnType::LowCardinalityString)).to_string(), "LowCardinality(Nullable(String))");
    }
}
