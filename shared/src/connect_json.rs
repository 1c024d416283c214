//! The Kafka Connect `JsonConverter` record shape, for debugging and interop
//! with Connect-based consumers: `{"schema": <connect schema>, "payload": ...}`
//! with `schemas.enable=true`, or the bare payload without.
//!
//! Connect schemas are derived from the Avro schema with Connect's own names
//! for logical types (`org.apache.kafka.connect.data.Timestamp`, `Date`,
//! `Time`, `Decimal`); a `["null", T]` union becomes an optional `T`.

use apache_avro::Schema;
use serde::Serialize;
use serde_json::{Value as Json, json};

/// Writes records in the `JsonConverter` shape for one schema; the Connect
/// schema is rendered once, not per record.
pub struct ConnectJsonWriter {
    schema_json: Option<String>,
}

impl ConnectJsonWriter {
    /// `with_schema`: the `{"schema":..., "payload":...}` envelope (`schemas.enable=true`);
    /// otherwise the bare payload.
    pub fn new(schema: &Schema, with_schema: bool) -> Self {
        Self {
            schema_json: with_schema.then(|| connect_schema(schema).to_string()),
        }
    }

    /// Appends one record to `out`.
    pub fn write<T: Serialize>(&self, value: &T, out: &mut Vec<u8>) -> serde_json::Result<()> {
        match &self.schema_json {
            None => serde_json::to_writer(&mut *out, value),
            Some(schema) => {
                out.extend_from_slice(b"{\"schema\":");
                out.extend_from_slice(schema.as_bytes());
                out.extend_from_slice(b",\"payload\":");
                serde_json::to_writer(&mut *out, value)?;
                out.push(b'}');
                Ok(())
            }
        }
    }
}

/// The Connect schema equivalent to an Avro schema.
pub fn connect_schema(schema: &Schema) -> Json {
    convert(schema, false)
}

fn convert(schema: &Schema, optional: bool) -> Json {
    let simple = |t: &str| json!({ "type": t, "optional": optional });
    let named = |t: &str, name: &str| json!({ "type": t, "optional": optional, "name": name, "version": 1 });
    match schema {
        Schema::Null => simple("null"),
        Schema::Boolean => simple("boolean"),
        Schema::Int => simple("int32"),
        Schema::Long => simple("int64"),
        Schema::Float => simple("float"),
        Schema::Double => simple("double"),
        Schema::Bytes | Schema::Fixed(_) | Schema::Duration(_) => simple("bytes"),
        Schema::String | Schema::Uuid(_) | Schema::Enum(_) | Schema::BigDecimal => simple("string"),
        Schema::Date => named("int32", "org.apache.kafka.connect.data.Date"),
        Schema::TimeMillis => named("int32", "org.apache.kafka.connect.data.Time"),
        Schema::TimeMicros => named("int64", "io.debezium.time.MicroTime"),
        Schema::TimestampMillis | Schema::LocalTimestampMillis => {
            named("int64", "org.apache.kafka.connect.data.Timestamp")
        }
        Schema::TimestampMicros | Schema::LocalTimestampMicros => named("int64", "io.debezium.time.MicroTimestamp"),
        Schema::TimestampNanos | Schema::LocalTimestampNanos => named("int64", "io.debezium.time.NanoTimestamp"),
        Schema::Decimal(d) => json!({
            "type": "bytes", "optional": optional, "name": "org.apache.kafka.connect.data.Decimal", "version": 1,
            "parameters": { "scale": d.scale.to_string(), "connect.decimal.precision": d.precision.to_string() }
        }),
        Schema::Array(a) => json!({ "type": "array", "optional": optional, "items": convert(&a.items, false) }),
        Schema::Map(m) => json!({
            "type": "map", "optional": optional,
            "keys": { "type": "string", "optional": false }, "values": convert(&m.types, false)
        }),
        Schema::Union(u) => {
            let non_null: Vec<&Schema> = u.variants().iter().filter(|s| **s != Schema::Null).collect();
            match non_null.as_slice() {
                [only] => convert(only, true),
                // Connect has no general unions; Debezium never emits them. Describe as a string.
                _ => simple("string"),
            }
        }
        Schema::Record(r) => json!({
            "type": "struct",
            "optional": optional,
            "name": r.name.fullname(None),
            "fields": r.fields.iter().map(|f| {
                let mut field = convert(&f.schema, false);
                field["field"] = json!(f.name);
                field
            }).collect::<Vec<_>>(),
        }),
        Schema::Ref { name } => named("struct", &name.fullname(None)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_with_optional_and_logical_fields() {
        let schema = Schema::parse_str(
            r#"{"type":"record","name":"Click","namespace":"sim","fields":[
                {"name":"userid","type":"long"},
                {"name":"ip","type":["null","string"],"default":null},
                {"name":"at","type":{"type":"long","logicalType":"timestamp-millis"}}]}"#,
        )
        .unwrap();
        let mut out = Vec::new();
        ConnectJsonWriter::new(&schema, true)
            .write(&json!({"userid": 1, "ip": null, "at": 5}), &mut out)
            .unwrap();
        let wrapped: Json = serde_json::from_slice(&out).unwrap();
        assert_eq!(
            wrapped["schema"],
            json!({"type":"struct","optional":false,"name":"sim.Click","fields":[
                {"type":"int64","optional":false,"field":"userid"},
                {"type":"string","optional":true,"field":"ip"},
                {"type":"int64","optional":false,"name":"org.apache.kafka.connect.data.Timestamp","version":1,"field":"at"}]})
        );
        assert_eq!(wrapped["payload"]["userid"], 1);
        let mut bare = Vec::new();
        ConnectJsonWriter::new(&schema, false).write(&json!({"userid": 1}), &mut bare).unwrap();
        assert_eq!(bare, br#"{"userid":1}"#);
    }
}
