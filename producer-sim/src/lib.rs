//! `producer-sim`: load for the pipeline and the proof that it arrived.
//!
//! * [`clickstream`]: the e-commerce clickstream simulator (Avro via Glue, or JSON).
//! * [`config`]: the tool's configuration file.
//!
//! The MySQL workload and `verify` arrive with the end-to-end issue.

pub mod clickstream;
pub mod config;
pub mod kafka_args;
pub mod mysql_load;
pub mod progress;
