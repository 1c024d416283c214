//! Where an event is in the binlog, and the 64-bit row version derived from it
//! ([`RowVersion`], shared with the sink, which orders rows by it).
//!
//! Snapshot rows take the version of the snapshot's binlog position with row
//! 0, which is below every change read after that position (a change starts at
//! a later position: a transaction begins with a GTID/BEGIN event).

use serde::{Deserialize, Serialize};
pub use shared::row_version::{RowVersion, file_sequence};
use std::fmt;

/// A binlog coordinate: the file and the byte offset of an event's start.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct BinlogPosition {
    pub file: String,
    pub pos: u64,
}

impl fmt::Display for BinlogPosition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file, self.pos)
    }
}
