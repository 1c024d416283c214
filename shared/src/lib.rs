//! The contracts shared by `cdc-source`, `ingest-sink` and `producer-sim`.
//!
//! * [`config`]: layered configuration (file → environment → `--set` flags) that
//!   rejects unknown or invalid keys at start, naming the key (exit code 2).
//! * [`secret`]: a string that never prints itself.
//! * [`telemetry`]: log set-up shared by the binaries.
//! * [`glue`]: the AWS Glue Schema Registry (wire format, client, cache,
//!   compatibility, Avro codec).
//! * [`kafka`]: Kafka/MSK client configuration and context.
//! * [`connect_json`]: the Kafka Connect JSON converter shape, for debugging and interop.
//! * [`mysql`]: connections to MySQL/MariaDB with the configured TLS mode.
//! * [`retry`]: retrying what failed for a transient reason, with capped backoff.
//! * [`row_version`]: the ordering version of a MySQL change (binlog coordinates).
//! * [`sql`]: identifier quoting for MySQL and ClickHouse statements.
//! * [`tls`]: TLS files of the HTTPS and Redis endpoints, and the one reading
//!   of certificates every OpenSSL-backed client uses.

pub mod config;
pub mod connect_json;
pub mod glue;
pub mod kafka;
#[cfg(feature = "mysql")]
pub mod mysql;
pub mod retry;
pub mod row_version;
pub mod secret;
pub mod sql;
pub mod telemetry;
pub mod tls;
