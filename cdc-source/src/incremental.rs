//! Incremental snapshots (Debezium's, after Netflix's DBLog watermarks):
//! tables read in primary-key chunks while the binlog streams on, with no
//! lock and no long transaction.
//!
//! A window: the source inserts a low watermark (a row of type
//! `snapshot-window-open` in the signal table), reads the next chunk of each
//! table being snapshotted (`… WHERE key > last AND key <= max ORDER BY key
//! LIMIT n`, up to `snapshot.incremental_parallel_tables` tables at once, one
//! connection each), then deletes that row (the high watermark). The stream,
//! reaching the low watermark in the binlog, opens the window: a change of a
//! chunk's table from there on drops its key(s) from the chunk — the change
//! is streamed and is at least as new as the read. Reaching the high
//! watermark, the rest of the chunk is sent as `op = r` events placed at the
//! high watermark's position: above every change before it, below every
//! change after it, so a consumer keeping the highest row version keeps the
//! latest row.
//!
//! Guarantees: no change is lost or reordered, and no key is sent from a
//! read older than a change already sent. Rows inserted above a table's
//! largest key at the start of its snapshot are streamed, not read, so a
//! snapshot ends under any insert rate. Progress (the tables, the last key of
//! each table's last chunk sent) is stored with the offsets at the
//! transaction boundary right after the high watermark (the stream waits for
//! the broker's acknowledgement and stores the offsets before it goes on),
//! so a restart resumes at the next chunk: a completed chunk is never read
//! again. The window being sent when the process died (at most one
//! chunk per table) is read again after the restart, in a new window: its rows
//! may reach the topic twice, the second time at a newer version with the
//! same or newer values. A DDL statement on
//! a table during its window discards that chunk (read again next window,
//! with the new shape). Tables without a primary key cannot be paged: they
//! are read in one blocking pass instead.

use crate::codec::{Codecs, Row, TableCodec};
use crate::config::{SourceConfig, Watermarks};
use crate::gtid::GtidSet;
use crate::position::{BinlogPosition, file_sequence};
use crate::metrics::SourceMetrics;
use crate::signal::{Name, WINDOW_OPEN};
use crate::snapshot::catalog_shape;
use crate::values::Origin;
use anyhow::{Context, Result};
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Value};
use mysql_common::binlog::value::BinlogValue;
use serde::{Deserialize, Serialize};
use shared::mysql::MysqlConnector;
use shared::sql::{mysql_identifier as quote, mysql_table};
use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// An incremental snapshot's progress, stored with the offsets.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotProgress {
    /// Names this snapshot (a new one starts when a signal arrives after all tables are done).
    pub id: String,
    /// `pause-snapshot` received: no chunk is read until `resume-snapshot`.
    #[serde(default)]
    pub paused: bool,
    /// Why the snapshot stands still, when something other than a signal stopped it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub tables: Vec<TableProgress>,
}

impl SnapshotProgress {
    /// A new snapshot, with no table yet.
    pub fn new() -> Self {
        Self {
            id: uuid::Uuid::new_v4().to_string(),
            ..Default::default()
        }
    }

    /// Adds `tables` (with `filters`, `db.table` → SQL condition) to read
    /// from their first key; a table already listed starts over.
    pub fn add(&mut self, tables: Vec<Name>, filters: &BTreeMap<String, String>) {
        for (database, table) in tables {
            self.tables.retain(|t| (&t.database, &t.table) != (&database, &table));
            let filter = filters.get(&format!("{database}.{table}")).cloned();
            self.tables.push(TableProgress {
                database,
                table,
                part: 0,
                state: TableState::Pending,
                filter,
                last_key: None,
                max_key: None,
                rows: 0,
                chunks: 0,
                estimate: None,
                note: None,
            });
        }
        self.error = None;
        tracing::info!(id = %self.id, tables = self.tables.iter().filter(|t| t.state == TableState::Pending).count(), "incremental snapshot started");
    }
}

/// One table of an incremental snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableProgress {
    pub database: String,
    pub table: String,
    /// Which key range of the table this is (0: the first, or the whole table).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub part: u32,
    #[serde(default)]
    pub state: TableState,
    /// Debezium's `additional-conditions` for this table: an SQL condition the rows read must meet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<String>,
    /// The key of the last row of the last chunk sent (none before the first).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_key: Option<Vec<KeyValue>>,
    /// The largest key when the first chunk was read: the snapshot ends there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_key: Option<Vec<KeyValue>>,
    /// Rows read so far, and chunks sent.
    #[serde(default)]
    pub rows: u64,
    #[serde(default)]
    pub chunks: u64,
    /// The server's estimate of the table's rows, at the first chunk.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub estimate: Option<u64>,
    /// Why the table was not read (or not to the end), for `snapshot status`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TableState {
    #[default]
    Pending,
    Done,
    /// `stop-snapshot`, or an error reading it (see `note`).
    Stopped,
    /// Dropped or renamed before it was read to the end.
    Gone,
    /// No primary key: read in one blocking pass instead.
    Blocking,
}

