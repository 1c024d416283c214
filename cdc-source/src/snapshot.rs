//! The initial snapshot: every captured table read at one consistent point,
//! in primary-key chunks, as `op = r` events, followed by streaming from
//! exactly that point.
//!
//! Guarantee: the binlog position returned is the one the snapshot's
//! repeatable-read transaction saw, so a change is either in the snapshot or
//! streamed after it — never both, never neither. On MariaDB the position
//! comes from `binlog_snapshot_file/position` of the consistent-snapshot
//! transaction, without any lock; on MySQL a global read lock is held only
//! between opening the transaction and reading the position; without the
//! privilege for it (or with `snapshot.locking = "tables"`) the captured
//! tables are read-locked for the whole snapshot instead, so writes to them
//! wait. A snapshot cut short by a crash is redone from the start (at a new
//! point) on restart. [`resync`] re-reads chosen tables the same way while
//! the stream stands still.

use crate::checks::Flavor;
use crate::codec::Codecs;
use crate::config::{CaptureConfig, SnapshotConfig, SnapshotLocking, SourceConfig};
use crate::envelope::{SnapshotMarker, SourceInfo};
use crate::position::{BinlogPosition, RowVersion};
use crate::emitter::Emitter;
use crate::offsets::{OffsetStore, SourceOffsets};
use crate::server_sql::{BinlogStatus, binlog_status};
use crate::table::{CatalogColumn, TableSchema};
use crate::values::Origin;
use anyhow::{Context, Result, bail};
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Row};
use std::time::Duration;
use mysql_common::binlog::value::BinlogValue;

/// Takes the snapshot, waits for the broker to acknowledge it, stores the
/// offsets to stream from (the snapshot point and, on MySQL, its GTID set).
pub async fn take(
    conn: &mut Conn,
    flavor: Flavor,
    config: &SourceConfig,
    codecs: &mut Codecs,
    emitter: &mut Emitter,
    offsets: &OffsetStore,
) -> Result<SourceOffsets> {
    let point = run(conn, flavor, &config.capture, &config.snapshot, codecs, emitter).await?;
    emitter.publisher.flush(Duration::from_secs(300)).await?;
    let taken = SourceOffsets {
        quarantined: emitter.quarantined.clone(),
        ..SourceOffsets::streaming_from(point, config)
    };
    offsets.store(&taken).await?;
    tracing::info!(position = %taken.position, gtid_set = ?taken.gtid_set, "snapshot complete");
    Ok(taken)
}

/// Reads every captured table and hands its rows to `sink`; returns the point to stream from.
pub async fn run(conn: &mut Conn, flavor: Flavor, capture: &CaptureConfig, settings: &SnapshotConfig, codecs: &mut Codecs, emitter: &mut Emitter) -> Result<BinlogStatus> {
    let tables = captured_tables(conn, capture).await?;
    Ok(read_tables(conn, flavor, capture, settings, &tables, false, codecs, emitter).await?.0)
}

/// The captured tables (base tables the capture lists take in), by name.
pub async fn captured_tables(conn: &mut Conn, capture: &CaptureConfig) -> Result<Vec<(String, String)>> {
    let tables: Vec<(String, String)> = conn
        .query("SELECT TABLE_SCHEMA, TABLE_NAME FROM information_schema.TABLES WHERE TABLE_TYPE = 'BASE TABLE' ORDER BY 1, 2")
        .await?;
    Ok(tables.into_iter().filter(|(d, t)| capture.captures(d, t) && !capture.is_signal_table(d, t)).collect())
}

/// `snapshot.method = "incremental"`: offsets that stream from the server's
/// current position with an incremental snapshot of every captured table to
/// do (see [`crate::incremental`]), in place of a consistent snapshot.
pub async fn incremental_start(conn: &mut Conn, config: &SourceConfig) -> Result<SourceOffsets> {
    let now = binlog_status(conn).await?;
    let tables = captured_tables(conn, &config.capture).await?;
    let mut progress = crate::incremental::SnapshotProgress::new();
    progress.add(tables, &Default::default());
    tracing::info!(position = %now.position, "snapshot.method = incremental: streaming from here while the tables are read in chunks");
    Ok(SourceOffsets {
        incremental: Some(std::sync::Arc::new(progress)),
        ..SourceOffsets::streaming_from(now, config)
    })
}

