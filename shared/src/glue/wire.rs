//! The AWS Glue Schema Registry wire format, byte-compatible with AWS's serde
//! libraries (`software.amazon.glue:schema-registry-serde`):
//!
//! ```text
//! byte 0       header version, always 3
//! byte 1       compression: 0 = none, 5 = zlib (the datum is deflated, zlib-wrapped)
//! bytes 2..18  the schema version id (UUID, big-endian as written by java.util.UUID)
//! bytes 18..   the Avro binary datum (no single-object header, no container)
//! ```
//!
//! Guarantee: [`Frame::parse`] either returns the exact datum that
//! [`write_frame`] was given or one of the distinct [`FrameError`]s; it never
//! guesses. A zlib datum is inflated to at most [`MAX_DATUM_BYTES`], so a
//! small record cannot make a reader allocate without bound (a zip bomb, a
//! corrupt length): a larger one is an error, for the dead-letter queue.

use flate2::read::ZlibDecoder;
use flate2::{Compress, FlushCompress, Status};
use std::borrow::Cow;
use std::io::Read;
use uuid::Uuid;

/// Byte 0 of every frame.
pub const HEADER_VERSION: u8 = 3;
/// Bytes before the datum.
pub const HEADER_LEN: usize = 18;
/// The largest datum a zlib frame may inflate to (256 MiB: far above any
/// record a Kafka broker takes, compressed or not).
pub const MAX_DATUM_BYTES: u64 = 256 << 20;
const COMPRESSION_NONE: u8 = 0;
const COMPRESSION_ZLIB: u8 = 5;

/// How the datum is stored in the frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    #[default]
    None,
    Zlib,
}

impl Compression {
    fn byte(self) -> u8 {
        match self {
            Compression::None => COMPRESSION_NONE,
            Compression::Zlib => COMPRESSION_ZLIB,
        }
    }
}

/// Why bytes are not a Glue frame. Each case is distinct so the dead-letter
/// queue can say exactly what was wrong.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FrameError {
    #[error("not a Glue Schema Registry frame: header version byte is {0}, expected 3")]
    UnknownHeaderVersion(u8),
    #[error("Glue frame uses unknown compression byte {0} (known: 0 = none, 5 = zlib)")]
    UnknownCompression(u8),
    #[error("Glue frame truncated: {len} bytes, the header alone needs {HEADER_LEN}")]
    Truncated { len: usize },
    #[error("Glue frame's zlib-compressed datum is corrupt: {0}")]
    Decompress(String),
    #[error("Glue frame's zlib-compressed datum inflates to more than {MAX_DATUM_BYTES} bytes")]
    TooLarge,
}

/// A parsed frame: which schema version wrote it, and the (decompressed) datum.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame<'a> {
    pub schema_version_id: Uuid,
    pub compression: Compression,
    pub datum: Cow<'a, [u8]>,
}