impl TableState {
    pub fn as_str(self) -> &'static str {
        match self {
            TableState::Pending => "reading",
            TableState::Done => "done",
            TableState::Stopped => "stopped",
            TableState::Gone => "gone",
            TableState::Blocking => "read in one pass",
        }
    }
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// A key column's value as stored with the offsets (the driver's value, losslessly).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyValue {
    Null,
    Int(i64),
    UInt(u64),
    /// `f32` bits.
    Float(u32),
    /// `f64` bits.
    Double(u64),
    Bytes(Vec<u8>),
    Date(u16, u8, u8, u8, u8, u8, u32),
    Time(bool, u32, u8, u8, u8, u32),
}

impl From<&Value> for KeyValue {
    fn from(value: &Value) -> Self {
        match value {
            Value::NULL => KeyValue::Null,
            Value::Int(v) => KeyValue::Int(*v),
            Value::UInt(v) => KeyValue::UInt(*v),
            Value::Float(v) => KeyValue::Float(v.to_bits()),
            Value::Double(v) => KeyValue::Double(v.to_bits()),
            Value::Bytes(b) => KeyValue::Bytes(b.clone()),
            Value::Date(y, mo, d, h, mi, s, us) => KeyValue::Date(*y, *mo, *d, *h, *mi, *s, *us),
            Value::Time(neg, d, h, mi, s, us) => KeyValue::Time(*neg, *d, *h, *mi, *s, *us),
        }
    }
}

impl From<&KeyValue> for Value {
    fn from(value: &KeyValue) -> Self {
        match value {
            KeyValue::Null => Value::NULL,
            KeyValue::Int(v) => Value::Int(*v),
            KeyValue::UInt(v) => Value::UInt(*v),
            KeyValue::Float(v) => Value::Float(f32::from_bits(*v)),
            KeyValue::Double(v) => Value::Double(f64::from_bits(*v)),
            KeyValue::Bytes(b) => Value::Bytes(b.clone()),
            KeyValue::Date(y, mo, d, h, mi, s, us) => Value::Date(*y, *mo, *d, *h, *mi, *s, *us),
            KeyValue::Time(neg, d, h, mi, s, us) => Value::Time(*neg, *d, *h, *mi, *s, *us),
        }
    }
}

/// A chunk read in the current window, waiting for the high watermark.
pub struct Chunk {
    pub database: String,
    pub table: String,
    part: u32,
    pub codec: Rc<TableCodec>,
    /// The rows in key order; `None` once a change in the window took the key over.
    pub rows: Vec<Option<Row>>,
    keys: HashMap<String, usize>,
    last_key: Option<Vec<KeyValue>>,
    /// The table has no rows past this chunk (up to its largest key at the start).
    finished: bool,
}

struct Window {
    marks: WindowMarks,
    /// Changes of the chunks' tables take keys out of them from here on.
    open: bool,
    chunks: Vec<Chunk>,
}

/// Where a window begins and ends in the binlog.
enum WindowMarks {
    /// The low watermark row's id in the signal table (its deletion is the high one).
    Row(String),
    /// The server's executed GTIDs before (`low`) and after (`high`) the
    /// reads, and its binlog end just after `high`. A transaction not in
    /// `low` opens the window; the first not in `high`, or the stream
    /// reaching `end` between transactions, closes it.
    Gtid { low: GtidSet, high: GtidSet, end: BinlogPosition },
}

/// What a window's read asks of the stream.
#[derive(Default)]
pub struct WindowRead {
    /// Tables without a primary key: to be read in one blocking pass.
    pub blocking: Vec<Name>,
}

/// The incremental snapshot engine the stream drives.
pub struct Incremental {
    /// Shared with the offsets marked per transaction (a mark holds the
    /// `Arc`; a change copies it once, not every transaction).
    progress: Option<Arc<SnapshotProgress>>,
    window: Option<Window>,
    conns: Vec<Conn>,
    signal_table: Option<Name>,
    watermarks: Watermarks,
    chunk_rows: u64,
    parallel: usize,
    /// After a failed read: no new window before this.
    not_before: Option<Instant>,
    failures: u32,
    metrics: Arc<SourceMetrics>,
    /// Rows sent by this run, since when: the rate and the time left.
    rate: (Instant, u64),
    last_log: Instant,
    /// A chunk was sent: the offsets are to be stored at the next transaction boundary.
    store_due: bool,
    /// Table shapes read from the catalog, until a DDL statement on the table
    /// (or a read that names a column gone) drops them.
    shapes: HashMap<Name, crate::table::TableSchema>,
}

impl Incremental {
    pub fn new(config: &SourceConfig, metrics: Arc<SourceMetrics>) -> Self {
        Self {
            progress: None,
            window: None,
            conns: Vec::new(),
            signal_table: config.capture.signal_table.as_deref().and_then(|t| t.split_once('.')).map(|(d, t)| (d.to_string(), t.to_string())),
            watermarks: config.snapshot.incremental_watermarks,
            chunk_rows: config.snapshot.incremental_chunk_rows,
            parallel: config.snapshot.incremental_parallel_tables,
            not_before: None,
            failures: 0,
            metrics,
            rate: (Instant::now(), 0),
            last_log: Instant::now(),
            store_due: false,
            shapes: HashMap::new(),
        }
    }

