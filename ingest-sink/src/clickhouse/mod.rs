//! Writing to ClickHouse: the Avro → ClickHouse column mapping and RowBinary
//! encoding ([`columns`]), Debezium change events as row versions
//! ([`changelog`]), and tables with deduplicated inserts ([`table`]).

pub mod changelog;
pub mod columns;
pub mod table;
