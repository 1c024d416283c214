//! Reading the binlog as a replica: one connection, `COM_BINLOG_DUMP` from a
//! file and position, events turned into transactions of row changes.
//!
//! Guarantees: events come in binlog order; every row change carries the
//! table shape its table map described (see [`crate::table`]); a transaction
//! is announced by [`BinlogEvent::Begin`] at the position a reader must
//! restart from to see it whole, and closed by [`BinlogEvent::Commit`] with
//! the position of the next one. Event types that would hide rows
//! (encrypted or MariaDB-compressed binlogs) stop the reader with an error.
//!
//! XA transactions are announced as the server writes them: the prepared
//! part begins like any transaction (MySQL's `XA START` query, MariaDB's
//! GTID flag) and ends with [`BinlogEvent::XaPrepare`]; its outcome comes
//! later, as its own transaction, in [`BinlogEvent::XaEnd`]. The stream
//! publishes an XA transaction's rows only when it commits.

pub mod mariadb;
pub mod rotate;
pub mod rows;
pub mod xa;

use crate::envelope::Op;
use crate::position::BinlogPosition;
use crate::table::TableSchema;
use futures_util::StreamExt;
use mariadb::MariaEvent;
use rotate::rotate_name;
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

/// The rows of one rows event, starting at `at`; `first_row` is the index of
/// its first row among the rows that share `at` (the events of one compressed
/// transaction payload all start where the payload does). Rows are placed at
/// positions `at.pos + index / 8192` (see [`crate::stream`]), which must stay
/// below `bound`: the end of the event, or of the payload.
#[derive(Debug)]
pub struct RowsEvent {
    pub at: BinlogPosition,
    pub bound: u64,
    pub first_row: u32,
    pub ts_ms: i64,
    pub server_id: u32,
    pub table: Arc<TableSchema>,
    pub rows: Vec<RowChange>,
}

#[derive(Debug)]
pub enum BinlogEvent {
    /// A transaction (or a standalone statement) begins at `at`; `xa`: it is
    /// the prepared part of an XA transaction (its rows wait for `XaEnd`).
    Begin { at: BinlogPosition, gtid: Option<String>, xa: bool },
    /// MySQL's `XA START` inside the transaction just begun: it is an XA transaction.
    XaStart,
    /// The prepared part of XA transaction `xid` is complete (`one_phase`: it
    /// also committed, `XA COMMIT … ONE PHASE`); the next transaction starts at `next`.
    XaPrepare { xid: String, one_phase: bool, next: BinlogPosition },
    /// `XA COMMIT` (`commit`) or `XA ROLLBACK` of a prepared transaction, at `at`.
    XaEnd {
        xid: String,
        commit: bool,
        at: BinlogPosition,
        next: BinlogPosition,
        ts_ms: i64,
        server_id: u32,
    },
    /// The rows of one rows event.
    Rows(RowsEvent),
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
    /// The server is MariaDB (its table maps differ in details).
    mariadb: bool,
    /// Inside a TRANSACTION_PAYLOAD (`binlog_transaction_compression`): its events follow it.
    payload: Option<Payload>,
}

