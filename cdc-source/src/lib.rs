//! `cdc-source`: MySQL/MariaDB binlog → Debezium change events on Kafka.
//!
//! Today this crate holds the service's configuration; the binlog reader,
//! snapshot and offset store arrive with the source issue (see README).

pub mod config;
