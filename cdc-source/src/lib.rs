//! `cdc-source`: MySQL/MariaDB binlog → Debezium change events on Kafka.
//!
//! * [`binlog`]: the replica connection and its events (MariaDB specifics in `binlog::mariadb`);
//! * [`table`]: table shapes from table maps; [`values`]: Debezium's type mapping;
//! * [`envelope`]: the change-event envelope; [`position`]: binlog positions and row versions;
//! * [`config`]: the service configuration; [`signal`]: commands to a running source (its signal table);
//! * [`snapshot`]: the consistent (blocking) snapshot; [`incremental`]: chunked snapshots while streaming.

pub mod avro_binary;
pub mod binlog;
pub mod checks;
pub mod codec;
pub mod config;
pub mod emitter;
pub mod envelope;
pub mod gtid;
pub mod incremental;
pub mod metrics;
pub mod offsets;
pub mod position;
pub mod publisher;
pub mod recovery;
pub mod schema_change;
pub mod server_sql;
pub mod signal;
pub mod snapshot;
pub mod source;
pub mod stream;
pub mod table;
pub mod values;