/// A compressed transaction being read: its inner events have no positions of
/// their own, so rows are placed at the payload's start, numbered across the
/// whole payload, and the commit points past the payload.
struct Payload {
    start: u64,
    end: u64,
    rows: u32,
    committed: bool,
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
            mariadb,
            payload: None,
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
            let event_type = header.event_type_raw();
            let inner = self.payload.as_ref().is_some_and(|p| !p.committed) && event_type != TRANSACTION_PAYLOAD_EVENT;
            let (at, end) = if inner {
                let payload = self.payload.as_ref().expect("inside a payload");
                (self.here(payload.start), payload.end)
            } else {
                if let Some(payload) = self.payload.take()
                    && !payload.committed
                {
                    return Err(ReadError::Fatal {
                        at: self.here(payload.start),
                        reason: "a compressed transaction (binlog_transaction_compression) yielded no complete transaction: \
                                 its payload could not be decompressed"
                            .into(),
                    });
                }
                let end = u64::from(header.log_pos());
                let at = self.here(end.saturating_sub(u64::from(header.event_size())));
                if end > 0 {
                    self.pos = end;
                }
                (at, end)
            };
            let server_id = header.server_id();
            let ts_ms = i64::from(header.timestamp()) * 1000;
            let fatal = |reason: String| ReadError::Fatal { at: at.clone(), reason };
            match mariadb::classify(header.event_type_raw(), server_id, event.data()).map_err(fatal)? {
                MariaEvent::Gtid(gtid) => {
                    self.in_transaction = !gtid.standalone;
                    return Ok(Some(BinlogEvent::Begin {
                        at,
                        gtid: Some(gtid.text()),
                        xa: gtid.xa_prepared,
                    }));
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
                    let mut header_bytes = Vec::with_capacity(rotate::HEADER_LEN);
                    mysql_common::proto::MySerialize::serialize(&header, &mut header_bytes);
                    self.file = rotate_name(&header_bytes, event.data());
                    self.pos = rotate.position();
                }
                EventData::TransactionPayloadEvent(_) => {
                    // mysql_async decompresses the payload and hands us its events next.
                    self.payload = Some(Payload {
                        start: at.pos,
                        end,
                        rows: 0,
                        committed: false,
                    });
                }
                EventData::GtidEvent(gtid) => {
                    self.in_transaction = true;
                    let sid = uuid::Uuid::from_bytes(gtid.sid());
                    return Ok(Some(BinlogEvent::Begin {
                        at,
                        gtid: Some(format!("{sid}:{}", gtid.gno())),
                        xa: false,
                    }));
                }
                EventData::QueryEvent(query) => {
                    let statement = query.query();
                    let trimmed = statement.trim();
                    if trimmed.eq_ignore_ascii_case("BEGIN") {
                        if !self.in_transaction {
                            self.in_transaction = true;
                            return Ok(Some(BinlogEvent::Begin { at, gtid: None, xa: false }));
                        }
                        continue;
                    }
                    if trimmed.eq_ignore_ascii_case("COMMIT") {
                        return Ok(Some(BinlogEvent::Commit { next: self.end_transaction(end) }));
                    }
                    // Transaction control inside a transaction is no schema change
                    // and no place to resume from: the binlog holds only the rows
                    // that survived a ROLLBACK TO SAVEPOINT.
                    if self.in_transaction && is_savepoint_statement(trimmed) {
                        continue;
                    }
                    match xa::statement(trimmed) {
                        Some(xa::Statement::Start) => {
                            self.in_transaction = true;
                            return Ok(Some(BinlogEvent::XaStart));
                        }
                        Some(xa::Statement::End) => continue,
                        Some(xa::Statement::Finish { xid, commit }) => {
                            return Ok(Some(BinlogEvent::XaEnd {
                                xid,
                                commit,
                                at,
                                next: self.end_transaction(end),
                                ts_ms,
                                server_id,
                            }));
                        }
                        None => {}
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
                EventData::XidEvent(_) => return Ok(Some(BinlogEvent::Commit { next: self.end_transaction(end) })),
                EventData::XaPrepareLogEvent(body) => {
                    let (xid, one_phase) = xa::prepared(&body).map_err(fatal)?;
                    let next = self.end_transaction(end);
                    return Ok(Some(BinlogEvent::XaPrepare { xid, one_phase, next }));
                }
                EventData::HeartbeatEvent => return Ok(Some(BinlogEvent::Heartbeat { at: self.here(end) })),
                EventData::RowsEvent(rows) => {
                    let Some((table, layout)) = self.shape(rows.table_id()).map_err(fatal)? else { continue };
                    let op = match rows {
                        RowsEventData::WriteRowsEventV1(_) | RowsEventData::WriteRowsEvent(_) => Op::Create,
                        RowsEventData::UpdateRowsEventV1(_) | RowsEventData::UpdateRowsEvent(_) | RowsEventData::PartialUpdateRowsEvent(_) => Op::Update,
                        RowsEventData::DeleteRowsEventV1(_) | RowsEventData::DeleteRowsEvent(_) => Op::Delete,
                    };
                    let changes: Vec<RowChange> = layout
                        .rows(&rows)
                        .map_err(|e| fatal(format!("undecodable row of `{}`.`{}`: {e}", table.database, table.table)))?
                        .into_iter()
                        .map(|(before, after)| RowChange { op, before, after })
                        .collect();
                    let first_row = match self.payload.as_mut() {
                        Some(payload) if inner => {
                            let first = payload.rows;
                            payload.rows += changes.len() as u32;
                            first
                        }
                        _ => 0,
                    };
                    return Ok(Some(BinlogEvent::Rows(RowsEvent {
                        at,
                        bound: end,
                        first_row,
                        ts_ms,
                        server_id,
                        table,
                        rows: changes,
                    })));
                }
                _ => {}
            }
        }
    }

    /// The transaction (or the compressed payload holding it) ends; the next one starts at `end`.
    fn end_transaction(&mut self, end: u64) -> BinlogPosition {
        self.in_transaction = false;
        if let Some(payload) = self.payload.as_mut() {
            payload.committed = true;
        }
        self.here(end)
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
                Arc::new(TableSchema::from_table_map(tme, self.mariadb).map_err(|e| e.to_string())?),
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

const TRANSACTION_PAYLOAD_EVENT: u8 = 40;

/// `SAVEPOINT s`, `ROLLBACK TO [SAVEPOINT] s`, `RELEASE SAVEPOINT s`.
fn is_savepoint_statement(statement: &str) -> bool {
    let words: Vec<String> = statement.split_whitespace().take(2).map(str::to_ascii_uppercase).collect();
    match words.as_slice() {
        [first, ..] if first == "SAVEPOINT" => true,
        [first, second] if first == "ROLLBACK" && second == "TO" => true,
        [first, second] if first == "RELEASE" && second == "SAVEPOINT" => true,
        _ => false,
    }
}

async fn is_mariadb(conn: &mut Conn) -> bool {
    let version: Option<String> = conn.query_first("SELECT VERSION()").await.ok().flatten();
    version.is_some_and(|v| v.to_ascii_lowercase().contains("mariadb"))
}
