//! Avro binary encoding written straight into the output buffer, for the
//! shapes the source emits (its own envelope, keys and rows): no `Value` tree
//! for the envelope, no schema walk per record. The field order and union
//! branches are those of the schemas in `table.rs` / `envelope.rs`; a test
//! checks the bytes equal apache-avro's for the same record.

use apache_avro::types::Value;

pub fn long(out: &mut Vec<u8>, v: i64) {
    let mut z = ((v << 1) ^ (v >> 63)) as u64;
    while z >= 0x80 {
        out.push((z as u8) | 0x80);
        z >>= 7;
    }
    out.push(z as u8);
}

pub fn bytes(out: &mut Vec<u8>, b: &[u8]) {
    long(out, b.len() as i64);
    out.extend_from_slice(b);
}

pub fn string(out: &mut Vec<u8>, s: &str) {
    bytes(out, s.as_bytes());
}

/// Branch `index` of a union.
pub fn union(out: &mut Vec<u8>, index: i64) {
    long(out, index);
}

/// One value of the primitive and logical kinds a row column can hold.
pub fn value(out: &mut Vec<u8>, v: &Value) -> Result<(), String> {
    match v {
        Value::Null => {}
        Value::Boolean(b) => out.push(u8::from(*b)),
        Value::Int(i) | Value::Date(i) | Value::TimeMillis(i) => long(out, i64::from(*i)),
        Value::Long(l) | Value::TimeMicros(l) | Value::TimestampMillis(l) | Value::TimestampMicros(l) | Value::TimestampNanos(l) => long(out, *l),
        Value::Float(f) => out.extend_from_slice(&f.to_le_bytes()),
        Value::Double(d) => out.extend_from_slice(&d.to_le_bytes()),
        Value::String(s) => string(out, s),
        Value::Bytes(b) => bytes(out, b),
        Value::Decimal(d) => bytes(out, &<Vec<u8>>::try_from(d).map_err(|e| e.to_string())?),
        Value::Union(index, inner) => {
            union(out, i64::from(*index));
            value(out, inner)?;
        }
        Value::Record(fields) => {
            for (_, field) in fields {
                value(out, field)?;
            }
        }
        // One block with every item, then the empty block that ends the array.
        Value::Array(items) => {
            if !items.is_empty() {
                long(out, items.len() as i64);
                for item in items {
                    value(out, item)?;
                }
            }
            long(out, 0);
        }
        other => return Err(format!("no direct Avro encoding for {other:?}")),
    }
    Ok(())
}
