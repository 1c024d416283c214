//! `ingest-sink`: Kafka → ClickHouse, exactly once per topic-partition.
//!
//! Today this crate holds the service's configuration; the consumer, the
//! exactly-once state machine and the state stores arrive with the sink issue.

pub mod clickhouse;
pub mod config;
pub mod exactly_once;
pub mod state;
