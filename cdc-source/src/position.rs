//! Where an event is in the binlog, and the 64-bit row version derived from it
//! ([`RowVersion`], shared with the sink, which orders rows by it).
//!
//! Snapshot rows take the version of the snapshot's binlog position with row
//! 0, which is below every change read after that position (a change starts at
//! a later position: a transaction begins with a GTID/BEGIN event).

use serde::{Deserialize, Serialize};
pub use shared::row_version::{ROWS_PER_POSITION, RowVersion, file_sequence};
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

/// The place of row `index` of the rows that share the event at `at` (a
/// compressed transaction, an XA commit, an incremental snapshot's chunk):
/// position `at.pos + index / 8192`, row `index % 8192` — a row version holds
/// 8,192 rows per position, and a transaction's positions up to the next
/// event's, `bound`, are free. `None` when the place would reach `bound`.
pub fn place(at: &BinlogPosition, bound: u64, index: u64) -> Option<(BinlogPosition, u32)> {
    let pos = at.pos + index / ROWS_PER_POSITION;
    (pos < bound.max(at.pos + 1)).then(|| (BinlogPosition { file: at.file.clone(), pos }, (index % ROWS_PER_POSITION) as u32))
}
