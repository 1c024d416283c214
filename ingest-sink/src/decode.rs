//! Record values → Avro value plus the schema version that describes it, in
//! the configured input format: Glue-framed Avro (schemas from the registry,
//! each version fetched once) or Kafka Connect JSON with embedded schemas.
//! Either way the rest of the sink sees one shape, so tables, schema growth
//! and the dead-letter queue behave the same for both.

use crate::config::InputFormat;
use shared::connect_json::ConnectJsonReader;
use shared::glue::{DecodeError, Decoded, GlueAvroDecoder, GlueRegistry, GlueSchemaCache};
use std::sync::Arc;

pub enum RecordDecoder {
    GlueAvro(GlueAvroDecoder),
    ConnectJson(ConnectJsonReader),
}

impl RecordDecoder {
    /// The decoder for `format`; only Avro needs the registry.
    pub async fn for_format(format: InputFormat, glue: &shared::config::GlueConfig) -> Self {
        match format {
            InputFormat::Avro => Self::GlueAvro(GlueAvroDecoder::new(Arc::new(GlueSchemaCache::new(GlueRegistry::connect(glue).await)))),
            InputFormat::Json => Self::ConnectJson(ConnectJsonReader::default()),
        }
    }

    /// The schema version of an encoded key or value without decoding it
    /// (Glue-framed Avro only; Connect JSON carries whole schemas).
    pub fn schema_id(&self, bytes: &[u8]) -> Option<uuid::Uuid> {
        match self {
            Self::GlueAvro(_) => shared::glue::Frame::parse(bytes).ok().map(|f| f.schema_version_id),
            Self::ConnectJson(_) => None,
        }
    }

    pub async fn decode(&self, bytes: &[u8]) -> Result<Decoded, DecodeError> {
        match self {
            Self::GlueAvro(decoder) => decoder.decode(bytes).await,
            Self::ConnectJson(reader) => {
                let (schema, value) = reader.read(bytes).map_err(DecodeError::ConnectJson)?;
                Ok(Decoded { schema, value })
            }
        }
    }
}
