//! `cdc-source` against the real MariaDB, broker and registry (scripts/stack).

mod common;
mod ddl;
mod resume;
mod snapshot;
mod types;