/// Re-reads `tables` while the binlog stream stands still (Debezium's
/// blocking snapshot): for each, a truncate event and then its rows as
/// `op = r` events, all at one consistent point,
/// which is returned with the tables read. The caller streams on from where it stood and skips the
/// changes of these tables up to that point (the rows already hold them).
/// Used where the binlog alone cannot rebuild a table: `RENAME TABLE` (the
/// new name's rows were written under the old one).
///
/// A table that no longer exists (renamed or dropped again further on in the
/// binlog) is not read: the binlog still holds its later changes and fate.
pub async fn resync(
    conn: &mut Conn,
    flavor: Flavor,
    config: &SourceConfig,
    tables: &[(String, String)],
    codecs: &mut Codecs,
    emitter: &mut Emitter,
) -> Result<(BinlogPosition, Vec<(String, String)>)> {
    let mut existing = Vec::new();
    for (database, table) in tables {
        let found: Option<u64> = conn
            .exec_first("SELECT 1 FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?", (database, table))
            .await?;
        match found {
            Some(_) => existing.push((database.clone(), table.clone())),
            None => tracing::info!(%database, %table, "not re-read: the table no longer exists (renamed or dropped again later in the binlog)"),
        }
    }
    let (point, read) = read_tables(conn, flavor, &config.capture, &config.snapshot, &existing, true, codecs, emitter).await?;
    tracing::info!(tables = ?read, position = %point.position, "tables re-read");
    Ok((point.position, read))
}

