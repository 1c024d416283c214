//! Binlog column values → Avro values in Debezium's default mapping, with the
//! corrections `mysql_common` 0.37 needs:
//!
//! * signed MEDIUMINT is sign-extended (it can come back as `16777215` for −1);
//! * YEAR `0000` comes back as `1900` and is restored to 0;
//! * BINARY(n) loses its trailing zero bytes and is re-padded to n;
//! * TIMESTAMP arrives as `"seconds[.micros]"` text and becomes an ISO-8601
//!   UTC string with the column's fractional digits (`ZonedTimestamp`);
//! * zero and partial-zero dates (`0000-00-00`, `2024-00-15`, a zero
//!   TIMESTAMP) are what Debezium emits: null in a nullable column, the epoch
//!   (day 0, `1970-01-01T00:00:00Z`) in a NOT NULL one — never a made-up date;
//! * MySQL's binary JSON, opaque scalars included (`JSON_OBJECT('price', 9.99)`
//!   holds a DECIMAL), is rendered as the compact text of what the server
//!   prints: keys in the stored order, DECIMAL as a number, DATE/TIME/DATETIME
//!   as strings with six fractional digits, other opaque values as
//!   `base64:type<N>:<data>` — so snapshot and binlog give the same string.
//!
//! Every other conversion fails loudly (an error naming the column) instead of
//! guessing.

use crate::table::{Charset, Column, ColumnKind};
use apache_avro::types::Value;
use mysql_common::binlog::value::BinlogValue;
use mysql_common::value::Value as MyValue;

/// Where a value was read: the binlog (row images) or a query (the snapshot,
/// binary protocol, session time zone UTC). They differ for SET (a bitmap vs
/// the member list) and TIMESTAMP (epoch text vs a date-time).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Binlog,
    Query,
}

/// The Avro value of one column (wrapped in the `["null", T]` union when nullable).
pub fn column_value(column: &Column, value: Option<&BinlogValue<'_>>, origin: Origin) -> Result<Value, String> {
    let inner = match value {
        None | Some(BinlogValue::Value(MyValue::NULL)) => None,
        Some(BinlogValue::Value(v)) if is_zero_temporal(&column.kind, v) => (!column.nullable).then(|| epoch(&column.kind)),
        Some(v) => Some(convert(&column.kind, v, origin).map_err(|e| format!("column `{}`: {e}", column.name))?),
    };
    match (column.nullable, inner) {
        (true, None) => Ok(Value::Union(0, Box::new(Value::Null))),
        (true, Some(v)) => Ok(Value::Union(1, Box::new(v))),
        (false, Some(v)) => Ok(v),
        (false, None) => Err(format!("column `{}` is NOT NULL but the row has no value", column.name)),
    }
}

