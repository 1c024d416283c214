//! Avro records in Glue frames: [`GlueAvroEncoder`] writes them,
//! [`GlueAvroDecoder`] reads them back through the registry.
//!
//! Guarantees: an encoded frame carries the id of the exact schema version its
//! datum was written with, and the datum is validated against that schema
//! while it is written. Decoding either returns the whole record or a
//! [`DecodeError`] saying which of four things went wrong (frame, unknown
//! schema version, registry unavailable, datum does not match its schema);
//! a datum with bytes left over is an error, never silently accepted.

use super::cache::GlueSchemaCache;
use super::registry::{RegisteredSchema, RegistryError};
use super::wire::{self, Compression, Frame, FrameError, ZlibCompressor};
use apache_avro::types::Value;
use apache_avro::Schema;
use apache_avro::reader::datum::GenericDatumReader;
use apache_avro::writer::datum::GenericDatumWriter;
use serde::Serialize;
use std::cell::RefCell;
use std::sync::Arc;
use uuid::Uuid;

#[derive(Debug, thiserror::Error)]
#[error("cannot encode a record with schema version {version_id}: {reason}")]
pub struct EncodeError {
    pub version_id: Uuid,
    pub reason: String,
}

/// Encodes records of one schema version. Build one per worker thread and reuse it.
pub struct GlueAvroEncoder<'s> {
    version_id: Uuid,
    compression: Compression,
    writer: GenericDatumWriter<'s>,
    /// With zlib: the reused compression stream and datum buffer.
    zlib: RefCell<(ZlibCompressor, Vec<u8>)>,
}

impl<'s> GlueAvroEncoder<'s> {
    pub fn new(schema: &'s RegisteredSchema, compression: Compression) -> Result<Self, EncodeError> {
        let writer = GenericDatumWriter::builder(&schema.schema)
            .human_readable(false)
            .build()
            .map_err(|e| EncodeError {
                version_id: schema.version_id,
                reason: e.to_string(),
            })?;
        Ok(Self {
            version_id: schema.version_id,
            compression,
            writer,
            zlib: RefCell::new((ZlibCompressor::default(), Vec::new())),
        })
    }

    pub fn version_id(&self) -> Uuid {
        self.version_id
    }

    /// Appends one frame holding `value` (any `Serialize` shaped like the schema) to `out`.
    pub fn encode<T: Serialize>(&self, value: &T, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        self.frame(out, |buf| self.writer.write_ser(buf, value).map(drop))
    }

    /// Appends one frame holding an Avro `Value` to `out`.
    pub fn encode_value(&self, value: &Value, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        self.frame(out, |buf| self.writer.write_value_ref(buf, value).map(drop))
    }

    fn frame(
        &self,
        out: &mut Vec<u8>,
        write: impl FnOnce(&mut Vec<u8>) -> apache_avro::AvroResult<()>,
    ) -> Result<(), EncodeError> {
        let start = out.len();
        let result = match self.compression {
            Compression::None => {
                wire::write_header(out, &self.version_id, Compression::None);
                write(out)
            }
            Compression::Zlib => {
                let mut zlib = self.zlib.borrow_mut();
                let (compressor, datum) = &mut *zlib;
                datum.clear();
                write(datum).map(|()| {
                    wire::write_header(out, &self.version_id, Compression::Zlib);
                    compressor.compress_into(datum, out);
                })
            }
        };
        result.map_err(|e| {
            out.truncate(start);
            EncodeError {
                version_id: self.version_id,
                reason: e.to_string(),
            }
        })
    }
}

/// A decoded record and the schema version it was written with.
#[derive(Debug)]
pub struct Decoded {
    pub schema: Arc<RegisteredSchema>,
    pub value: Value,
}

#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error(transparent)]
    Frame(#[from] FrameError),
    #[error("unknown schema version {0}: the registry has no such version")]
    UnknownSchemaVersion(Uuid),
    #[error(transparent)]
    Registry(RegistryError),
    #[error("datum does not match schema version {version_id}: {reason}")]
    Undecodable { version_id: Uuid, reason: String },
    /// The record is not a usable Kafka Connect JSON record (input format `json`).
    #[error("not a usable Kafka Connect JSON record: {0}")]
    ConnectJson(String),
}