    /// Continues the snapshot stored with the offsets, if one is unfinished.
    pub fn resume(&mut self, stored: Option<Arc<SnapshotProgress>>) {
        if let Some(progress) = &stored
            && progress.tables.iter().any(|t| t.state == TableState::Pending)
        {
            let pending: Vec<String> = progress.tables.iter().filter(|t| t.state == TableState::Pending).map(|t| format!("{}.{}", t.database, t.table)).collect();
            tracing::info!(tables = ?pending, paused = progress.paused, "resuming the incremental snapshot at the next chunk");
        }
        self.progress = stored;
        self.window = None;
        self.publish_gauges();
    }

    /// The progress to store with the offsets.
    pub fn progress(&self) -> Option<Arc<SnapshotProgress>> {
        self.progress.clone()
    }

    /// The progress, to change.
    fn progress_mut(&mut self) -> Option<&mut SnapshotProgress> {
        self.progress.as_mut().map(Arc::make_mut)
    }

    /// Adds `tables` to the snapshot (a new snapshot when none is running);
    /// a table already pending starts over from its first key.
    pub fn start(&mut self, tables: Vec<Name>, filters: &BTreeMap<String, String>) {
        let running = self.progress.as_ref().is_some_and(|p| p.tables.iter().any(|t| t.state == TableState::Pending));
        if !running {
            self.progress = Some(Arc::new(SnapshotProgress::new()));
        }
        if let Some(window) = &mut self.window {
            window.chunks.retain(|c| !tables.iter().any(|(d, t)| (d, t) == (&c.database, &c.table)));
        }
        self.progress_mut().expect("set above").add(tables, filters);
        self.publish_gauges();
    }

    /// `stop-snapshot`: the named tables (all when empty) are not read further.
    pub fn stop(&mut self, tables: &[Name]) {
        let Some(progress) = self.progress_mut() else { return };
        for t in progress.tables.iter_mut().filter(|t| t.state == TableState::Pending) {
            if tables.is_empty() || tables.iter().any(|(d, n)| (d, n) == (&t.database, &t.table)) {
                t.state = TableState::Stopped;
                t.note = Some("stop-snapshot signal".into());
                tracing::info!(database = %t.database, table = %t.table, rows = t.rows, "incremental snapshot of the table stopped by signal");
            }
        }
        if let Some(window) = &mut self.window {
            window.chunks.retain(|c| !(tables.is_empty() || tables.iter().any(|(d, n)| (d, n) == (&c.database, &c.table))));
        }
        self.publish_gauges();
    }

    /// `pause-snapshot` / `resume-snapshot`: whether new windows are read.
    pub fn pause(&mut self, paused: bool) {
        if let Some(progress) = self.progress_mut() {
            progress.paused = paused;
            if !paused {
                progress.error = None;
                self.not_before = None;
            }
            tracing::info!(paused, "incremental snapshot {}", if paused { "paused" } else { "resumed" });
        }
    }

    /// Whether a new window is due: tables pending, not paused, none open.
    pub fn due(&self) -> bool {
        self.window.is_none()
            && (self.signal_table.is_some() || self.watermarks == Watermarks::Gtid)
            && self.not_before.is_none_or(|t| Instant::now() >= t)
            && self.progress.as_ref().is_some_and(|p| !p.paused && p.error.is_none() && p.tables.iter().any(|t| t.state == TableState::Pending))
    }

    /// Reads the next window: low watermark, a chunk of up to
    /// `parallel` pending tables, high watermark. A lost connection is
    /// retried with backoff on a later call; an error the server will repeat
    /// (no privilege on the signal table) pauses the snapshot with the fix in
    /// the log and in `snapshot status` — the stream goes on.
    pub async fn read_window(&mut self, mysql: &MysqlConnector, codecs: &mut Codecs) -> Result<WindowRead> {
        match self.try_read_window(mysql, codecs).await {
            Ok(read) => {
                self.failures = 0;
                self.not_before = None;
                Ok(read)
            }
            Err(e) => {
                self.conns.clear();
                self.window = None;
                let transient = e.chain().any(|c| c.downcast_ref::<mysql_async::Error>().is_some_and(shared::mysql::connection_lost));
                if transient && self.failures < 20 {
                    self.failures += 1;
                    let wait = Duration::from_millis(200 * (1 << self.failures.min(7)));
                    tracing::warn!(error = %format!("{e:#}"), retry_in = ?wait, "incremental snapshot: reading a chunk failed; trying again");
                    self.not_before = Some(Instant::now() + wait);
                } else {
                    let message = format!("{e:#}");
                    tracing::error!(
                        error = %message,
                        "incremental snapshot paused: fix the cause (with signal-table watermarks the source's user needs INSERT and DELETE \
                         on capture.signal_table; with GTID watermarks the server needs gtid_mode = ON; SELECT on the tables), \
                         then send resume-snapshot (cdc-source snapshot resume) or restart the source"
                    );
                    if let Some(progress) = self.progress_mut() {
                        progress.error = Some(message);
                    }
                }
                Ok(WindowRead::default())
            }
        }
    }

