//! `ingest-sink`: Kafka → ClickHouse, exactly once per topic-partition.
//!
//! * [`consumer`]: the service loop (group membership, state-driven seeks, batching);
//! * [`exactly_once`]: the pure batch classification; [`apply`]: its effects;
//! * [`state`]: the state stores (Redis, KeeperMap, memory) with fencing;
//! * [`clickhouse`]: column mapping, RowBinary, deduplicated inserts;
//! * [`decode`]: Glue Avro or Connect JSON values; [`dlq`]: the dead-letter queue; [`faults`]: crash points for tests.

pub mod apply;
pub mod batch;
pub mod clickhouse;
pub mod config;
pub mod consumer;
pub mod decode;
pub mod dlq;
pub mod exactly_once;
pub mod faults;
pub mod metrics;
pub mod state;
pub mod workers;
