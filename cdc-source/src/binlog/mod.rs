//! Reading the binlog as a replica: one connection, `COM_BINLOG_DUMP` from a
//! file and position, events turned into transactions of row changes.
//!
//! Guarantees: events come in binlog order; every row change carries the
//! table shape its table map described (see [`crate::table`]); a transaction
//! is announced by [`BinlogEvent::Begin`] at the position a reader must
//! restart from to see it whole, and closed by [`BinlogEvent::Commit`] with
//! the position of the next one. Event types that would hide rows
//! (encrypted or compressed binlogs) stop the reader with an error.

pub mod mariadb;
pub mod rows;

use crate::envelope::Op;
use crate::position::BinlogPosition;
use crate::table::TableSchema;
use futures_util::StreamExt;
use mariadb::{MariaEvent, rotate_name};
use mysql_async::binlog::events::{EventData, RowsEventData};
use mysql_async::prelude::Queryable;
use mysql_async::{BinlogStream, BinlogStreamRequest, Conn};
use rows::{RowImage, RowLayout};
use std::collections::HashMap;
use std::sync::Arc;

/// One row of a rows event.
#[derive(Debug)]
pub struct RowChange {
    pub op: Op,
    pub before: Option<RowImage>,
    pub after: Option<RowImage>,
}

#[derive(Debug)]
pub enum BinlogEvent {
    /// A transaction (or a standalone statement) begins at `at`.
    Begin { at: BinlogPosition, gtid: Option<String> },
    /// The rows of one rows event, starting at `at`.
    Rows {
        at: BinlogPosition,
        ts_ms: i64,
        server_id: u32,
        table: Arc<TableSchema>,
        rows: Vec<RowChange>,
    },
    /// A DDL statement, run in `database` (may be empty); it is its own
    /// transaction, and the next one starts at `next`.
    Ddl {
        at: BinlogPosition,
        next: BinlogPosition,
        ts_ms: i64,
        server_id: u32,
        database: String,
        statement: String,
    },
    /// The transaction is complete; the next one starts at `next`.
    Commit { next: BinlogPosition },
    /// Nothing happened; the server is alive (its position is `at`).
    Heartbeat { at: BinlogPosition },
}

#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("binlog connection lost: {0}")]
    Connection(String),
    #[error(
        "the server has no binlog at {0} (purged, or from another server): the changes since are lost to the binlog. \
         Take a new snapshot: delete the stored offsets (the [offsets] file or topic record) and restart"
    )]
    Purged(BinlogPosition),
    #[error("cannot read the binlog at {at}: {reason}")]
    Fatal { at: BinlogPosition, reason: String },
}

impl ReadError {
    pub fn is_transient(&self) -> bool {
        matches!(self, ReadError::Connection(_))
    }
}

/// Which tables are captured (the filters of `[capture]`).
pub trait TableFilter: Send + Sync {
    fn captures(&self, database: &str, table: &str) -> bool;
}

/// A captured table's shape and how to read its rows.
type Shape = (Arc<TableSchema>, Arc<RowLayout>);

pub struct BinlogReader {
    stream: BinlogStream,
    file: String,
    /// End of the last event read (where reading would resume).
    pos: u64,
    /// Per table id: the table map's bytes and, if captured, its shape.
    shapes: HashMap<u64, (Vec<u8>, Option<Shape>)>,
    filter: Arc<dyn TableFilter>,
    in_transaction: bool,
    /// The server's binlog events end with a CRC32 (`binlog_checksum`).
    checksums: bool,
}

impl BinlogReader {
    /// Starts a binlog dump at `from` on `conn` (a fresh connection, consumed).
    pub async fn start(mut conn: Conn, server_id: u32, from: &BinlogPosition, heartbeat: std::time::Duration, filter: Arc<dyn TableFilter>) -> Result<Self, ReadError> {
        let lost = |e: mysql_async::Error| ReadError::Connection(e.to_string());
        let mariadb = conn.server_version() >= (10, 0, 0) && is_mariadb(&mut conn).await;
        if mariadb {
            // Announce GTID awareness: without it MariaDB hides GTIDs and sends dummy events.
            conn.query_drop("SET @mariadb_slave_capability=4").await.map_err(lost)?;
        }
        let checksum: Option<String> = conn.query_first("SELECT @@global.binlog_checksum").await.map_err(lost)?;
        let checksums = checksum.is_some_and(|c| !c.eq_ignore_ascii_case("NONE"));
        let nanos = heartbeat.as_nanos().to_string();
        conn.query_drop(format!("SET @master_heartbeat_period={nanos}")).await.map_err(lost)?;
        let stream = conn
            .get_binlog_stream(BinlogStreamRequest::new(server_id).with_filename(from.file.as_bytes()).with_pos(from.pos))
            .await
            .map_err(|e| match &e {
                mysql_async::Error::Server(s) if s.code == 1236 => ReadError::Purged(from.clone()),
                _ => lost(e),
            })?;
        Ok(Self {
            stream,
            file: from.file.clone(),
            pos: from.pos,
            shapes: HashMap::new(),
            filter,
            in_transaction: false,
            checksums,
        })
    }