    async fn try_read_window(&mut self, mysql: &MysqlConnector, codecs: &mut Codecs) -> Result<WindowRead> {
        let Some(progress) = self.progress.as_mut().map(Arc::make_mut) else { return Ok(WindowRead::default()) };
        if self.conns.is_empty() {
            let mut conn = mysql.connect().await.context("connecting for an incremental snapshot chunk")?;
            conn.query_drop("SET SESSION time_zone = '+00:00'").await?;
            self.conns.push(conn);
        }
        // Tables about to be read for the first time: their largest key, and ranges.
        let mut i = 0;
        let mut looked = 0;
        while i < progress.tables.len() && looked < self.parallel {
            if progress.tables[i].state == TableState::Pending {
                looked += 1;
                if progress.tables[i].max_key.is_none() {
                    let parts = begin_table(&mut self.conns[0], &mut progress.tables[i], self.parallel, self.chunk_rows).await?;
                    let added = parts.len();
                    progress.tables.splice(i + 1..i + 1, parts);
                    i += added;
                }
            }
            i += 1;
        }
        let pending: Vec<usize> = (0..progress.tables.len()).filter(|&i| progress.tables[i].state == TableState::Pending).take(self.parallel).collect();
        while self.conns.len() < pending.len() {
            let mut conn = mysql.connect().await.context("connecting for an incremental snapshot chunk")?;
            conn.query_drop("SET SESSION time_zone = '+00:00'").await?;
            self.conns.push(conn);
        }
        let low = low_watermark(&mut self.conns[0], self.watermarks, self.signal_table.as_ref()).await?;

        // After the low watermark: the shapes, then the chunks, all concurrently.
        let mut read = WindowRead::default();
        let mut planned = Vec::new();
        for &i in &pending {
            let t = &mut progress.tables[i];
            let conn = &mut self.conns[0];
            let name = (t.database.clone(), t.table.clone());
            let (shape, fresh) = match self.shapes.get(&name) {
                Some(shape) => (shape.clone(), false),
                None => {
                    let shape = catalog_shape(conn, &t.database, &t.table).await?;
                    self.shapes.insert(name, shape.clone());
                    (shape, true)
                }
            };
            if shape.columns.is_empty() {
                t.state = TableState::Gone;
                t.note = Some("the table no longer exists".into());
                tracing::info!(database = %t.database, table = %t.table, "incremental snapshot: the table no longer exists; not read further");
                continue;
            }
            let codec = match codecs.for_table(&shape).await {
                Ok(codec) => codec,
                Err(e) => {
                    t.state = TableState::Stopped;
                    t.note = Some(format!("its rows cannot be encoded: {e:#}"));
                    tracing::error!(database = %t.database, table = %t.table, "incremental snapshot of the table stopped: its rows cannot be encoded: {e:#}");
                    continue;
                }
            };
            let key_names: Vec<&str> = shape.primary_key.iter().map(|&k| shape.columns[k].name.as_str()).collect();
            let codec_key: Vec<&str> = codec.table.primary_key.iter().map(|&k| codec.table.columns[k].name.as_str()).collect();
            if key_names.is_empty() || key_names != codec_key {
                t.state = TableState::Blocking;
                t.note = Some("no primary key to read it by (or capture.key_columns replaces it): read in one blocking pass".into());
                read.blocking.push((t.database.clone(), t.table.clone()));
                continue;
            }
            let from = mysql_table(&t.database, &t.table);
            let key = key_names.iter().map(|k| quote(k)).collect::<Vec<_>>();
            let condition = t.filter.as_deref().map(|f| format!(" AND ({f})")).unwrap_or_default();
            if t.max_key.is_none() {
                // Emptied since (or a shape without a key before): read from the start next window.
                continue;
            }
            let columns = shape.columns.iter().map(|c| quote(&c.name)).collect::<Vec<_>>().join(", ");
            let tuple = format!("({})", key.join(", "));
            let marks = format!("({})", vec!["?"; key.len()].join(", "));
            // A composite key's first column also bounds the range by itself:
            // an index range even where row comparisons are not one.
            let mut params: Vec<Value> = Vec::new();
            let mut bounds = String::new();
            if let Some(last) = &t.last_key {
                if key.len() > 1 {
                    bounds.push_str(&format!(" AND {} >= ?", key[0]));
                    params.push(Value::from(&last[0]));
                }
                bounds.push_str(&format!(" AND {tuple} > {marks}"));
                params.extend(last.iter().map(Value::from));
            }
            let max = t.max_key.as_deref().unwrap_or_default();
            if key.len() > 1 && !max.is_empty() {
                bounds.push_str(&format!(" AND {} <= ?", key[0]));
                params.push(Value::from(&max[0]));
            }
            bounds.push_str(&format!(" AND {tuple} <= {marks}"));
            params.extend(max.iter().map(Value::from));
            let sql = format!("SELECT {columns} FROM {from} WHERE 1 = 1{bounds}{condition} ORDER BY {} LIMIT {}", key.join(", "), self.chunk_rows);
            planned.push((i, codec, shape.primary_key.clone(), sql, params, fresh));
        }
        let queries = planned.iter().zip(self.conns.iter_mut()).map(|((_, _, _, sql, params, _), conn)| conn.exec::<mysql_async::Row, _, _>(sql.as_str(), params.clone()));
        let results = futures_util::future::join_all(queries).await;
        let marks = high_watermark(&mut self.conns[0], low, self.signal_table.as_ref()).await?;

        let mut chunks = Vec::new();
        for ((i, codec, key_at, _, _, fresh), rows) in planned.into_iter().zip(results) {
            let t = &mut progress.tables[i];
            let rows = match rows {
                Ok(rows) => rows,
                Err(mysql_async::Error::Server(e)) if e.code == 1146 => {
                    t.state = TableState::Gone;
                    t.note = Some("the table no longer exists".into());
                    continue;
                }
                Err(mysql_async::Error::Server(e)) if e.code == 1054 && !fresh => {
                    // A column of the remembered shape is gone: read the catalog again next window.
                    self.shapes.remove(&(t.database.clone(), t.table.clone()));
                    continue;
                }
                Err(mysql_async::Error::Server(e)) if t.filter.is_some() && matches!(e.code, 1054 | 1064) => {
                    t.state = TableState::Stopped;
                    t.note = Some(format!("its additional condition does not work: {}", e.message));
                    tracing::error!(database = %t.database, table = %t.table, "incremental snapshot of the table stopped: its additional condition fails: {}", e.message);
                    continue;
                }
                Err(e) => return Err(e).with_context(|| format!("reading a chunk of `{}`.`{}`", t.database, t.table)),
            };
            let finished = (rows.len() as u64) < self.chunk_rows;
            let mut chunk = Chunk {
                database: t.database.clone(),
                table: t.table.clone(),
                part: t.part,
                codec: codec.clone(),
                rows: Vec::with_capacity(rows.len()),
                keys: HashMap::with_capacity(rows.len()),
                last_key: t.last_key.clone(),
                finished,
            };
            for row in rows {
                let values: Vec<BinlogValue<'static>> = row.unwrap().into_iter().map(BinlogValue::Value).collect();
                chunk.last_key = Some(key_at.iter().map(|&k| match &values[k] {
                    BinlogValue::Value(v) => KeyValue::from(v),
                    _ => KeyValue::Null,
                }).collect());
                let row = match codec.row(&values, Origin::Query) {
                    Ok(row) => row,
                    Err(e) => {
                        t.state = TableState::Stopped;
                        t.note = Some(format!("a row cannot be converted: {e}"));
                        tracing::error!(database = %t.database, table = %t.table, "incremental snapshot of the table stopped: a row cannot be converted: {e}");
                        break;
                    }
                };
                chunk.keys.insert(codec.key_json(&row), chunk.rows.len());
                chunk.rows.push(Some(row));
            }
            chunk.finished |= chunk.last_key.is_some() && chunk.last_key == t.max_key;
            if t.state == TableState::Pending {
                chunks.push(chunk);
            }
        }
        self.window = Some(Window { marks, open: false, chunks });
        self.publish_gauges();
        Ok(read)
    }