fn convert(kind: &ColumnKind, value: &BinlogValue<'_>, origin: Origin) -> Result<Value, String> {
    let value = match value {
        BinlogValue::Value(v) => v,
        BinlogValue::Jsonb(j) => {
            return match kind {
                ColumnKind::Json => Ok(Value::String(json_value(j.clone()).map_err(|e| format!("undecodable JSON: {e}"))?.to_string())),
                other => Err(format!("JSON value in a {other:?} column")),
            };
        }
        BinlogValue::JsonDiff(_) => {
            return Err("partial JSON update (binlog_row_value_options=PARTIAL_JSON): set it to '' so rows carry full values".into());
        }
    };
    // Names the value's kind, never the value (row values stay out of logs).
    let unexpected = || {
        let variant = format!("{value:?}");
        format!("unexpected {} value for {kind:?}", variant.split(['(', ' ']).next().unwrap_or("other"))
    };
    Ok(match (kind, value) {
        (ColumnKind::Integer { bytes, unsigned }, MyValue::Int(i)) => integer(*bytes, *unsigned, *i as u64),
        (ColumnKind::Integer { bytes, unsigned }, MyValue::UInt(u)) => integer(*bytes, *unsigned, *u),
        (ColumnKind::UnsignedBigintDecimal, MyValue::Int(i)) => unsigned_decimal(*i as u64)?,
        (ColumnKind::UnsignedBigintDecimal, MyValue::UInt(u)) => unsigned_decimal(*u)?,
        (ColumnKind::UnsignedBigintDecimal, MyValue::Bytes(text)) => {
            unsigned_decimal(std::str::from_utf8(text).ok().and_then(|t| t.parse().ok()).ok_or_else(unexpected)?)?
        }
        (ColumnKind::Float, MyValue::Float(f)) => Value::Float(*f),
        (ColumnKind::Float, MyValue::Double(f)) => Value::Float(*f as f32),
        (ColumnKind::Double, MyValue::Double(f)) => Value::Double(*f),
        (ColumnKind::Double, MyValue::Float(f)) => Value::Double(f64::from(*f)),
        (ColumnKind::Decimal { scale, .. }, MyValue::Bytes(text)) => {
            Value::Decimal(apache_avro::Decimal::from(decimal_unscaled(std::str::from_utf8(text).map_err(|_| unexpected())?, *scale)?))
        }
        // A query answers in the connection's charset (utf8mb4); the binlog has the column's own bytes.
        (ColumnKind::Text { charset }, MyValue::Bytes(bytes)) => Value::String(match origin {
            Origin::Binlog => text(*charset, bytes),
            Origin::Query => String::from_utf8_lossy(bytes).into_owned(),
        }),
        // Re-serialised so the binlog's binary JSON and the snapshot's text give the same string.
        (ColumnKind::Json, MyValue::Bytes(bytes)) => Value::String(match serde_json::from_slice::<serde_json::Value>(bytes) {
            Ok(json) => json.to_string(),
            Err(_) => String::from_utf8_lossy(bytes).into_owned(),
        }),
        (ColumnKind::Binary { len }, MyValue::Bytes(bytes)) => {
            let mut padded = bytes.clone();
            if padded.len() < *len {
                padded.resize(*len, 0);
            }
            Value::Bytes(padded)
        }
        (ColumnKind::Bytes, MyValue::Bytes(bytes)) => Value::Bytes(bytes.clone()),
        (ColumnKind::Date, MyValue::Date(y, m, d, ..)) => Value::Date(days_from_civil(i64::from(*y), *m, *d) as i32),
        (ColumnKind::DateTime { fsp }, MyValue::Date(y, mo, d, h, mi, s, us)) => {
            let micros = (days_from_civil(i64::from(*y), *mo, *d) * 86_400 + i64::from(*h) * 3600 + i64::from(*mi) * 60 + i64::from(*s))
                * 1_000_000
                + i64::from(*us);
            if *fsp <= 3 { Value::TimestampMillis(micros.div_euclid(1000)) } else { Value::TimestampMicros(micros) }
        }
        (ColumnKind::Time { .. }, MyValue::Time(negative, days, h, m, s, us)) => {
            let micros = ((i64::from(*days) * 24 + i64::from(*h)) * 3600 + i64::from(*m) * 60 + i64::from(*s)) * 1_000_000 + i64::from(*us);
            Value::TimeMicros(if *negative { -micros } else { micros })
        }
        (ColumnKind::Timestamp { fsp }, MyValue::Bytes(text)) => {
            Value::String(zoned_timestamp(std::str::from_utf8(text).map_err(|_| unexpected())?, *fsp)?)
        }
        (ColumnKind::Timestamp { fsp }, MyValue::Int(seconds)) => Value::String(zoned_timestamp(&seconds.to_string(), *fsp)?),
        (ColumnKind::Timestamp { fsp }, MyValue::Date(y, mo, d, h, mi, s, us)) => {
            let seconds = days_from_civil(i64::from(*y), *mo, *d) * 86_400 + i64::from(*h) * 3600 + i64::from(*mi) * 60 + i64::from(*s);
            Value::String(zoned_timestamp(&format!("{seconds}.{us:06}"), *fsp)?)
        }
        (ColumnKind::Enum { .. }, MyValue::Bytes(text)) => Value::String(String::from_utf8_lossy(text).into_owned()),
        (ColumnKind::Set { .. }, MyValue::Bytes(text)) if origin == Origin::Query => Value::String(String::from_utf8_lossy(text).into_owned()),
        (ColumnKind::Year, MyValue::Bytes(text)) => {
            let year: i32 = std::str::from_utf8(text).ok().and_then(|t| t.parse().ok()).ok_or_else(unexpected)?;
            // mysql_common adds 1900 to the stored byte, so YEAR 0000 (byte 0) reads as 1900.
            Value::Int(if year == 1900 { 0 } else { year })
        }
        (ColumnKind::Year, MyValue::Int(y)) => Value::Int(*y as i32),
        (ColumnKind::Enum { values }, MyValue::Int(index)) => Value::String(match *index {
            0 => String::new(), // MySQL's "invalid value" member
            i => values.get(i as usize - 1).cloned().ok_or_else(|| format!("ENUM index {i} beyond {} values", values.len()))?,
        }),
        (ColumnKind::Set { values }, MyValue::Bytes(bitmap)) => {
            let mut members = Vec::new();
            for (i, name) in values.iter().enumerate() {
                if bitmap.get(i / 8).is_some_and(|b| b & (1 << (i % 8)) != 0) {
                    members.push(name.as_str());
                }
            }
            Value::String(members.join(","))
        }
        (ColumnKind::Geometry { point }, MyValue::Bytes(bytes)) => geometry(*point, bytes)?,
        (ColumnKind::Vector, MyValue::Bytes(bytes)) => {
            if bytes.len() % 4 != 0 {
                return Err(format!("VECTOR value of {} bytes is not a whole number of float32s", bytes.len()));
            }
            Value::Array(bytes.chunks_exact(4).map(|c| Value::Float(f32::from_le_bytes(c.try_into().expect("4 bytes")))).collect())
        }
        (ColumnKind::Bit { bits: 1 }, MyValue::Bytes(bytes)) => Value::Boolean(bytes.iter().any(|b| *b != 0)),
        // Debezium's `Bits`: the bytes in little-endian order; the binlog has them big-endian.
        (ColumnKind::Bit { .. }, MyValue::Bytes(bytes)) => Value::Bytes(bytes.iter().rev().copied().collect()),
        _ => return Err(unexpected()),
    })
}

