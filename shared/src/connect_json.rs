//! The Kafka Connect `JsonConverter` record shape, for debugging and interop
//! with Connect-based consumers: `{"schema": <connect schema>, "payload": ...}`
//! with `schemas.enable=true`, or the bare payload without.
//!
//! Connect schemas are derived from the Avro schema with Connect's own names
//! for logical types (`org.apache.kafka.connect.data.Timestamp`, `Date`,
//! `Time`, `Decimal`); a `["null", T]` union becomes an optional `T`.
//!
//! [`ConnectJsonReader`] goes the other way for consumers: a record with its
//! Connect schema becomes an Avro schema and value, so JSON topics flow through
//! the same table mapping as Avro ones. It needs `schemas.enable=true` (the
//! schema says what the columns are); bytes and decimals are base64, as
//! `JsonConverter` writes them by default.

use crate::glue::RegisteredSchema;
use apache_avro::Schema;
use apache_avro::types::Value;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::{Deserialize, Serialize};
use serde_json::{Value as Json, json};
use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};
use uuid::Uuid;

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

/// The Connect schema equivalent to an Avro schema. A record referred to by
/// name (Debezium's `after` refers to the `Value` record `before` defines) is
/// written out in full each time: a Connect struct schema always lists its
/// fields (`JsonConverter` rejects a struct without them).
pub fn connect_schema(schema: &Schema) -> Json {
    let names = apache_avro::schema::ResolvedSchema::try_from(schema).map(|r| r.get_names().clone()).unwrap_or_default();
    convert(schema, false, &names)
}

fn convert(schema: &Schema, optional: bool, names: &apache_avro::schema::NamesRef<'_>) -> Json {
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
        Schema::Array(a) => json!({ "type": "array", "optional": optional, "items": convert(&a.items, false, names) }),
        Schema::Map(m) => json!({
            "type": "map", "optional": optional,
            "keys": { "type": "string", "optional": false }, "values": convert(&m.types, false, names)
        }),
        Schema::Union(u) => {
            let non_null: Vec<&Schema> = u.variants().iter().filter(|s| **s != Schema::Null).collect();
            match non_null.as_slice() {
                [only] => convert(only, true, names),
                // Connect has no general unions; Debezium never emits them. Describe as a string.
                _ => simple("string"),
            }
        }
        Schema::Record(r) => json!({
            "type": "struct",
            "optional": optional,
            "name": r.name.fullname(None),
            "fields": r.fields.iter().map(|f| {
                let mut field = convert(&f.schema, false, names);
                field["field"] = json!(f.name);
                // Debezium's source-column parameters, kept on the field by cdc-source.
                if let Some(Json::Object(extra)) = f.custom_attributes.get("connect.parameters") {
                    let parameters = field["parameters"].as_object().cloned().unwrap_or_default();
                    field["parameters"] = Json::Object(parameters.into_iter().chain(extra.clone()).collect());
                }
                field
            }).collect::<Vec<_>>(),
        }),
        Schema::Ref { name } => match names.get(name) {
            Some(defined) => convert(defined, optional, names),
            None => named("struct", &name.fullname(None)),
        },
    }
}

/// The `JsonConverter` payload of an Avro value: unions unwrapped, bytes and
/// decimals base64, dates/times/timestamps as their numbers.
pub fn payload(value: &Value) -> Json {
    match value {
        Value::Null => Json::Null,
        Value::Boolean(b) => json!(b),
        Value::Int(i) | Value::Date(i) | Value::TimeMillis(i) => json!(i),
        Value::Long(l) | Value::TimeMicros(l) | Value::TimestampMillis(l) | Value::TimestampMicros(l) | Value::TimestampNanos(l) => json!(l),
        Value::LocalTimestampMillis(l) | Value::LocalTimestampMicros(l) | Value::LocalTimestampNanos(l) => json!(l),
        Value::Float(f) => json!(f),
        Value::Double(d) => json!(d),
        Value::Bytes(b) | Value::Fixed(_, b) => json!(BASE64.encode(b)),
        Value::Decimal(d) => json!(BASE64.encode(<Vec<u8>>::try_from(d).unwrap_or_default())),
        Value::String(s) | Value::Enum(_, s) => json!(s),
        Value::Uuid(u) => json!(u.to_string()),
        Value::Union(_, inner) => payload(inner),
        Value::Array(items) => Json::Array(items.iter().map(payload).collect()),
        Value::Map(m) => Json::Object(m.iter().map(|(k, v)| (k.clone(), payload(v))).collect()),
        Value::Record(fields) => Json::Object(fields.iter().map(|(k, v)| (k.clone(), payload(v))).collect()),
        other => json!(format!("{other:?}")),
    }
}

