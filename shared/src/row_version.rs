//! The 64-bit row version of a MySQL change: binlog file sequence (18 bits),
//! event position (32 bits), row within the event (13 bits).
//!
//! Guarantee: [`RowVersion::of`] is strictly increasing in binlog order on one
//! server and the same on every read of the same event, so it orders the
//! changes of a key across restarts. `cdc-source` writes it in the
//! `cdc.version` header; `ingest-sink` stores it as `_version` of
//! `ReplacingMergeTree` tables (and derives it from Debezium's `source.file`,
//! `source.pos`, `source.row` when the header is absent).

/// The Kafka record header carrying the version as decimal text.
pub const HEADER: &str = "cdc.version";

/// The header (`true`) on a truncate event (`op = t`) that `cdc-source` sends
/// because the table was dropped, not emptied; the row version of that event
/// orders the drop against the table's changes.
pub const DROPPED_HEADER: &str = "cdc.table.dropped";

/// Bits of the version given to each part (the sign bit stays 0 so it fits Avro's `long`).
const FILE_BITS: u32 = 18;
const POS_BITS: u32 = 32;
const ROW_BITS: u32 = 13;

/// Rows one binlog position can order (the row part of a version).
pub const ROWS_PER_POSITION: u64 = 1 << ROW_BITS;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RowVersion(pub u64);

impl RowVersion {
    /// The version of row `row` of the event starting at `pos` in `file`.
    pub fn of(file: &str, pos: u64, row: u32) -> Result<Self, String> {
        let sequence = file_sequence(file).ok_or_else(|| format!("binlog file name {file:?} has no numeric extension"))?;
        if sequence >= 1 << FILE_BITS {
            return Err(format!("binlog file sequence {sequence} is above {}: row versions would overflow", (1u64 << FILE_BITS) - 1));
        }
        if pos >= 1 << POS_BITS {
            return Err(format!("binlog position {pos} is above 4 GiB"));
        }
        if u64::from(row) >= 1 << ROW_BITS {
            return Err(format!("row {row} of one event is beyond {} rows", 1u64 << ROW_BITS));
        }
        Ok(Self((sequence << (POS_BITS + ROW_BITS)) | (pos << ROW_BITS) | u64::from(row)))
    }

    pub fn as_i64(self) -> i64 {
        self.0 as i64
    }
}

/// `mysql-bin.000042` → 42.
pub fn file_sequence(file: &str) -> Option<u64> {
    file.rsplit_once('.')?.1.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_follow_binlog_order() {
        let v = |f: &str, p: u64, r: u32| RowVersion::of(f, p, r).unwrap();
        assert!(v("bin.000001", 4, 0) < v("bin.000001", 4, 1));
        assert!(v("bin.000001", 4, 8191) < v("bin.000001", 5, 0));
        assert!(v("bin.000001", u32::MAX as u64, 8191) < v("bin.000002", 4, 0));
        assert!(v("bin.262143", u32::MAX as u64, 8191).as_i64() > 0);
        assert!(RowVersion::of("bin.262144", 4, 0).is_err());
        assert!(RowVersion::of("bin.000001", 4, 8192).is_err());
        assert!(RowVersion::of("bin", 4, 0).is_err());
    }
}
