//! The end-to-end suite: the whole pipeline under crashes. It is its own test
//! binary because it restarts shared services (Redis, ClickHouse, MySQL),
//! which the other integration tests must never see; cargo runs test binaries
//! one after another, and [`SERIAL`] keeps this binary's tests apart too.

mod checksums;
mod crash;
mod gtid;
mod incremental;
mod key_changes;
mod keyless;
mod lifecycle;
mod names;
mod operations;
mod oversized;
mod pipeline;
mod refusals;
mod rereads;

/// Held by every test of this binary for its whole run.
pub static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