/// Reads `{"schema": ..., "payload": ...}` records; each distinct Connect
/// schema is converted once and gets a stable id (a hash of its text), which
/// plays the role of a registry's schema-version id.
#[derive(Default)]
pub struct ConnectJsonReader {
    schemas: Mutex<HashMap<String, Arc<RegisteredSchema>>>,
}

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow)]
    schema: Option<&'a serde_json::value::RawValue>,
    payload: Json,
}

impl ConnectJsonReader {
    /// The record's schema and value; the error says what is wrong with the bytes.
    pub fn read(&self, bytes: &[u8]) -> Result<(Arc<RegisteredSchema>, Value), String> {
        let envelope: Envelope = serde_json::from_slice(bytes).map_err(|e| format!("not a Connect JSON envelope: {e}"))?;
        let Some(raw) = envelope.schema else {
            return Err("record has no \"schema\" (the producer needs schemas.enable=true)".into());
        };
        let schema = self.schema(raw.get())?;
        let value = avro_value(&schema.schema, &envelope.payload)?;
        Ok((schema, value))
    }

    fn schema(&self, text: &str) -> Result<Arc<RegisteredSchema>, String> {
        if let Some(known) = self.schemas.lock().expect("lock").get(text) {
            return Ok(known.clone());
        }
        let connect: Json = serde_json::from_str(text).map_err(|e| e.to_string())?;
        let (schema, definition) = avro_schema(&connect)?;
        let registered = Arc::new(RegisteredSchema {
            version_id: stable_id(text),
            definition: definition.to_string(),
            schema,
        });
        self.schemas.lock().expect("lock").insert(text.to_string(), registered.clone());
        Ok(registered)
    }
}

fn stable_id(text: &str) -> Uuid {
    let half = |seed: u64| {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        seed.hash(&mut h);
        text.hash(&mut h);
        h.finish()
    };
    Uuid::from_u64_pair(half(0), half(1))
}

/// The Avro schema equivalent to a Connect schema (the inverse of
/// [`connect_schema`]), and its JSON definition: named primitives (Debezium's
/// `io.debezium.data.Enum`, `Json`, ...) keep their name as `connect.name`
/// there, as Confluent's and Glue's converters write it.
pub fn avro_schema(connect: &Json) -> Result<(Schema, Json), String> {
    let mut names = HashSet::new();
    let avro = to_avro(connect, "ConnectDefault", &mut names)?;
    let schema = Schema::parse(&avro).map_err(|e| format!("Connect schema has no Avro equivalent: {e}"))?;
    Ok((schema, avro))
}

fn to_avro(connect: &Json, path: &str, names: &mut HashSet<String>) -> Result<Json, String> {
    let plain = non_null(connect, path, names)?;
    if connect["optional"].as_bool().unwrap_or(false) {
        Ok(json!(["null", plain]))
    } else {
        Ok(plain)
    }
}