/// MySQL's geometry bytes (SRID, 4 bytes little-endian, then WKB) as
/// Debezium's `Geometry {wkb, srid}` — or, for a POINT column, `Point {x, y,
/// wkb, srid}`. SRID 0 (none) is null, as Debezium has it.
fn geometry(point: bool, bytes: &[u8]) -> Result<Value, String> {
    let (srid, wkb) = bytes.split_first_chunk::<4>().ok_or_else(|| format!("geometry value of {} bytes has no SRID", bytes.len()))?;
    let srid = match i32::from_le_bytes(*srid) {
        0 => Value::Union(0, Box::new(Value::Null)),
        srid => Value::Union(1, Box::new(Value::Int(srid))),
    };
    if !point {
        return Ok(Value::Record(vec![("wkb".into(), Value::Bytes(wkb.to_vec())), ("srid".into(), srid)]));
    }
    // WKB point: byte order, type 1, x, y.
    let (x, y) = match wkb {
        [order @ (0 | 1), rest @ ..] if rest.len() == 20 => {
            let read = |b: &[u8]| {
                let b: [u8; 8] = b.try_into().expect("8 bytes");
                if *order == 1 { f64::from_le_bytes(b) } else { f64::from_be_bytes(b) }
            };
            let kind = if *order == 1 { u32::from_le_bytes(rest[..4].try_into().expect("4")) } else { u32::from_be_bytes(rest[..4].try_into().expect("4")) };
            if kind != 1 {
                return Err(format!("POINT column holds WKB type {kind}"));
            }
            (read(&rest[4..12]), read(&rest[12..20]))
        }
        _ => return Err(format!("POINT column holds {} bytes of WKB, not a 2D point", wkb.len())),
    };
    Ok(Value::Record(vec![
        ("x".into(), Value::Double(x)),
        ("y".into(), Value::Double(y)),
        ("wkb".into(), Value::Union(1, Box::new(Value::Bytes(wkb.to_vec())))),
        ("srid".into(), srid),
    ]))
}