    /// The next event that matters to a change stream (`None`: the server ended the stream).
    pub async fn next(&mut self) -> Result<Option<BinlogEvent>, ReadError> {
        loop {
            let Some(event) = self.stream.next().await else { return Ok(None) };
            let event = event.map_err(|e| match &e {
                mysql_async::Error::Server(s) if s.code == 1236 => {
                    tracing::error!("server refused the binlog dump: {}", s.message);
                    ReadError::Purged(self.here(self.pos))
                }
                _ => ReadError::Connection(e.to_string()),
            })?;
            let header = event.header();
            let end = u64::from(header.log_pos());
            let at = self.here(end.saturating_sub(u64::from(header.event_size())));
            if end > 0 {
                self.pos = end;
            }
            let server_id = header.server_id();
            let ts_ms = i64::from(header.timestamp()) * 1000;
            let fatal = |reason: String| ReadError::Fatal { at: at.clone(), reason };
            match mariadb::classify(header.event_type_raw(), server_id, event.data()).map_err(fatal)? {
                MariaEvent::Gtid(gtid) => {
                    self.in_transaction = !gtid.standalone;
                    return Ok(Some(BinlogEvent::Begin { at, gtid: Some(gtid.text()) }));
                }
                MariaEvent::Skip => continue,
                MariaEvent::NotMaria => {}
            }
            let data = match event.read_data() {
                Ok(Some(data)) => data,
                Ok(None) => continue,
                Err(e) => return Err(fatal(format!("undecodable event of type {}: {e}", header.event_type_raw()))),
            };
            match data {
                EventData::RotateEvent(rotate) => {
                    self.file = rotate_name(rotate.name_raw(), header.event_size(), self.checksums);
                    self.pos = rotate.position();
                }
                EventData::GtidEvent(gtid) => {
                    self.in_transaction = true;
                    let sid = uuid::Uuid::from_bytes(gtid.sid());
                    return Ok(Some(BinlogEvent::Begin {
                        at,
                        gtid: Some(format!("{sid}:{}", gtid.gno())),
                    }));
                }
                EventData::QueryEvent(query) => {
                    let statement = query.query();
                    let trimmed = statement.trim();
                    if trimmed.eq_ignore_ascii_case("BEGIN") {
                        if !self.in_transaction {
                            self.in_transaction = true;
                            return Ok(Some(BinlogEvent::Begin { at, gtid: None }));
                        }
                        continue;
                    }
                    if trimmed.eq_ignore_ascii_case("COMMIT") {
                        self.in_transaction = false;
                        return Ok(Some(BinlogEvent::Commit { next: self.here(end) }));
                    }
                    // Anything else in a query event is a statement: DDL (row-based
                    // logging writes DML as rows). Its transaction ends with it.
                    self.in_transaction = false;
                    self.shapes.clear();
                    return Ok(Some(BinlogEvent::Ddl {
                        at,
                        next: self.here(end),
                        ts_ms,
                        server_id,
                        database: query.schema().into_owned(),
                        statement: statement.into_owned(),
                    }));
                }
                EventData::XidEvent(_) => {
                    self.in_transaction = false;
                    return Ok(Some(BinlogEvent::Commit { next: self.here(end) }));
                }
                EventData::HeartbeatEvent => return Ok(Some(BinlogEvent::Heartbeat { at: self.here(end) })),
                EventData::RowsEvent(rows) => {
                    let Some((table, layout)) = self.shape(rows.table_id()).map_err(fatal)? else { continue };
                    let op = match rows {
                        RowsEventData::WriteRowsEventV1(_) | RowsEventData::WriteRowsEvent(_) => Op::Create,
                        RowsEventData::UpdateRowsEventV1(_) | RowsEventData::UpdateRowsEvent(_) | RowsEventData::PartialUpdateRowsEvent(_) => Op::Update,
                        RowsEventData::DeleteRowsEventV1(_) | RowsEventData::DeleteRowsEvent(_) => Op::Delete,
                    };
                    let changes = layout
                        .rows(&rows)
                        .map_err(|e| fatal(format!("undecodable row of `{}`.`{}`: {e}", table.database, table.table)))?
                        .into_iter()
                        .map(|(before, after)| RowChange { op, before, after })
                        .collect();
                    return Ok(Some(BinlogEvent::Rows {
                        at,
                        ts_ms,
                        server_id,
                        table,
                        rows: changes,
                    }));
                }
                _ => {}
            }
        }
    }

    fn here(&self, pos: u64) -> BinlogPosition {
        BinlogPosition {
            file: self.file.clone(),
            pos,
        }
    }

    /// The shape of table `table_id` if it is captured (cached per table-map content).
    fn shape(&mut self, table_id: u64) -> Result<Option<Shape>, String> {
        let tme = self
            .stream
            .get_tme(table_id)
            .ok_or_else(|| format!("rows event for table id {table_id} without a table map"))?;
        let mut raw = Vec::new();
        mysql_common::proto::MySerialize::serialize(tme, &mut raw);
        if let Some((known, shape)) = self.shapes.get(&table_id)
            && *known == raw
        {
            return Ok(shape.clone());
        }
        let shape = if self.filter.captures(&tme.database_name(), &tme.table_name()) {
            Some((
                Arc::new(TableSchema::from_table_map(tme).map_err(|e| e.to_string())?),
                Arc::new(RowLayout::of(tme)?),
            ))
        } else {
            None
        };
        self.shapes.insert(table_id, (raw, shape.clone()));
        Ok(shape)
    }

    /// The file being read.
    pub fn file(&self) -> &str {
        &self.file
    }
}

async fn is_mariadb(conn: &mut Conn) -> bool {
    let version: Option<String> = conn.query_first("SELECT VERSION()").await.ok().flatten();
    version.is_some_and(|v| v.to_ascii_lowercase().contains("mariadb"))
}