fn non_null(connect: &Json, path: &str, names: &mut HashSet<String>) -> Result<Json, String> {
    let kind = connect["type"].as_str().ok_or_else(|| format!("{path}: schema has no \"type\""))?;
    let name = connect["name"].as_str().unwrap_or("");
    let logical = |base: &str, logical: &str| json!({"type": base, "logicalType": logical});
    Ok(match (kind, name) {
        ("int32", "org.apache.kafka.connect.data.Date" | "io.debezium.time.Date") => logical("int", "date"),
        ("int32", "org.apache.kafka.connect.data.Time" | "io.debezium.time.Time") => logical("int", "time-millis"),
        ("int64", "org.apache.kafka.connect.data.Timestamp" | "io.debezium.time.Timestamp") => {
            logical("long", "timestamp-millis")
        }
        ("int64", "io.debezium.time.MicroTimestamp") => logical("long", "timestamp-micros"),
        ("int64", "io.debezium.time.NanoTimestamp") => logical("long", "timestamp-nanos"),
        ("int64", "io.debezium.time.MicroTime") => logical("long", "time-micros"),
        ("bytes", "org.apache.kafka.connect.data.Decimal") => {
            let parameter = |key: &str| connect["parameters"][key].as_str().and_then(|v| v.parse::<usize>().ok());
            let scale = parameter("scale").ok_or_else(|| format!("{path}: Decimal without a numeric \"scale\" parameter"))?;
            let precision = parameter("connect.decimal.precision").unwrap_or(38);
            json!({"type": "bytes", "logicalType": "decimal", "precision": precision, "scale": scale})
        }
        ("int8" | "int16" | "int32" | "int64" | "float" | "float32" | "double" | "float64" | "boolean" | "string" | "bytes", _) => {
            let primitive = match kind {
                "int8" | "int16" | "int32" => "int",
                "int64" => "long",
                "float" | "float32" => "float",
                "double" | "float64" => "double",
                other => other,
            };
            if name.is_empty() { json!(primitive) } else { json!({"type": primitive, "connect.name": name}) }
        }
        ("array", _) => json!({"type": "array", "items": to_avro(&connect["items"], &format!("{path}_items"), names)?}),
        ("map", _) => {
            if connect["keys"]["type"] != "string" {
                return Err(format!("{path}: map keys must be strings to have an Avro equivalent"));
            }
            json!({"type": "map", "values": to_avro(&connect["values"], &format!("{path}_values"), names)?})
        }
        ("struct", _) => {
            let record_name = unique_name(if name.is_empty() { path } else { name }, names);
            let fields = connect["fields"].as_array().ok_or_else(|| format!("{path}: struct without \"fields\""))?;
            let fields = fields
                .iter()
                .map(|f| {
                    let field = f["field"].as_str().ok_or_else(|| format!("{path}: field without a name"))?;
                    let schema = to_avro(f, &format!("{path}_{field}"), names)?;
                    let mut out = json!({"name": field, "type": schema});
                    if f["optional"].as_bool().unwrap_or(false) {
                        out["default"] = Json::Null;
                    }
                    let source: serde_json::Map<String, Json> = f["parameters"]
                        .as_object()
                        .into_iter()
                        .flatten()
                        .filter(|(k, _)| k.starts_with("__debezium.source."))
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect();
                    if !source.is_empty() {
                        out["connect.parameters"] = Json::Object(source);
                    }
                    Ok(out)
                })
                .collect::<Result<Vec<_>, String>>()?;
            json!({"type": "record", "name": record_name, "fields": fields})
        }
        (other, _) => return Err(format!("{path}: unknown Connect type {other:?}")),
    })
}

/// An Avro full name from `wanted`, made valid and unique within one schema.
fn unique_name(wanted: &str, names: &mut HashSet<String>) -> String {
    let part = |p: &str| {
        let mut s: String = p.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '_' }).collect();
        if s.is_empty() || s.starts_with(|c: char| c.is_ascii_digit()) {
            s.insert(0, '_');
        }
        s
    };
    let base = wanted.split('.').map(part).collect::<Vec<_>>().join(".");
    let mut name = base.clone();
    let mut n = 1;
    while !names.insert(name.clone()) {
        n += 1;
        name = format!("{base}{n}");
    }
    name
}

/// The Avro value of a Connect JSON payload, shaped by `schema` (from [`avro_schema`]).
pub fn avro_value(schema: &Schema, payload: &Json) -> Result<Value, String> {
    value_at(schema, payload, "payload")
}

fn value_at(schema: &Schema, json: &Json, path: &str) -> Result<Value, String> {
    // Names the JSON value's kind, never the value (row values stay out of logs).
    let wrong = || {
        let kind = match json {
            Json::Null => "null",
            Json::Bool(_) => "boolean",
            Json::Number(_) => "number",
            Json::String(_) => "string",
            Json::Array(_) => "array",
            Json::Object(_) => "object",
        };
        format!("{path}: a JSON {kind} that does not fit {}", kind_name(schema))
    };
    let int = || json.as_i64().and_then(|v| i32::try_from(v).ok()).ok_or_else(wrong);
    let long = || json.as_i64().ok_or_else(wrong);
    let base64 = || {
        let text = json.as_str().ok_or_else(wrong)?;
        BASE64.decode(text).map_err(|e| format!("{path}: not base64: {e}"))
    };
    Ok(match schema {
        Schema::Null if json.is_null() => Value::Null,
        Schema::Boolean => Value::Boolean(json.as_bool().ok_or_else(wrong)?),
        Schema::Int => Value::Int(int()?),
        Schema::Long => Value::Long(long()?),
        Schema::Float => Value::Float(json.as_f64().ok_or_else(wrong)? as f32),
        Schema::Double => Value::Double(json.as_f64().ok_or_else(wrong)?),
        Schema::String => Value::String(json.as_str().ok_or_else(wrong)?.to_string()),
        Schema::Bytes => Value::Bytes(base64()?),
        Schema::Decimal(_) => Value::Decimal(apache_avro::Decimal::from(base64()?)),
        Schema::Date => Value::Date(int()?),
        Schema::TimeMillis => Value::TimeMillis(int()?),
        Schema::TimeMicros => Value::TimeMicros(long()?),
        Schema::TimestampMillis => Value::TimestampMillis(long()?),
        Schema::TimestampMicros => Value::TimestampMicros(long()?),
        Schema::TimestampNanos => Value::TimestampNanos(long()?),
        Schema::Array(a) => {
            let items = json.as_array().ok_or_else(wrong)?;
            let items = items.iter().enumerate().map(|(i, v)| value_at(&a.items, v, &format!("{path}[{i}]")));
            Value::Array(items.collect::<Result<_, _>>()?)
        }
        Schema::Map(m) => {
            let entries = json.as_object().ok_or_else(wrong)?;
            let entries = entries.iter().map(|(k, v)| Ok((k.clone(), value_at(&m.types, v, &format!("{path}.{k}"))?)));
            Value::Map(entries.collect::<Result<_, String>>()?)
        }
        Schema::Union(u) => match (json.is_null(), u.variants()) {
            (true, [Schema::Null, _]) => Value::Union(0, Box::new(Value::Null)),
            (false, [Schema::Null, inner]) => Value::Union(1, Box::new(value_at(inner, json, path)?)),
            _ => return Err(wrong()),
        },
        Schema::Record(r) => {
            let object = json.as_object().ok_or_else(wrong)?;
            let fields = r.fields.iter().map(|f| {
                let value = object.get(&f.name).unwrap_or(&Json::Null);
                Ok((f.name.clone(), value_at(&f.schema, value, &format!("{path}.{}", f.name))?))
            });
            Value::Record(fields.collect::<Result<_, String>>()?)
        }
        _ => return Err(wrong()),
    })
}

