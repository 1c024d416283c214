//! Writing to ClickHouse: the Avro → ClickHouse column mapping and RowBinary
//! encoding ([`columns`]), Debezium change events as row versions
//! ([`changelog`]), tables with deduplicated inserts ([`table`]) and their shape ([`ddl`]), and
//! truncate events applied to them ([`truncate`]).

pub mod changelog;
pub mod columns;
pub mod ddl;
pub mod table;
pub mod truncate;