    /// The stream reached a low-watermark row.
    pub fn opened(&mut self, id: &str) {
        if let Some(window) = &mut self.window
            && matches!(&window.marks, WindowMarks::Row(open) if open == id)
        {
            window.open = true;
        }
    }

    /// A transaction `gtid` begins (GTID watermarks): not in the window's
    /// `high` set, it is past the window, whose chunks are returned to be sent
    /// before it; not in `low`, it opens the window.
    pub fn before_transaction(&mut self, gtid: Option<&str>) -> Option<Vec<Chunk>> {
        let (Some(window), Some(gtid)) = (&mut self.window, gtid) else { return None };
        let WindowMarks::Gtid { low, high, .. } = &window.marks else { return None };
        if !high.contains(gtid) {
            return self.close();
        }
        if !low.contains(gtid) {
            window.open = true;
        }
        None
    }

    /// The stream is between transactions at `at` (GTID watermarks): at or
    /// past the binlog end read after `high`, every transaction of the window
    /// is behind it, so its chunks are returned to be sent here.
    pub fn at_boundary(&mut self, at: &BinlogPosition) -> Option<Vec<Chunk>> {
        let WindowMarks::Gtid { end, .. } = &self.window.as_ref()?.marks else { return None };
        let place = |p: &BinlogPosition| (file_sequence(&p.file).unwrap_or(0), p.pos);
        if place(at) >= place(end) { self.close() } else { None }
    }

    /// Whether changes of `database.table` take keys out of an open window's chunk.
    pub fn watches(&self, database: &str, table: &str) -> bool {
        self.window.as_ref().is_some_and(|w| w.open && w.chunks.iter().any(|c| c.database == database && c.table == table))
    }

    /// A change of the row with key `key` (the codec's key JSON) in an open window: its chunk row is not sent.
    pub fn changed(&mut self, database: &str, table: &str, key: &str) {
        let Some(window) = &mut self.window else { return };
        for chunk in window.chunks.iter_mut().filter(|c| c.database == database && c.table == table) {
            if let Some(&at) = chunk.keys.get(key) {
                chunk.rows[at] = None;
            }
        }
    }