/// A DATE/DATETIME with month or day 0, or a TIMESTAMP at 0 (MySQL's zero value).
fn is_zero_temporal(kind: &ColumnKind, value: &MyValue) -> bool {
    match (kind, value) {
        (ColumnKind::Date | ColumnKind::DateTime { .. } | ColumnKind::Timestamp { .. }, MyValue::Date(_, month, day, ..)) => *month == 0 || *day == 0,
        (ColumnKind::Timestamp { .. }, MyValue::Bytes(text)) => std::str::from_utf8(text).is_ok_and(|t| t.trim_matches(['0', '.']).is_empty()),
        (ColumnKind::Timestamp { .. }, MyValue::Int(0)) => true,
        _ => false,
    }
}

/// What Debezium emits for a zero date in a NOT NULL column: the epoch.
fn epoch(kind: &ColumnKind) -> Value {
    match kind {
        ColumnKind::Date => Value::Date(0),
        ColumnKind::DateTime { fsp } if *fsp <= 3 => Value::TimestampMillis(0),
        ColumnKind::DateTime { .. } => Value::TimestampMicros(0),
        ColumnKind::Timestamp { fsp } => Value::String(zoned_timestamp("0", *fsp).expect("0 is a valid timestamp")),
        _ => Value::Null,
    }
}

/// MySQL binary JSON as a JSON value in the order MySQL stores (and prints) it.
fn json_value(value: mysql_common::binlog::jsonb::Value<'_>) -> std::io::Result<serde_json::Value> {
    use mysql_common::binlog::jsonb::{JsonDom, JsonNumber, JsonScalar, Value as J};
    let object = |entries: &mut dyn Iterator<Item = std::io::Result<(mysql_common::binlog::jsonb::ObjectKey<'_>, J<'_>)>>| {
        let mut map = serde_json::Map::new();
        for entry in entries {
            let (key, value) = entry?;
            map.insert(key.value().into_owned(), json_value(value)?);
        }
        Ok::<_, std::io::Error>(serde_json::Value::Object(map))
    };
    Ok(match value {
        J::SmallObject(o) => object(&mut o.iter())?,
        J::LargeObject(o) => object(&mut o.iter())?,
        J::SmallArray(a) => serde_json::Value::Array(a.iter().map(|v| v.and_then(json_value)).collect::<Result<_, _>>()?),
        J::LargeArray(a) => serde_json::Value::Array(a.iter().map(|v| v.and_then(json_value)).collect::<Result<_, _>>()?),
        scalar => match scalar.parse()? {
            // The server prints an opaque DECIMAL as a number; so does the snapshot's text.
            JsonDom::Scalar(JsonScalar::Number(JsonNumber::Decimal(d))) => {
                serde_json::from_str(&d.to_string()).unwrap_or_else(|_| serde_json::Value::String(d.to_string()))
            }
            other => other.into(),
        },
    })
}

/// A BIGINT UNSIGNED value as DECIMAL(20, 0).
fn unsigned_decimal(value: u64) -> Result<Value, String> {
    Ok(Value::Decimal(apache_avro::Decimal::from(decimal_unscaled(&value.to_string(), 0)?)))
}

