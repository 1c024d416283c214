//! The Kafka Connect `JsonConverter` record shape, for debugging and interop
//! with Connect-based consumers: `{"schema": <connect schema>, "payload": ...}`
//! with `schemas.enable=true`, or the bare payload without.
//!
//! Connect schemas are derived from the Avro schema with Connect's own names
//! for logical types (`org.apache.kafka.connect.data.Timestamp`, `Date`,
//! `Time`, `Decimal`); a `["null", T]` union becomes an optional `T`.

use apache_avro::Schema;
use serde_json::{Value as Json, json};

/// Wraps `payload` the way `JsonConverter` does.
pub fn envelope(schema: &Schema, payload: Json, with_schema: bool) -> Json {
    if with_schema {
        json!({ "schema": connect_schema(schema), "payload": payload })
    } else {
        payload
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
        let wrapped = envelope(&schema, json!({"userid": 1, "ip": null, "at": 5}), true);
        assert_eq!(
            wrapped["schema"],
            json!({"type":"struct","optional":false,"name":"sim.Click","fields":[
                {"type":"int64","optional":false,"field":"userid"},
                {"type":"string","optional":true,"field":"ip"},
                {"type":"int64","optional":false,"name":"org.apache.kafka.connect.data.Timestamp","version":1,"field":"at"}]})
        );
        assert_eq!(wrapped["payload"]["userid"], 1);
        assert_eq!(envelope(&schema, json!({"userid": 1}), false), json!({"userid": 1}));
    }
}