    /// A DDL statement on `database.table`: a chunk of it in the window (open
    /// or not yet) was read with a shape that may be gone; it is read again,
    /// with the shape read from the catalog anew.
    pub fn discard(&mut self, database: &str, table: &str) {
        self.shapes.remove(&(database.to_string(), table.to_string()));
        if let Some(window) = &mut self.window {
            let before = window.chunks.len();
            window.chunks.retain(|c| !(c.database == database && c.table == table));
            if window.chunks.len() != before {
                tracing::info!(%database, %table, "incremental snapshot: DDL on the table during its chunk's window; the chunk is read again");
            }
        }
    }

    /// Any DDL statement: the remembered shapes are read again (a statement
    /// whose targets are not recognised must not leave a stale one).
    pub fn forget_shapes(&mut self) {
        self.shapes.clear();
    }

    /// The stream reached the high watermark of window `id` (the deletion of
    /// its low-watermark row): the chunks to send now, with the progress moved past them.
    pub fn closed(&mut self, id: &str) -> Option<Vec<Chunk>> {
        match &self.window.as_ref()?.marks {
            WindowMarks::Row(open) if open == id => self.close(),
            _ => None,
        }
    }

    /// Ends the window: its chunks, with the progress moved past them.
    fn close(&mut self) -> Option<Vec<Chunk>> {
        let window = self.window.take()?;
        let progress = self.progress.as_mut().map(Arc::make_mut)?;
        let mut sent = 0;
        for chunk in &window.chunks {
            let Some(t) = progress
                .tables
                .iter_mut()
                .find(|t| t.database == chunk.database && t.table == chunk.table && t.part == chunk.part && t.state == TableState::Pending)
            else {
                continue;
            };
            t.last_key = chunk.last_key.clone();
            t.rows += chunk.rows.len() as u64;
            t.chunks += 1;
            sent += chunk.rows.len() as u64;
            if chunk.finished {
                t.state = TableState::Done;
            }
        }
        for chunk in window.chunks.iter().filter(|c| c.finished) {
            let parts = || progress.tables.iter().filter(|t| t.database == chunk.database && t.table == chunk.table);
            if parts().all(|t| t.state != TableState::Pending) {
                let (rows, chunks) = parts().fold((0, 0), |(r, c), t| (r + t.rows, c + t.chunks));
                tracing::info!(database = %chunk.database, table = %chunk.table, rows, chunks, "incremental snapshot of the table done");
            }
        }
        if self.last_log.elapsed() >= Duration::from_secs(10) {
            self.last_log = Instant::now();
            for t in progress.tables.iter().filter(|t| t.state == TableState::Pending) {
                tracing::info!(database = %t.database, table = %t.table, range = t.part, rows = t.rows, estimated = ?t.estimate, chunks = t.chunks, "incremental snapshot progress");
            }
        }
        self.rate.1 += sent;
        self.store_due = true;
        self.metrics.snapshot_chunks.inc_by(window.chunks.len() as u64);
        self.publish_gauges();
        Some(window.chunks)
    }

    /// Whether chunks were sent since the last call: the stream then stores
    /// its offsets at once (at the transaction boundary after them, waiting
    /// for the broker), so a restart re-reads no chunk sent before the last window.
    pub fn take_store_due(&mut self) -> bool {
        std::mem::take(&mut self.store_due)
    }

    /// Rows/s of this run, tables left, the estimated time left.
    fn publish_gauges(&self) {
        let Some(progress) = &self.progress else { return };
        let pending: Vec<&TableProgress> = progress.tables.iter().filter(|t| t.state == TableState::Pending).collect();
        self.metrics.snapshot_tables_remaining.set(pending.len() as i64);
        let elapsed = self.rate.0.elapsed().as_secs_f64();
        let rate = if elapsed > 0.0 { self.rate.1 as f64 / elapsed } else { 0.0 };
        self.metrics.snapshot_rows_per_second.set(rate as i64);
        let left: u64 = pending.iter().map(|t| t.estimate.unwrap_or(0).saturating_sub(t.rows)).sum();
        self.metrics.snapshot_seconds_remaining.set(if rate > 0.0 { (left as f64 / rate) as i64 } else { -1 });
        for t in per_table(progress) {
            let label = format!("{}.{}", t.database, t.table);
            self.metrics.snapshot_rows.with_label_values(&[&label]).set(t.rows as i64);
            if let Some(estimate) = t.estimate {
                self.metrics.snapshot_estimate.with_label_values(&[&label]).set(estimate as i64);
            }
        }
    }
}