impl<'a> Frame<'a> {
    pub fn parse(bytes: &'a [u8]) -> Result<Frame<'a>, FrameError> {
        match bytes.first() {
            None => return Err(FrameError::Truncated { len: 0 }),
            Some(&HEADER_VERSION) => {}
            Some(&other) => return Err(FrameError::UnknownHeaderVersion(other)),
        }
        if bytes.len() < HEADER_LEN {
            return Err(FrameError::Truncated { len: bytes.len() });
        }
        let schema_version_id = Uuid::from_slice(&bytes[2..HEADER_LEN]).expect("16 bytes");
        let body = &bytes[HEADER_LEN..];
        let (compression, datum) = match bytes[1] {
            COMPRESSION_NONE => (Compression::None, Cow::Borrowed(body)),
            COMPRESSION_ZLIB => {
                Self::inflate(body, MAX_DATUM_BYTES)?
            }
            other => return Err(FrameError::UnknownCompression(other)),
        };
        Ok(Frame {
            schema_version_id,
            compression,
            datum,
        })
    }

    /// The zlib `body` inflated, if it stays within `limit` bytes.
    fn inflate(body: &[u8], limit: u64) -> Result<(Compression, Cow<'a, [u8]>), FrameError> {
        let mut out = Vec::with_capacity(body.len().saturating_mul(3).min(limit as usize));
        ZlibDecoder::new(body)
            .take(limit + 1)
            .read_to_end(&mut out)
            .map_err(|e| FrameError::Decompress(e.to_string()))?;
        if out.len() as u64 > limit {
            return Err(FrameError::TooLarge);
        }
        Ok((Compression::Zlib, Cow::Owned(out)))
    }
}

/// Appends the frame header for `schema_version_id` to `out`. With
/// [`Compression::None`] the caller then appends the datum itself (no copy).
pub fn write_header(out: &mut Vec<u8>, schema_version_id: &Uuid, compression: Compression) {
    out.push(HEADER_VERSION);
    out.push(compression.byte());
    out.extend_from_slice(schema_version_id.as_bytes());
}

/// Appends a whole frame (header + datum, compressed as asked) to `out`.
pub fn write_frame(out: &mut Vec<u8>, schema_version_id: &Uuid, compression: Compression, datum: &[u8]) {
    write_header(out, schema_version_id, compression);
    match compression {
        Compression::None => out.extend_from_slice(datum),
        Compression::Zlib => ZlibCompressor::default().compress_into(datum, out),
    }
}

/// A reusable zlib stream (the format AWS's serde writes for compression byte
/// 5). Setting one up costs far more than compressing a small record, so
/// encoders keep one.
pub struct ZlibCompressor(Compress);

impl Default for ZlibCompressor {
    fn default() -> Self {
        Self(Compress::new(flate2::Compression::default(), true))
    }
}

impl ZlibCompressor {
    /// Appends the zlib-compressed `datum` to `out`.
    pub fn compress_into(&mut self, datum: &[u8], out: &mut Vec<u8>) {
        self.0.reset();
        loop {
            out.reserve(datum.len() / 2 + 64);
            let consumed = self.0.total_in() as usize;
            let status = self
                .0
                .compress_vec(&datum[consumed..], out, FlushCompress::Finish)
                .expect("zlib compression of an in-memory buffer cannot fail");
            if status == Status::StreamEnd {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: Uuid = Uuid::from_u128(0x0102_0304_0506_0708_090a_0b0c_0d0e_0f10);

    #[test]
    fn layout_matches_aws_serde() {
        let mut out = Vec::new();
        write_frame(&mut out, &ID, Compression::None, &[0x02, 0x61]);
        assert_eq!(out[0], 3);
        assert_eq!(out[1], 0);
        assert_eq!(&out[2..18], &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16]);
        assert_eq!(&out[18..], &[0x02, 0x61]);
    }

    #[test]
    fn round_trips_with_and_without_zlib() {
        let datum: Vec<u8> = (0..2000u32).map(|i| (i % 7) as u8).collect();
        for compression in [Compression::None, Compression::Zlib] {
            let mut out = Vec::new();
            write_frame(&mut out, &ID, compression, &datum);
            assert_eq!(out[1], compression.byte());
            let frame = Frame::parse(&out).unwrap();
            assert_eq!(frame.schema_version_id, ID);
            assert_eq!(frame.compression, compression);
            assert_eq!(&*frame.datum, &datum[..]);
        }
    }

    #[test]
    fn each_malformation_is_a_distinct_error() {
        let mut good = Vec::new();
        write_frame(&mut good, &ID, Compression::None, b"x");
        assert_eq!(Frame::parse(&[]), Err(FrameError::Truncated { len: 0 }));
        assert_eq!(Frame::parse(&good[..10]), Err(FrameError::Truncated { len: 10 }));
        let mut bad = good.clone();
        bad[0] = 0; // e.g. a Confluent frame (magic byte 0)
        assert_eq!(Frame::parse(&bad), Err(FrameError::UnknownHeaderVersion(0)));
        let mut bad = good.clone();
        bad[1] = 9;
        assert_eq!(Frame::parse(&bad), Err(FrameError::UnknownCompression(9)));
        let mut bad = good;
        bad[1] = 5; // claims zlib, but the datum is not
        assert!(matches!(Frame::parse(&bad), Err(FrameError::Decompress(_))));
        // A datum that inflates past the limit is refused, not allocated.
        let mut bomb = Vec::new();
        ZlibCompressor::default().compress_into(&vec![0u8; 4096], &mut bomb);
        assert_eq!(Frame::inflate(&bomb, 4095), Err(FrameError::TooLarge));
        assert_eq!(Frame::inflate(&bomb, 4096).unwrap().1.len(), 4096);
    }
}
