//! `producer-sim`: load for the pipeline and the proof that it arrived.
//!
//! * [`clickstream`]: the e-commerce clickstream simulator (Avro via Glue, or JSON).
//! * [`mysql_load`]: the OLTP workload against MySQL/MariaDB.
//! * [`verify`]: MySQL tables vs their ClickHouse tables, and clickstream completeness.
//! * [`config`]: the tool's configuration file.

pub mod clickstream;
pub mod config;
pub mod kafka_args;
pub mod mysql_load;
pub mod progress;
pub mod verify;
