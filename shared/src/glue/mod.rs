//! The AWS Glue Schema Registry: wire format ([`wire`]), registry client
//! ([`registry`]), per-process cache ([`cache`]), client-side compatibility
//! rules ([`compat`]) and Avro encoding/decoding in frames ([`codec`]).

pub mod cache;
pub mod codec;
pub mod compat;
pub mod registry;
pub mod wire;

pub use cache::GlueSchemaCache;
pub use codec::{DecodeError, Decoded, EncodeError, GlueAvroDecoder, GlueAvroEncoder};
pub use compat::CompatibilityMode;
pub use registry::{GlueRegistry, RegisteredSchema, RegistrationOptions, RegistryError};
pub use wire::{Compression, Frame, FrameError};
