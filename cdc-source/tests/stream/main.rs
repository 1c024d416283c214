//! `cdc-source` against the real MariaDB, broker and registry (scripts/stack).

mod common;
mod ddl;
mod golden;
mod images;
mod keys;
mod large;
mod resume;
mod snapshot;
mod types;
mod xa;