fn integer(bytes: u8, unsigned: bool, raw: u64) -> Value {
    let bits = u32::from(bytes) * 8;
    let value = if unsigned || bits == 64 {
        raw & if bits == 64 { u64::MAX } else { (1 << bits) - 1 }
    } else {
        // Sign-extend from the column's width: mysql_common may hand back the
        // raw 24-bit pattern of a negative MEDIUMINT.
        let shift = 64 - bits;
        (((raw << shift) as i64) >> shift) as u64
    };
    match (bytes, unsigned) {
        (4, true) | (8, _) => Value::Long(value as i64),
        _ => Value::Int(value as i64 as i32),
    }
}

/// `"-123.45"` with scale 2 → the two's-complement big-endian bytes of -12345.
pub fn decimal_unscaled(text: &str, scale: u8) -> Result<Vec<u8>, String> {
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (int_part, frac_part) = digits.split_once('.').unwrap_or((digits, ""));
    let scale = usize::from(scale);
    if frac_part.len() > scale || !int_part.chars().chain(frac_part.chars()).all(|c| c.is_ascii_digit()) {
        return Err(format!("a decimal with {} fraction digits (or not a number) does not fit scale {scale}", frac_part.len()));
    }
    // Magnitude as big-endian base-256, built digit by digit.
    let mut magnitude: Vec<u8> = vec![0];
    let all_digits = int_part.chars().chain(frac_part.chars()).chain(std::iter::repeat_n('0', scale - frac_part.len()));
    for c in all_digits {
        let mut carry = u32::from(c as u8 - b'0');
        for byte in magnitude.iter_mut().rev() {
            let v = u32::from(*byte) * 10 + carry;
            *byte = v as u8;
            carry = v >> 8;
        }
        while carry > 0 {
            magnitude.insert(0, carry as u8);
            carry >>= 8;
        }
    }
    // Room for the sign bit.
    if magnitude[0] & 0x80 != 0 {
        magnitude.insert(0, 0);
    }
    if negative {
        for byte in magnitude.iter_mut() {
            *byte = !*byte;
        }
        for byte in magnitude.iter_mut().rev() {
            let (v, overflow) = byte.overflowing_add(1);
            *byte = v;
            if !overflow {
                break;
            }
        }
    }
    while magnitude.len() > 1 && ((magnitude[0] == 0 && magnitude[1] & 0x80 == 0) || (magnitude[0] == 0xff && magnitude[1] & 0x80 != 0)) {
        magnitude.remove(0);
    }
    Ok(magnitude)
}

fn text(charset: Charset, bytes: &[u8]) -> String {
    match charset {
        Charset::Latin1 => bytes.iter().map(|&b| cp1252(b)).collect(),
        Charset::Utf32 => bytes
            .chunks(4)
            .map(|c| c.iter().fold(0u32, |acc, b| (acc << 8) | u32::from(*b)))
            .map(|cp| char::from_u32(cp).unwrap_or(char::REPLACEMENT_CHARACTER))
            .collect(),
        Charset::Encoded(encoding) => encoding.decode_without_bom_handling(bytes).0.into_owned(),
        Charset::Utf8 | Charset::Unsupported => String::from_utf8_lossy(bytes).into_owned(),
    }
}

/// MySQL's `latin1` is Windows-1252.
fn cp1252(b: u8) -> char {
    const HIGH: [char; 32] = [
        '€', '\u{81}', '‚', 'ƒ', '„', '…', '†', '‡', 'ˆ', '‰', 'Š', '‹', 'Œ', '\u{8d}', 'Ž', '\u{8f}', '\u{90}', '‘', '’', '“', '”', '•', '–', '—',
        '˜', '™', 'š', '›', 'œ', '\u{9d}', 'ž', 'Ÿ',
    ];
    match b {
        0x80..=0x9f => HIGH[usize::from(b - 0x80)],
        _ => char::from(b),
    }
}

