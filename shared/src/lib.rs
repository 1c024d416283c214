//! The contracts shared by `cdc-source`, `ingest-sink` and `producer-sim`.
//!
//! * [`config`]: layered configuration (file → environment → `--set` flags) that
//!   rejects unknown or invalid keys at start, naming the key (exit code 2).
//! * [`secret`]: a string that never prints itself.
//! * [`telemetry`]: log set-up shared by the binaries.

pub mod config;
pub mod secret;
pub mod telemetry;