impl DecodeError {
    /// Worth retrying (the registry was unreachable); all others are final for these bytes.
    pub fn is_transient(&self) -> bool {
        matches!(self, DecodeError::Registry(e) if e.is_transient())
    }
}

impl From<RegistryError> for DecodeError {
    fn from(e: RegistryError) -> Self {
        match e {
            RegistryError::UnknownVersion(id) => DecodeError::UnknownSchemaVersion(id),
            other => DecodeError::Registry(other),
        }
    }
}

/// Decodes frames of any schema version, fetching each version once.
#[derive(Clone)]
pub struct GlueAvroDecoder {
    cache: Arc<GlueSchemaCache>,
}

impl GlueAvroDecoder {
    pub fn new(cache: Arc<GlueSchemaCache>) -> Self {
        Self { cache }
    }

    pub fn cache(&self) -> &GlueSchemaCache {
        &self.cache
    }

    pub async fn decode(&self, bytes: &[u8]) -> Result<Decoded, DecodeError> {
        let frame = Frame::parse(bytes)?;
        let schema = self.cache.by_id(frame.schema_version_id).await?;
        let value = decode_datum(&schema.schema, &frame.datum).map_err(|reason| DecodeError::Undecodable {
            version_id: schema.version_id,
            reason,
        })?;
        Ok(Decoded { schema, value })
    }
}

/// Decodes one Avro binary datum written with `schema`; leftover bytes are an error.
pub fn decode_datum(schema: &Schema, datum: &[u8]) -> Result<Value, String> {
    let reader = GenericDatumReader::builder(schema)
        .human_readable(false)
        .build()
        .map_err(|e| e.to_string())?;
    let mut rest = datum;
    let value = reader.read_value(&mut rest).map_err(|e| e.to_string())?;
    if !rest.is_empty() {
        return Err(format!("{} bytes left over after the record", rest.len()));
    }
    // apache-avro 0.22 decodes a string cut short by the end of input as null
    // instead of failing; validating the result catches that (and any other
    // value that does not fit the schema).
    if !value.validate(schema) {
        return Err("datum is truncated or does not match the schema".into());
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registered() -> RegisteredSchema {
        let definition = r#"{"type":"record","name":"C","fields":[{"name":"id","type":"long"},{"name":"page","type":"string"}]}"#;
        RegisteredSchema {
            version_id: Uuid::from_u128(7),
            definition: definition.into(),
            schema: Schema::parse_str(definition).unwrap(),
        }
    }

    #[derive(Serialize)]
    struct C<'a> {
        id: i64,
        page: &'a str,
    }

    #[test]
    fn serde_records_encode_to_standard_avro_in_a_glue_frame() {
        let schema = registered();
        for compression in [Compression::None, Compression::Zlib] {
            let encoder = GlueAvroEncoder::new(&schema, compression).unwrap();
            let mut out = vec![0xAA]; // frames append: earlier bytes stay
            encoder.encode(&C { id: -3, page: "home" }, &mut out).unwrap();
            let frame = Frame::parse(&out[1..]).unwrap();
            assert_eq!(frame.schema_version_id, schema.version_id);
            // zigzag(-3) = 5, then the string: length 4 (zigzag 8) + bytes
            assert_eq!(&*frame.datum, &[5, 8, b'h', b'o', b'm', b'e']);
            let value = decode_datum(&schema.schema, &frame.datum).unwrap();
            assert_eq!(
                value,
                Value::Record(vec![("id".into(), Value::Long(-3)), ("page".into(), Value::String("home".into()))])
            );
        }
    }

    #[test]
    fn a_value_that_does_not_fit_the_schema_is_refused_and_leaves_no_bytes() {
        let schema = registered();
        let encoder = GlueAvroEncoder::new(&schema, Compression::None).unwrap();
        let mut out = Vec::new();
        let err = encoder.encode_value(&Value::Record(vec![("id".into(), Value::String("x".into()))]), &mut out);
        assert!(err.is_err());
        assert!(out.is_empty());
    }

    #[test]
    fn datum_errors_are_reported() {
        let schema = registered();
        assert!(decode_datum(&schema.schema, &[5, 8, b'h']).is_err(), "truncated string");
        let err = decode_datum(&schema.schema, &[5, 2, b'h', 0xFF]).unwrap_err();
        assert!(err.contains("1 bytes left over"), "{err}");
    }
}