/// A table's first window is due: reads its largest key (where its snapshot
/// ends) and row estimate, or marks it done when it has no rows. A big
/// table with a one-column integer key and `parallel` > 1 is cut into
/// `parallel` key ranges read side by side: `t` becomes the first, the
/// others are returned.
async fn begin_table(conn: &mut Conn, t: &mut TableProgress, parallel: usize, chunk_rows: u64) -> Result<Vec<TableProgress>> {
    let shape = catalog_shape(conn, &t.database, &t.table).await?;
    if shape.columns.is_empty() || shape.primary_key.is_empty() {
        return Ok(Vec::new()); // gone, or read in one pass: decided in the window
    }
    let from = mysql_table(&t.database, &t.table);
    let key: Vec<String> = shape.primary_key.iter().map(|&k| quote(&shape.columns[k].name)).collect();
    let condition = t.filter.as_deref().map(|f| format!(" AND ({f})")).unwrap_or_default();
    let descending = key.iter().map(|k| format!("{k} DESC")).collect::<Vec<_>>().join(", ");
    let max: Option<mysql_async::Row> = conn
        .exec_first(format!("SELECT {} FROM {from} WHERE 1 = 1{condition} ORDER BY {descending} LIMIT 1", key.join(", ")), ())
        .await
        .with_context(|| format!("reading the largest key of `{}`.`{}`", t.database, t.table))?;
    let Some(max) = max else {
        t.state = TableState::Done;
        tracing::info!(database = %t.database, table = %t.table, "incremental snapshot: the table is empty");
        return Ok(Vec::new());
    };
    let max: Vec<KeyValue> = max.unwrap().iter().map(KeyValue::from).collect();
    t.estimate = conn
        .exec_first("SELECT TABLE_ROWS FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?", (&t.database, &t.table))
        .await?
        .flatten();
    t.max_key = Some(max.clone());
    let integer_max = match max.as_slice() {
        [KeyValue::Int(v)] => Some(*v as i128),
        [KeyValue::UInt(v)] => Some(*v as i128),
        _ => None,
    };
    let (Some(high), true) = (integer_max, parallel > 1) else { return Ok(Vec::new()) };
    let min: Option<Value> = conn
        .exec_first(format!("SELECT MIN({}) FROM {from} WHERE 1 = 1{condition}", key[0]), ())
        .await?;
    let low = match min {
        Some(Value::Int(v)) => v as i128,
        Some(Value::UInt(v)) => v as i128,
        _ => return Ok(Vec::new()),
    };
    // Big enough to split, judged by the key span (at least the row count of a
    // unique integer key), not by the server's row estimate: that of a table
    // just filled can be far behind (MySQL caches it for
    // `information_schema_stats_expiry`, a day by default).
    let span = high - low + 1;
    if span <= (chunk_rows * parallel as u64 * 4) as i128 {
        return Ok(Vec::new());
    }
    // Exclusive lower bounds: low - 1, then evenly spaced up to the largest key.
    let as_key = |v: i128| match max[0] {
        KeyValue::UInt(_) => KeyValue::UInt(v.max(0) as u64),
        _ => KeyValue::Int(v as i64),
    };
    let bounds: Vec<i128> = (0..=parallel as i128).map(|j| low - 1 + span * j / parallel as i128).collect();
    let template = t.clone();
    let estimate = t.estimate.map(|e| e / parallel as u64);
    let part = |j: usize| TableProgress {
        part: j as u32,
        last_key: (j > 0).then(|| vec![as_key(bounds[j])]),
        max_key: Some(vec![as_key(bounds[j + 1])]),
        estimate,
        ..template.clone()
    };
    *t = part(0);
    tracing::info!(database = %t.database, table = %t.table, ranges = parallel, "incremental snapshot: the table is read in key ranges side by side");
    Ok((1..parallel).map(part).collect())
}

/// Marks the start of a window: inserts the low-watermark row into the
/// signal table (returning its marks), or reads the executed GTID set.
async fn low_watermark(conn: &mut Conn, watermarks: Watermarks, signal_table: Option<&Name>) -> Result<WindowMarks> {
    match watermarks {
        Watermarks::SignalTable => {
            let (database, table) = signal_table.context("capture.signal_table is not set")?;
            let id = format!("{}-open", uuid::Uuid::new_v4());
            let opened = serde_json::json!({"openWindowTimestamp": crate::envelope::now_ms()}).to_string();
            conn.exec_drop(format!("INSERT INTO {} (id, type, data) VALUES (?, ?, ?)", mysql_table(database, table)), (&id, WINDOW_OPEN, opened))
                .await
                .with_context(|| format!("writing the low watermark into {database}.{table}"))?;
            Ok(WindowMarks::Row(id))
        }
        Watermarks::Gtid => {
            let (low, _) = executed_gtids(conn).await?;
            Ok(WindowMarks::Gtid { low, high: GtidSet::default(), end: BinlogPosition { file: String::new(), pos: 0 } })
        }
    }
}

/// Marks the end of a window: deletes the low-watermark row, or reads the
/// executed GTID set and the binlog end again.
async fn high_watermark(conn: &mut Conn, low: WindowMarks, signal_table: Option<&Name>) -> Result<WindowMarks> {
    match low {
        WindowMarks::Row(id) => {
            let (database, table) = signal_table.context("capture.signal_table is not set")?;
            conn.exec_drop(format!("DELETE FROM {} WHERE id = ?", mysql_table(database, table)), (&id,))
                .await
                .with_context(|| format!("writing the high watermark into {database}.{table}"))?;
            Ok(WindowMarks::Row(id))
        }
        WindowMarks::Gtid { low, .. } => {
            let (high, end) = executed_gtids(conn).await?;
            Ok(WindowMarks::Gtid { low, high, end })
        }
    }
}