/// `"1700000000.123"` → `"2023-11-14T22:13:20.123000Z"` (as many fraction digits as the column has).
pub fn zoned_timestamp(text: &str, fsp: u8) -> Result<String, String> {
    let (seconds, fraction) = text.split_once('.').unwrap_or((text, ""));
    let seconds: i64 = seconds.parse().map_err(|_| "a TIMESTAMP value that is not a number of seconds".to_string())?;
    let (days, secs) = (seconds.div_euclid(86_400), seconds.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    let mut out = format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}", secs / 3600, secs % 3600 / 60, secs % 60);
    if fsp > 0 {
        let mut digits: String = fraction.chars().take(usize::from(fsp)).collect();
        while digits.len() < usize::from(fsp) {
            digits.push('0');
        }
        out.push('.');
        out.push_str(&digits);
    }
    out.push('Z');
    Ok(out)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
pub fn days_from_civil(y: i64, m: u8, d: u8) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

pub fn civil_from_days(z: i64) -> (i64, u8, u8) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u8;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
    (if m <= 2 { yoe + era * 400 + 1 } else { yoe + era * 400 }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mediumint_is_sign_extended_and_widths_respected() {
        assert_eq!(integer(3, false, 16_777_215), Value::Int(-1));
        assert_eq!(integer(3, false, (-8_388_608i64) as u64), Value::Int(-8_388_608));
        assert_eq!(integer(3, true, 16_777_215), Value::Int(16_777_215));
        assert_eq!(integer(1, false, 255), Value::Int(-1));
        assert_eq!(integer(4, true, 4_294_967_295), Value::Long(4_294_967_295));
        assert_eq!(integer(8, true, u64::MAX), Value::Long(-1), "BIGINT UNSIGNED as long, Debezium's default");
    }

    #[test]
    fn decimals_become_twos_complement_unscaled_bytes() {
        let unscaled = |t: &str, s: u8| {
            let bytes = decimal_unscaled(t, s).unwrap();
            let mut v: i128 = if bytes[0] & 0x80 != 0 { -1 } else { 0 };
            for b in bytes {
                v = (v << 8) | i128::from(b);
            }
            v
        };
        assert_eq!(unscaled("123.45", 2), 12345);
        assert_eq!(unscaled("-123.45", 2), -12345);
        assert_eq!(unscaled("-0.01", 2), -1);
        assert_eq!(unscaled("128", 0), 128);
        assert_eq!(unscaled("-128", 0), -128);
        assert_eq!(unscaled("1.5", 3), 1500);
        assert_eq!(unscaled("0", 2), 0);
        assert_eq!(unscaled("99999999999999999999999999999999999.999", 3), 99_999_999_999_999_999_999_999_999_999_999_999_999);
        assert!(decimal_unscaled("1.234", 2).is_err());
    }

    #[test]
    fn dates_and_timestamps() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(days_from_civil(1969, 12, 31), -1);
        assert_eq!(civil_from_days(11_017), (2000, 3, 1));
        assert_eq!(zoned_timestamp("1700000000", 0).unwrap(), "2023-11-14T22:13:20Z");
        assert_eq!(zoned_timestamp("1700000000.123456", 3).unwrap(), "2023-11-14T22:13:20.123Z");
        assert_eq!(zoned_timestamp("1700000000.5", 6).unwrap(), "2023-11-14T22:13:20.500000Z");
        assert_eq!(zoned_timestamp("0", 0).unwrap(), "1970-01-01T00:00:00Z");
    }

    #[test]
    fn latin1_is_windows_1252() {
        assert_eq!(text(Charset::Latin1, &[0x80, b'a', 0xe9]), "€aé");
        assert_eq!(text(Charset::named("utf16"), &[0x00, 0x63, 0x00, 0xe9]), "cé");
        assert_eq!(text(Charset::named("utf32"), &[0, 0, 0, 0x63, 0, 1, 0xf6, 0x00]), "c😀");
        assert_eq!(text(Charset::named("gbk"), &[0xc4, 0xe3, 0xba, 0xc3]), "你好");
        assert_eq!(text(Charset::named("sjis"), &[0x82, 0xa0]), "あ");
    }
}