/// Reads `tables` at one consistent point; returns the point and the tables
/// read (a table gone since — renamed or dropped further on in the binlog — is
/// not). With `clear`,
/// each table's rows are preceded by a truncate event at that point, so a
/// consumer's copy ends up exactly the table as read (rows deleted while its
/// changes were skipped go too; a keyless table's images are not counted twice).
#[allow(clippy::too_many_arguments)]
async fn read_tables(
    conn: &mut Conn,
    flavor: Flavor,
    capture: &CaptureConfig,
    settings: &SnapshotConfig,
    tables: &[(String, String)],
    clear: bool,
    codecs: &mut Codecs,
    emitter: &mut Emitter,
) -> Result<(BinlogStatus, Vec<(String, String)>)> {
    conn.query_drop("SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ").await?;
    conn.query_drop("SET SESSION time_zone = '+00:00'").await?;
    let locking = match (settings.locking, flavor) {
        (SnapshotLocking::Auto, Flavor::MariaDb) => None,
        (SnapshotLocking::Auto, Flavor::MySql) => Some(SnapshotLocking::Global),
        (explicit, _) => Some(explicit),
    };
    let (point, table_locks) = match locking {
        None => {
            conn.query_drop("START TRANSACTION WITH CONSISTENT SNAPSHOT").await?;
            let file: Option<(String, String)> = conn.query_first("SHOW STATUS LIKE 'binlog_snapshot_file'").await?;
            let pos: Option<(String, String)> = conn.query_first("SHOW STATUS LIKE 'binlog_snapshot_position'").await?;
            match (file, pos) {
                (Some((_, file)), Some((_, pos))) => (
                    BinlogStatus {
                        position: BinlogPosition { file, pos: pos.parse()? },
                        gtid_set: None,
                    },
                    false,
                ),
                _ => bail!("the server did not report binlog_snapshot_file/position"),
            }
        }
        Some(SnapshotLocking::Global) | Some(SnapshotLocking::Auto) => match conn.query_drop("FLUSH TABLES WITH READ LOCK").await {
            Ok(()) => {
                let opened = conn.query_drop("START TRANSACTION WITH CONSISTENT SNAPSHOT").await;
                let status = binlog_status(conn).await;
                conn.query_drop("UNLOCK TABLES").await?;
                opened?;
                (status?, false)
            }
            Err(mysql_async::Error::Server(e)) if settings.locking == SnapshotLocking::Auto && (e.code == 1227 || e.code == 1045) => {
                tracing::warn!("no RELOAD privilege for a global read lock ({}); locking the captured tables for the whole snapshot instead", e.message);
                (lock_tables(conn, tables).await?, true)
            }
            Err(e) => return Err(e).context("taking the global read lock for the snapshot point (needs the RELOAD privilege; or set snapshot.locking = \"tables\")"),
        },
        Some(SnapshotLocking::Tables) => (lock_tables(conn, tables).await?, true),
    };
    tracing::info!(position = %point.position, table_locks, "snapshot point taken");
    let position = point.position.clone();
    let version = RowVersion::of(&position.file, position.pos, 0).map_err(anyhow::Error::msg)?;

    let mut shapes = Vec::new();
    for (database, table) in tables {
        shapes.push(catalog_shape(conn, database, table).await?);
    }
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_millis() as i64;
    // One row is held back so the very last can say snapshot = "last".
    let mut pending: Held = None;
    let mut read = Vec::new();
    'tables: for shape in &shapes {
        if shape.columns.is_empty() {
            tracing::info!(database = %shape.database, table = %shape.table, "not read: the table no longer exists (renamed or dropped later in the binlog)");
            continue;
        }
        let codec = match codecs.for_table(shape).await {
            Ok(codec) => codec,
            Err(e) => {
                let reason = format!("its rows cannot be encoded: {e:#}. Fix the cause, then restart the source: it re-reads the table");
                emitter.quarantine(&shape.database, &shape.table, reason);
                continue;
            }
        };
        // The `source` block of this table's events at the snapshot point.
        let source = |snapshot: SnapshotMarker| SourceInfo {
            name: capture.topic_prefix.clone(),
            ts_ms: now,
            snapshot,
            db: shape.database.clone(),
            table: shape.table.clone(),
            server_id: 0,
            gtid: None,
            file: position.file.clone(),
            pos: position.pos,
            row: 0,
            thread: None,
        };
        if clear {
            emitter.truncate(&codec, &source(SnapshotMarker::No), version, false).await?;
        }
        let estimate: Option<u64> = conn
            .exec_first(
                "SELECT TABLE_ROWS FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?",
                (&shape.database, &shape.table),
            )
            .await?
            .flatten();
        let columns = shape.columns.iter().map(|c| quote(&c.name)).collect::<Vec<_>>().join(", ");
        let key = shape.primary_key.iter().map(|&i| quote(&shape.columns[i].name)).collect::<Vec<_>>();
        let from = format!("{}.{}", quote(&shape.database), quote(&shape.table));
        let name = format!("{}.{}", shape.database, shape.table);
        let mut last_key: Option<Vec<mysql_async::Value>> = None;
        let mut done = 0u64;
        if key.is_empty() {
            // No key to page by: one query whose rows are sent as they arrive,
            // one in memory at a time, however big the table.
            let mut result = match conn.exec_iter(format!("SELECT {columns} FROM {from}"), ()).await {
                Ok(result) => result,
                Err(mysql_async::Error::Server(e)) if e.code == NO_SUCH_TABLE => {
                    tracing::info!(database = %shape.database, table = %shape.table, "not read: the table no longer exists (renamed or dropped later in the binlog)");
                    continue 'tables;
                }
                Err(e) => return Err(e.into()),
            };
            while let Some(row) = result.next().await? {
                let values: Vec<BinlogValue<'static>> = row.unwrap().into_iter().map(BinlogValue::Value).collect();
                send_row(emitter, &mut pending, &codec, &values, source(SnapshotMarker::Yes), version, &name).await?;
                done += 1;
                if done % settings.chunk_rows == 0 {
                    tracing::info!(table = %name, rows = done, estimated = ?estimate, "snapshot progress");
                    emitter.snapshot_progress(&shape.database, &shape.table, done, estimate);
                }
            }
            tracing::info!(table = %name, rows = done, estimated = ?estimate, "snapshot progress");
            emitter.snapshot_progress(&shape.database, &shape.table, done, estimate);
            read.push((shape.database.clone(), shape.table.clone()));
            continue;
        }
        let order = key.join(", ");
        loop {
            let chunk: Result<Vec<Row>, mysql_async::Error> = match &last_key {
                None => conn.exec(format!("SELECT {columns} FROM {from} ORDER BY {order} LIMIT {}", settings.chunk_rows), ()).await,
                Some(values) => {
                    let marks = vec!["?"; key.len()].join(", ");
                    let sql = format!("SELECT {columns} FROM {from} WHERE ({order}) > ({marks}) ORDER BY {order} LIMIT {}", settings.chunk_rows);
                    conn.exec(sql, values.clone()).await
                }
            };
            let rows = match chunk {
                Ok(rows) => rows,
                // Renamed or dropped since the point (that DDL is further on in the binlog).
                Err(mysql_async::Error::Server(e)) if e.code == NO_SUCH_TABLE => {
                    tracing::info!(database = %shape.database, table = %shape.table, "not read: the table no longer exists (renamed or dropped later in the binlog)");
                    continue 'tables;
                }
                Err(e) => return Err(e.into()),
            };
            if rows.is_empty() {
                break;
            }
            let full_chunk = rows.len() as u64 == settings.chunk_rows;
            for row in rows {
                let values: Vec<BinlogValue<'static>> = row.unwrap().into_iter().map(BinlogValue::Value).collect();
                last_key = Some(shape.primary_key.iter().map(|&i| match &values[i] {
                    BinlogValue::Value(v) => v.clone(),
                    _ => mysql_async::Value::NULL,
                }).collect());
                send_row(emitter, &mut pending, &codec, &values, source(SnapshotMarker::Yes), version, &name).await?;
                done += 1;
            }
            tracing::info!(table = %name, rows = done, estimated = ?estimate, "snapshot progress");
            emitter.snapshot_progress(&shape.database, &shape.table, done, estimate);
            if !full_chunk {
                break;
            }
        }
        read.push((shape.database.clone(), shape.table.clone()));
    }
    if let Some((held, row, mut source)) = pending.take() {
        source.snapshot = SnapshotMarker::Last;
        emitter.snapshot_row(&held, row, &source, version).await?;
    }
    conn.query_drop(if table_locks { "UNLOCK TABLES" } else { "COMMIT" }).await?;
    Ok((point, read))
}

