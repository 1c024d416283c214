//! `producer-sim`: load for the pipeline and the proof that it arrived.
//!
//! Today this crate holds the tool's configuration; the clickstream simulator,
//! the MySQL workload and `verify` arrive with their issues (see README).

pub mod config;
