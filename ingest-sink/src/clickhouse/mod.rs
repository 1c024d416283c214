//! Writing to ClickHouse: the Avro → ClickHouse column mapping and RowBinary
//! encoding ([`columns`]), and append-only tables with deduplicated inserts
//! ([`table`]).

pub mod columns;
pub mod table;