/// The server's executed GTID set (MySQL's `gtid_executed`, advanced when a
/// transaction commits) and its binlog end, read together.
async fn executed_gtids(conn: &mut Conn) -> Result<(GtidSet, BinlogPosition)> {
    let status = crate::server_sql::binlog_status(conn).await?;
    let set = status
        .gtid_set
        .context("snapshot.incremental_watermarks = \"gtid\" needs MySQL with gtid_mode = ON (the server reports no executed GTID set); use \"signal_table\"")?;
    Ok((GtidSet::parse(&set).map_err(anyhow::Error::msg)?, status.position))
}

/// The progress per table: its key ranges summed (rows, chunks, estimate),
/// pending while any range is, else the first range's state and note.
fn per_table(progress: &SnapshotProgress) -> Vec<TableProgress> {
    let mut tables: Vec<TableProgress> = Vec::new();
    for t in &progress.tables {
        match tables.iter_mut().find(|s| s.database == t.database && s.table == t.table) {
            Some(sum) => {
                sum.rows += t.rows;
                sum.chunks += t.chunks;
                sum.estimate = sum.estimate.zip(t.estimate).map(|(a, b)| a + b);
                if t.state == TableState::Pending {
                    sum.state = TableState::Pending;
                }
            }
            None => tables.push(t.clone()),
        }
    }
    tables
}

/// `cdc-source snapshot status`: a table per snapshot table.
pub fn render_status(progress: Option<&SnapshotProgress>) -> String {
    let Some(progress) = progress else {
        return "no incremental snapshot has run (none is stored with the offsets)\n".into();
    };
    let mut out = format!("incremental snapshot {}", progress.id);
    if progress.paused {
        out.push_str(" (paused)");
    }
    if let Some(error) = &progress.error {
        out.push_str(&format!(" (stopped by an error: {error})"));
    }
    out.push('\n');
    let rows: Vec<[String; 5]> = per_table(progress)
        .iter()
        .map(|t| {
            let percent = match (t.state, t.estimate) {
                (TableState::Done, _) => "100%".to_string(),
                (_, Some(e)) if e > 0 => format!("~{}%", (t.rows * 100 / e).min(99)),
                _ => "?".to_string(),
            };
            [
                format!("{}.{}", t.database, t.table),
                t.state.as_str().to_string(),
                t.rows.to_string(),
                t.estimate.map_or("?".into(), |e| e.to_string()),
                format!("{percent}{}", t.note.as_deref().map(|n| format!("  {n}")).unwrap_or_default()),
            ]
        })
        .collect();
    let header = ["table", "state", "rows read", "estimated rows", "done"].map(String::from);
    let widths: Vec<usize> = (0..5).map(|c| std::iter::once(&header).chain(&rows).map(|r| r[c].chars().count()).max().unwrap_or(0)).collect();
    for row in std::iter::once(&header).chain(&rows) {
        let cells: Vec<String> = row.iter().zip(&widths).map(|(cell, w)| format!("{cell:<w$}")).collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_values_survive_the_offsets() {
        let values = [
            Value::Int(-5),
            Value::UInt(u64::MAX),
            Value::Double(1.5),
            Value::Float(-0.25),
            Value::Bytes(vec![0, 159, 146, 150]),
            Value::Date(2024, 2, 29, 23, 59, 59, 999_999),
            Value::Time(true, 1, 2, 3, 4, 5),
            Value::NULL,
        ];
        let stored: Vec<KeyValue> = values.iter().map(KeyValue::from).collect();
        let json = serde_json::to_string(&stored).unwrap();
        let back: Vec<KeyValue> = serde_json::from_str(&json).unwrap();
        assert_eq!(back.iter().map(Value::from).collect::<Vec<_>>(), values);
    }

    #[test]
    fn status_names_each_table() {
        let table = |name: &str, state, rows, estimate| TableProgress {
            database: "db".into(),
            table: name.into(),
            part: 0,
            state,
            filter: None,
            last_key: None,
            max_key: None,
            rows,
            chunks: 1,
            estimate,
            note: None,
        };
        let progress = SnapshotProgress {
            id: "s1".into(),
            paused: true,
            error: None,
            tables: vec![
                table("a", TableState::Done, 10, Some(9)),
                table("b", TableState::Pending, 50, Some(100)),
                TableProgress { part: 1, ..table("b", TableState::Done, 50, Some(100)) },
            ],
        };
        let text = render_status(Some(&progress));
        assert!(text.contains("(paused)"), "{text}");
        assert!(text.lines().any(|l| l.starts_with("db.a") && l.contains("done") && l.contains("100%")), "{text}");
        assert!(text.lines().any(|l| l.starts_with("db.b") && l.contains("reading") && l.contains(" 100 ") && l.contains("~50%")), "{text}");
    }
}