/// The snapshot row held back, so that the very last can say `snapshot = "last"`.
type Held = Option<(std::rc::Rc<crate::codec::TableCodec>, crate::codec::Row, SourceInfo)>;

/// Encodes a snapshot row of `table` and holds it, sending the one held before.
async fn send_row(
    emitter: &mut Emitter,
    held: &mut Held,
    codec: &std::rc::Rc<crate::codec::TableCodec>,
    values: &Vec<BinlogValue<'static>>,
    source: SourceInfo,
    version: RowVersion,
    table: &str,
) -> Result<()> {
    let after = codec.row(values, Origin::Query).map_err(|e| anyhow::anyhow!("snapshot of {table}: {e}"))?;
    if let Some((codec, row, source)) = held.replace((codec.clone(), after, source)) {
        emitter.snapshot_row(&codec, row, &source, version).await?;
    }
    Ok(())
}

/// MySQL's ER_NO_SUCH_TABLE.
const NO_SUCH_TABLE: u16 = 1146;

/// Read-locks the captured tables (held until the snapshot ends) and returns the point.
async fn lock_tables(conn: &mut Conn, tables: &[(String, String)]) -> Result<BinlogStatus> {
    if !tables.is_empty() {
        let list: Vec<String> = tables.iter().map(|(d, t)| format!("{}.{} READ", quote(d), quote(t))).collect();
        conn.query_drop(format!("LOCK TABLES {}", list.join(", ")))
            .await
            .context("locking the captured tables for the snapshot (needs the LOCK TABLES privilege)")?;
    }
    binlog_status(conn).await
}

/// The table's shape from `information_schema`.
pub async fn catalog_shape(conn: &mut Conn, database: &str, table: &str) -> Result<TableSchema> {
    let rows: Vec<Row> = conn
        .exec(
            "SELECT c.COLUMN_NAME, c.DATA_TYPE, c.COLUMN_TYPE, c.IS_NULLABLE, c.CHARACTER_SET_NAME, c.CHARACTER_OCTET_LENGTH, \
                    c.NUMERIC_PRECISION, c.NUMERIC_SCALE, c.DATETIME_PRECISION, c.COLUMN_KEY \
             FROM information_schema.COLUMNS c WHERE c.TABLE_SCHEMA = ? AND c.TABLE_NAME = ? ORDER BY c.ORDINAL_POSITION",
            (database, table),
        )
        .await?;
    let columns: Vec<CatalogColumn> = rows
        .into_iter()
        .map(|mut r| CatalogColumn {
            name: r.take(0).unwrap_or_default(),
            data_type: r.take(1).unwrap_or_default(),
            column_type: r.take(2).unwrap_or_default(),
            nullable: r.take::<String, _>(3).is_some_and(|v| v == "YES"),
            charset: r.take(4).unwrap_or_default(),
            octet_length: r.take(5).unwrap_or_default(),
            numeric_precision: r.take(6).unwrap_or_default(),
            numeric_scale: r.take(7).unwrap_or_default(),
            datetime_precision: r.take(8).unwrap_or_default(),
            primary_key: r.take::<String, _>(9).is_some_and(|v| v == "PRI"),
        })
        .collect();
    // Key order is the index's, not the columns'.
    let key_order: Vec<String> = conn
        .exec(
            "SELECT COLUMN_NAME FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? AND INDEX_NAME = 'PRIMARY' ORDER BY SEQ_IN_INDEX",
            (database, table),
        )
        .await?;
    let mut shape = TableSchema::from_catalog(database, table, &columns)?;
    shape.primary_key = key_order.iter().filter_map(|k| shape.columns.iter().position(|c| &c.name == k)).collect();
    Ok(shape)
}

use shared::sql::mysql_identifier as quote;