fn kind_name(schema: &Schema) -> String {
    match schema {
        Schema::Union(_) => "an optional value".into(),
        Schema::Record(r) => format!("struct {}", r.name.fullname(None)),
        other => format!("{:?}", apache_avro::schema::SchemaKind::from(other)).to_lowercase(),
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

    #[test]
    fn reader_inverts_the_writer() {
        let schema = Schema::parse_str(
            r#"{"type":"record","name":"Click","namespace":"sim","fields":[
                {"name":"userid","type":"long"},
                {"name":"ip","type":["null","string"],"default":null},
                {"name":"at","type":{"type":"long","logicalType":"timestamp-millis"}},
                {"name":"day","type":{"type":"int","logicalType":"date"}},
                {"name":"price","type":{"type":"bytes","logicalType":"decimal","precision":12,"scale":2}},
                {"name":"tags","type":{"type":"array","items":"string"}},
                {"name":"blob","type":"bytes"}]}"#,
        )
        .unwrap();
        let mut out = Vec::new();
        let payload = json!({"userid": 7, "ip": null, "at": 5, "day": 3, "price": "MDk=", "tags": ["a"], "blob": "AAE="});
        ConnectJsonWriter::new(&schema, true).write(&payload, &mut out).unwrap();
        let reader = ConnectJsonReader::default();
        let (read, value) = reader.read(&out).unwrap();
        assert_eq!(read.schema.canonical_form(), schema.canonical_form());
        assert!(value.validate(&read.schema));
        let Value::Record(fields) = value else { panic!() };
        assert_eq!(fields[0], ("userid".into(), Value::Long(7)));
        assert_eq!(fields[1], ("ip".into(), Value::Union(0, Box::new(Value::Null))));
        assert_eq!(fields[2], ("at".into(), Value::TimestampMillis(5)));
        assert_eq!(fields[3], ("day".into(), Value::Date(3)));
        assert_eq!(fields[4], ("price".into(), Value::Decimal(apache_avro::Decimal::from(vec![0x30, 0x39]))));
        assert_eq!(fields[6], ("blob".into(), Value::Bytes(vec![0, 1])));
        // The same schema text maps to the same id, once.
        assert_eq!(reader.read(&out).unwrap().0.version_id, read.version_id);
    }

    #[test]
    fn reader_errors_name_the_problem() {
        let reader = ConnectJsonReader::default();
        let err = |bytes: &[u8]| reader.read(bytes).unwrap_err();
        assert!(err(b"{oops").contains("not a Connect JSON envelope"));
        assert!(err(br#"{"payload":{"a":1}}"#).contains("schemas.enable=true"));
        let schema = r#"{"type":"struct","fields":[{"field":"a","type":"int32","optional":false}]}"#;
        let wrong = format!(r#"{{"schema":{schema},"payload":{{"a":"x"}}}}"#);
        assert!(err(wrong.as_bytes()).contains("payload.a"), "{}", err(wrong.as_bytes()));
        let too_big = format!(r#"{{"schema":{schema},"payload":{{"a":9999999999}}}}"#);
        assert!(err(too_big.as_bytes()).contains("does not fit int"));
        let unknown = r#"{"schema":{"type":"uuid"},"payload":1}"#;
        assert!(err(unknown.as_bytes()).contains("unknown Connect type"));
    }
}
