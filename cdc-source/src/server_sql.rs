//! Statements whose names differ between MySQL 8.0, MySQL 8.4+/9.x and MariaDB.
//!
//! MySQL 8.2 added `SHOW BINARY LOG STATUS` and `SHOW REPLICAS` (8.0.22);
//! 8.4 removed `SHOW MASTER STATUS` and `SHOW SLAVE HOSTS`. MariaDB has the old
//! names (and `SHOW BINLOG STATUS` from 10.5.2). Each helper asks with the new
//! name first and falls back to the old one only when the server does not know
//! the statement (a parse error), so every version gets a statement it has.

use crate::position::BinlogPosition;
use anyhow::{Context, Result};
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Row};

/// MySQL's `ER_PARSE_ERROR`: the server does not have this statement.
const PARSE_ERROR: u16 = 1064;

/// The binlog position now, and the executed GTID set where the server has one (MySQL).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BinlogStatus {
    pub position: BinlogPosition,
    /// MySQL's `Executed_Gtid_Set` (`uuid:1-N,…`); `None` on MariaDB or with GTIDs off.
    pub gtid_set: Option<String>,
}

/// `SHOW BINARY LOG STATUS`, or `SHOW MASTER STATUS` where that is the statement's name.
pub async fn binlog_status(conn: &mut Conn) -> Result<BinlogStatus> {
    let row: Option<Row> = first_of(conn, "SHOW BINARY LOG STATUS", "SHOW MASTER STATUS").await?;
    let row = row.context("the server reported no binary log status: is log_bin on?")?;
    let gtid_set: Option<String> = row.get_opt(4).and_then(Result::ok);
    Ok(BinlogStatus {
        position: BinlogPosition {
            file: row.get(0).context("binlog file")?,
            pos: row.get(1).context("binlog position")?,
        },
        gtid_set: gtid_set.map(|g| g.replace(['\n', ' '], "")).filter(|g| !g.is_empty()),
    })
}

/// Server ids of the replicas registered now (`SHOW REPLICAS` / `SHOW SLAVE HOSTS`).
pub async fn replica_server_ids(conn: &mut Conn) -> Result<Vec<u32>> {
    let rows: Vec<Row> = all_of(conn, "SHOW REPLICAS", "SHOW SLAVE HOSTS").await?;
    Ok(rows.iter().filter_map(|r| r.get::<u32, _>(0)).collect())
}

async fn first_of(conn: &mut Conn, new: &str, old: &str) -> Result<Option<Row>> {
    match conn.query_first(new).await {
        Err(mysql_async::Error::Server(e)) if e.code == PARSE_ERROR => conn.query_first(old).await.with_context(|| old.to_string()),
        other => other.with_context(|| new.to_string()),
    }
}

async fn all_of(conn: &mut Conn, new: &str, old: &str) -> Result<Vec<Row>> {
    match conn.query(new).await {
        Err(mysql_async::Error::Server(e)) if e.code == PARSE_ERROR => conn.query(old).await.with_context(|| old.to_string()),
        other => other.with_context(|| new.to_string()),
    }
}

/// A failed exchange with the server: connecting, or the query. Transient
/// failures (the server restarting, the network) are worth retrying.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error(transparent)]
    Connect(shared::mysql::ConnectError),
    #[error("{0}")]
    Query(mysql_async::Error),
}

impl ServerError {
    pub fn is_transient(&self) -> bool {
        match self {
            ServerError::Connect(e) => e.is_transient(),
            ServerError::Query(e) => shared::mysql::connection_lost(e),
        }
    }
}
