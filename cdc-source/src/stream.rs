//! The binlog stream: a row travels reader → codec → emitter → publisher, in
//! one direction, and the stored offset follows what the broker acknowledged.
//!
//! Guarantees (see `publisher`, `recovery`, `offsets`): every change from the
//! start position on reaches its topic once, in binlog order per partition,
//! whatever moment the process is killed at. Offsets are stored only at
//! transaction boundaries the broker has acknowledged everything before. A
//! lost connection — an error, the server ending the stream, or silence longer
//! than [`silence_limit`] (no event and no heartbeat) — is retried with
//! backoff from the last transaction boundary; what the retry re-reads is
//! skipped by the emitter.

use crate::binlog::{BinlogEvent, BinlogReader, ReadError, RowsEvent, TableFilter};
use crate::codec::Codecs;
use crate::config::{SnapshotMode, SourceConfig};
use crate::emitter::{Emitter, Record};
use crate::envelope::{SnapshotMarker, SourceInfo, now_ms};
use crate::gtid::GtidSet;
use crate::incremental::Incremental;
use crate::signal::Signal;
use crate::metrics::SourceMetrics;
use crate::offsets::{OffsetStore, SourceOffsets};
use crate::position::{BinlogPosition, RowVersion, place};
use crate::publisher::RecordOrder;
use crate::schema_change;
use crate::server_sql::ServerError;
use crate::values::Origin;
use anyhow::{Context, Result};
use mysql_async::prelude::Queryable;
use shared::mysql::MysqlConnector;
use shared::retry::{Gave, RetryPolicy};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Binlog bytes at the start of a transaction that no row of it is placed
/// at: a MySQL GTID event alone is 42 bytes or more. Chunks sent there (GTID
/// watermarks) hold up to 40 × 8,192 rows.
const GTID_EVENT_PLACES: u64 = 40;

/// How long the server may say nothing (no event, no heartbeat) before the
/// connection is taken for dead: four heartbeat periods, at least 10 s.
pub fn silence_limit(heartbeat: Duration) -> Duration {
    (heartbeat * 4).max(Duration::from_secs(10))
}

/// Everything the stream writes through.
pub struct Stream<'a> {
    pub config: &'a SourceConfig,
    pub mysql: &'a MysqlConnector,
    pub flavor: crate::checks::Flavor,
    pub codecs: &'a mut Codecs,
    pub emitter: &'a mut Emitter,
    pub offsets: &'a OffsetStore,
    pub metrics: &'a Arc<SourceMetrics>,
    pub retry: &'a RetryPolicy,
    /// Tables re-read at a point ahead of the stream: their changes before
    /// that point's version are in the rows read, so they are skipped.
    pub reread: HashMap<(String, String), RowVersion>,
    /// The incremental snapshot driven by this stream (its chunks sent at its high watermarks).
    pub incremental: Incremental,
    /// The signal topic, when `capture.signal_topic` is set.
    pub signals: Option<crate::signal::KafkaSignals>,
    /// The offsets stored last.
    pub stored: Option<SourceOffsets>,
}

/// The transaction being read: what its events share.
#[derive(Default)]
struct Transaction {
    /// Its GTID (`uuid:n` on MySQL, `domain-server-seq` on MariaDB), if the server has GTIDs.
    gtid: Option<String>,
    /// The prepared part of an XA transaction: its rows events are held, not sent.
    held: Option<Vec<RowsEvent>>,
}

/// What the stream knows between the events of one connection.
///
/// XA: the rows of a prepared transaction are published when its `XA COMMIT`
/// arrives, at the commit's position (so they sort after everything
/// committed before them), and never if it rolls back. While any prepared
/// transaction is open, no resume position is stored: a restart re-reads it
/// from before its start (what was sent meanwhile is skipped by the emitter).
#[derive(Default)]
struct Session {
    transaction: Transaction,
    /// Prepared XA transactions not yet committed or rolled back, by XID.
    prepared: HashMap<String, Vec<RowsEvent>>,
    /// Inside a transaction (between its beginning and its commit).
    open: bool,
}

impl Stream<'_> {
    /// Streams from `start` until `shutdown` is set, then waits for the broker and stores the final offset.
    pub async fn run(&mut self, start: SourceOffsets, stored: Option<SourceOffsets>, shutdown: &AtomicBool) -> Result<()> {
        self.stored = stored;
        self.incremental.resume(start.incremental.clone());
        // Tables whose changes a run before skipped (quarantine) are read again first.
        let quarantined: Vec<(String, String)> = start.quarantined.iter().map(|q| (q.database.clone(), q.table.clone())).collect();
        if !quarantined.is_empty() {
            tracing::warn!(tables = ?quarantined, "re-reading the tables in quarantine");
            self.reread_tables(&quarantined).await?;
        }
        // So are the tables the capture lists take in since the last run.
        if let Some(before) = &start.capture_filter
            && *before != self.config.capture.filter()
        {
            let added = self.newly_captured(before).await?;
            if !added.is_empty() && self.config.snapshot.method == crate::config::SnapshotMethod::Incremental {
                tracing::info!(tables = ?added, "the capture lists take in more tables: reading them incrementally");
                self.incremental.start(added, &Default::default());
            } else if !added.is_empty() {
                tracing::info!(tables = ?added, "the capture lists take in more tables: reading them");
                self.reread_tables(&added).await?;
            }
        }
        let mut covered: GtidSet = start.gtids().map_err(anyhow::Error::msg)?;
        let mut from = start.position;
        let config = self.config;
        let flush_every = Duration::from_millis(config.offsets.flush_interval_ms);
        let heartbeat = Duration::from_millis(config.capture.heartbeat_interval_ms);
        let silence = silence_limit(heartbeat);
        let mut last_flush = Instant::now();
        let mut last_heartbeat = Instant::now();
        let mut backoff = Duration::from_millis(200);
        let filter: Arc<dyn TableFilter> = Arc::new(config.capture.clone());
        'connect: while !shutdown.load(Ordering::Relaxed) {
            let started = match self.mysql.connect().await {
                Ok(conn) => BinlogReader::start(conn, config.capture.server_id, &from, heartbeat, filter.clone()).await,
                Err(e) => Err(ReadError::Connection(e.to_string())),
            };
            // Streams until the reader fails (or shutdown); every failure is handled below, in one place.
            let failure = match started {
                Err(e) => e,
                Ok(mut reader) => {
                    tracing::info!(%from, "streaming the binlog");
                    self.metrics.position(&from);
                    let mut session = Session::default();
                    let mut heard = Instant::now();
                    loop {
                        if shutdown.load(Ordering::Relaxed) {
                            break 'connect;
                        }
                        let next = tokio::select! {
                            event = reader.next() => Some(event),
                            _ = tokio::time::sleep(flush_every) => None,
                        };
                        match next {
                            None if heard.elapsed() > silence => {
                                break ReadError::Connection(format!(
                                    "no event and no heartbeat from the server for {:.0?} (heartbeats every {heartbeat:?}): \
                                     taking the connection for dead",
                                    heard.elapsed()
                                ));
                            }
                            None => {}
                            Some(Ok(Some(event))) => {
                                heard = Instant::now();
                                self.metrics.turned();
                                if let Some(next) = self.apply(event, &mut session, &mut covered).await? {
                                    // Progress past a restart point: a failure that repeats
                                    // inside one transaction keeps backing off.
                                    backoff = Duration::from_millis(200);
                                    from = next;
                                    if self.incremental.take_store_due() {
                                        // A window's chunks were sent: the offsets saying so are
                                        // stored before anything else, so a restart reads at most
                                        // the window in flight again.
                                        self.emitter.publisher.flush(Duration::from_secs(60)).await?;
                                        self.store_acknowledged().await?;
                                    }
                                }
                            }
                            Some(Ok(None)) => break ReadError::Connection("the server ended the binlog stream".into()),
                            Some(Err(e)) => break e,
                        }
                        if self.incremental.due() {
                            let read = self.incremental.read_window(self.mysql, self.codecs).await?;
                            if !read.blocking.is_empty() {
                                self.reread_tables(&read.blocking).await?;
                            }
                            // GTID watermarks: the stream may already stand past the window.
                            if !session.open
                                && session.prepared.is_empty()
                                && let Some(chunks) = self.incremental.at_boundary(&from)
                            {
                                self.send_chunks(chunks, &from, None).await?;
                                let offsets = self.offsets_at(&from, None, &covered);
                                self.emitter.publisher.mark(offsets);
                            }
                        }
                        if let Some(topic) = &config.capture.heartbeat_topic
                            && last_heartbeat.elapsed() >= heartbeat
                        {
                            last_heartbeat = Instant::now();
                            let encoded = self.codecs.heartbeat(topic, now_ms()).await?;
                            self.emitter.heartbeat(topic, &encoded, &from).await?;
                        }
                        if last_flush.elapsed() >= flush_every {
                            last_flush = Instant::now();
                            // The signal topic, once per flush interval (not per event).
                            if let Some(signals) = &mut self.signals {
                                for (id, signal) in signals.poll() {
                                    self.act(&id, signal).await?;
                                }
                            }
                            self.emitter.publisher.settle()?;
                            self.store_acknowledged().await?;
                        }
                    }
                }
            };
            match failure {
                e if e.is_transient() => {
                    tracing::warn!("{e}; reconnecting from {from} in {backoff:?}");
                    self.metrics.reconnects.inc();
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(30));
                }
                ReadError::Purged(at) if config.snapshot.mode == SnapshotMode::WhenNeeded => {
                    tracing::warn!(%at, "the stored position is gone from the server; snapshot.mode = when_needed: taking a new snapshot");
                    let mut conn = self.mysql.connect().await?;
                    let taken = match config.snapshot.method {
                        crate::config::SnapshotMethod::Consistent => {
                            crate::snapshot::take(&mut conn, self.flavor, config, self.codecs, self.emitter, self.offsets).await?
                        }
                        crate::config::SnapshotMethod::Incremental => {
                            let now = crate::snapshot::incremental_start(&mut conn, config).await?;
                            self.incremental.resume(now.incremental.clone());
                            now
                        }
                    };
                    covered = taken.gtids().map_err(anyhow::Error::msg)?;
                    from = taken.position;
                }
                e => return Err(e.into()),
            }
        }
        tracing::info!("shutting down: waiting for the broker to acknowledge what was sent");
        self.emitter.publisher.flush(Duration::from_secs(60)).await?;
        self.store_acknowledged().await?;
        tracing::info!(sent = self.emitter.publisher.sent(), skipped = self.emitter.skipped, "stopped");
        Ok(())
    }

    /// One event; returns the position a restart may resume from when the event ends a transaction.
    async fn apply(&mut self, event: BinlogEvent, session: &mut Session, covered: &mut GtidSet) -> Result<Option<BinlogPosition>> {
        match event {
            BinlogEvent::Begin { at, gtid, xa } => {
                if let Some(chunks) = self.incremental.before_transaction(gtid.as_deref()) {
                    self.send_chunks(chunks, &at, None).await?;
                }
                session.open = true;
                session.transaction = Transaction { gtid, held: xa.then(Vec::new) };
                Ok(None)
            }
            BinlogEvent::XaStart => {
                session.transaction.held.get_or_insert_with(Vec::new);
                Ok(None)
            }
            BinlogEvent::Rows(rows) => {
                let at = rows.at.clone();
                match session.transaction.held.as_mut() {
                    Some(held) => held.push(rows),
                    None => self.rows(rows, &session.transaction.gtid).await?,
                }
                self.announce_quarantines(&at).await?;
                Ok(None)
            }
            BinlogEvent::Ddl { at, next, ts_ms, server_id, database, statement } => {
                self.ddl(&at, ts_ms, server_id, &database, &statement, &session.transaction.gtid).await?;
                self.commit(next, session, covered).await
            }
            BinlogEvent::Commit { next } => self.commit(next, session, covered).await,
            BinlogEvent::XaPrepare { xid, one_phase, next } => {
                let held = session.transaction.held.take().unwrap_or_default();
                if one_phase {
                    // Prepared and committed at once: the rows are in commit order where they are.
                    for rows in held {
                        self.rows(rows, &session.transaction.gtid).await?;
                    }
                } else {
                    tracing::debug!(%xid, "XA transaction prepared; its rows wait for XA COMMIT");
                    session.prepared.insert(xid, held);
                }
                self.commit(next, session, covered).await
            }
            BinlogEvent::XaEnd { xid, commit, at, next, ts_ms, server_id } => {
                match (session.prepared.remove(&xid), commit) {
                    (Some(held), true) => {
                        // Re-placed at the commit, numbered across the transaction.
                        let mut first_row = 0;
                        for rows in held {
                            let count = rows.rows.len() as u32;
                            let placed = RowsEvent {
                                at: at.clone(),
                                bound: next.pos,
                                first_row,
                                ts_ms,
                                server_id,
                                ..rows
                            };
                            self.rows(placed, &session.transaction.gtid).await?;
                            first_row += count;
                        }
                    }
                    (Some(_), false) => tracing::info!(%xid, "XA transaction rolled back after PREPARE: its rows are not published"),
                    (None, true) => tracing::error!(
                        %xid, %at,
                        "XA COMMIT of a transaction prepared before the position this stream started from: its rows are not \
                         in the stream. Re-snapshot the tables it changed"
                    ),
                    (None, false) => {}
                }
                self.commit(next, session, covered).await
            }
            BinlogEvent::Heartbeat { .. } => Ok(None),
        }
    }

    /// The transaction is whole: a restart may begin at `next` once the broker
    /// has everything before it — unless a prepared XA transaction is still
    /// open, whose start a restart must see again.
    async fn commit(&mut self, next: BinlogPosition, session: &mut Session, covered: &mut GtidSet) -> Result<Option<BinlogPosition>> {
        self.metrics.position(&next);
        session.open = false;
        // GTID watermarks: a window the stream has passed is sent here, before the mark.
        if let Some(chunks) = self.incremental.at_boundary(&next) {
            self.send_chunks(chunks, &next, None).await?;
        }
        let gtid = std::mem::take(&mut session.transaction).gtid;
        if let Some(g) = &gtid
            && let Err(e) = covered.add(g)
        {
            tracing::warn!("{e}: not added to the stored GTID set");
        }
        if !session.prepared.is_empty() {
            return Ok(None);
        }
        self.emitter.publisher.mark(self.offsets_at(&next, gtid, covered));
        Ok(Some(next))
    }

    /// The offsets to resume from at `next`, a transaction boundary.
    fn offsets_at(&self, next: &BinlogPosition, gtid: Option<String>, covered: &GtidSet) -> SourceOffsets {
        SourceOffsets {
            position: next.clone(),
            gtid,
            gtid_set: (!covered.is_empty()).then(|| covered.to_string()),
            snapshot_done: true,
            quarantined: self.emitter.quarantined.clone(),
            capture_filter: Some(self.config.capture.filter()),
            incremental: self.incremental.progress(),
            signal_offset: self.signals.as_ref().map(crate::signal::KafkaSignals::offset),
        }
    }

    /// The rows of one event. Each row gets a place `(position, row)` in the
    /// binlog order: row `index` of the rows that share `at` (a compressed
    /// transaction, an XA commit) goes to `at.pos + index / 8192`, row
    /// `index % 8192` — a row version holds 8,192 rows per position, and a
    /// transaction's positions up to its end are free. Places stay below
    /// `bound`, the next event's position, so orders never overlap.
    async fn rows(&mut self, event: RowsEvent, gtid: &Option<String>) -> Result<()> {
        let RowsEvent { at, bound, first_row, ts_ms, server_id, table, rows } = event;
        if self.config.capture.is_signal_table(&table.database, &table.table) {
            return self.signal(&table, rows.into_iter().map(|c| (c.before, c.after)).collect(), &at, bound).await;
        }
        let name = (table.database.clone(), table.table.clone());
        if let Some(point) = self.reread.get(&name) {
            if RowVersion::of(&at.file, at.pos, 0).map_err(anyhow::Error::msg)? < *point {
                return Ok(());
            }
            self.reread.remove(&name);
        }
        if self.emitter.is_quarantined(&table.database, &table.table) {
            return Ok(());
        }
        // A table whose changes cannot be encoded (a schema the registry
        // refuses, a value with no mapping) is put in quarantine, not the source stopped.
        let codec = match self.codecs.for_table(&table).await {
            Ok(codec) => codec,
            Err(e) => {
                self.emitter.quarantine(&table.database, &table.table, format!("its changes cannot be encoded: {e:#}. Fix the cause, then restart the source: it re-reads the table"));
                return Ok(());
            }
        };
        self.metrics.lag_ms.set((now_ms() - ts_ms).max(0));
        let mut source = SourceInfo::streamed(self.config, &table.database, &table.table, &at, ts_ms, server_id, gtid);
        let watched = self.incremental.watches(&table.database, &table.table);
        for (i, change) in rows.into_iter().enumerate() {
            let index = u64::from(first_row) + i as u64;
            let Some((place, i)) = place(&at, bound, index) else {
                anyhow::bail!(
                    "`{}`.`{}` at {at}: a transaction of more than {} rows per byte of binlog cannot be given distinct row versions",
                    table.database,
                    table.table,
                    crate::position::ROWS_PER_POSITION
                );
            };
            let at = &place;
            source.pos = place.pos;
            let version = RowVersion::of(&at.file, at.pos, i).map_err(anyhow::Error::msg)?;
            let image = |row: Option<crate::binlog::rows::RowImage>| {
                row.map(|r| codec.row(&r, Origin::Binlog))
                    .transpose()
                    .map_err(|e| anyhow::anyhow!("`{}`.`{}` at {at} row {i}: {e}", table.database, table.table))
            };
            let (before, after) = match (image(change.before), image(change.after)) {
                (Ok(before), Ok(after)) => (before, after),
                (Err(e), _) | (_, Err(e)) => {
                    self.emitter.quarantine(&table.database, &table.table, format!("a change cannot be encoded: {e:#}. Fix the cause, then restart the source: it re-reads the table"));
                    return Ok(());
                }
            };
            if watched {
                for image in [&before, &after].into_iter().flatten() {
                    self.incremental.changed(&table.database, &table.table, &codec.key_json(image));
                }
            }
            source.row = i;
            self.emitter.change(&codec, change.op, before, after, &source, version).await?;
        }
        Ok(())
    }

    /// A DDL statement of a captured database: published on the schema-change
    /// topic. `TRUNCATE` becomes Debezium's truncate event in the table's
    /// topic instead; `DROP TABLE` is published and followed by a truncate
    /// event marked as a drop for each captured table it drops, so a consumer
    /// keeping the table's rows learns that they are gone.
    async fn ddl(&mut self, at: &BinlogPosition, ts_ms: i64, server_id: u32, database: &str, statement: &str, gtid: &Option<String>) -> Result<()> {
        let config = self.config;
        self.metrics.ddl.inc();
        self.incremental.forget_shapes();
        let targets = schema_change::ddl_targets(statement, database);
        let captured: Vec<&schema_change::DdlTarget> = targets.iter().filter(|t| config.capture.captures(&t.database, &t.table)).collect();
        let relevant = match targets.first() {
            Some(_) => !captured.is_empty(),
            None => !database.is_empty() && config.capture.captures(database, ""),
        };
        if !relevant {
            return Ok(());
        }
        for t in &captured {
            self.incremental.discard(&t.database, &t.table);
        }
        let version = RowVersion::of(&at.file, at.pos, 0).map_err(anyhow::Error::msg)?;
        // The `source` block of events of this statement (each names its table).
        let here = SourceInfo::streamed(config, database, "", at, ts_ms, server_id, gtid);
        let kind = targets.first().map(|t| t.kind);
        if kind == Some("TRUNCATE") {
            tracing::info!(%at, %database, tables = captured.len(), "TRUNCATE: publishing truncate events");
            for t in captured {
                self.truncate_table(&here, &t.database, &t.table, version, false).await?;
            }
            return Ok(());
        }
        tracing::info!(%at, %database, %statement, "DDL: publishing a schema change; later rows carry the new shape");
        let first = captured.first().copied();
        let table = match first {
            Some(t) => {
                let mysql = self.mysql;
                let describe = || async move {
                    let mut catalog = mysql.connect().await.map_err(ServerError::Connect)?;
                    schema_change::describe(&mut catalog, &t.database, &t.table).await.map_err(ServerError::Query)
                };
                let described = self
                    .retry
                    .run(&format!("reading the catalog of `{}`.`{}`", t.database, t.table), describe, ServerError::is_transient)
                    .await
                    .map_err(Gave::into_inner)
                    .context("reading information_schema for the schema change")?;
                Some((t, described))
            }
            None => None,
        };
        let source = SourceInfo {
            table: first.map(|t| t.table.clone()).unwrap_or_default(),
            ..here.clone()
        };
        let (key, value) = schema_change::event(&source, database, statement, table, now_ms());
        self.publish_schema_change(&key, &value, version, format!("{at}:0")).await?;
        if kind == Some("DROP") {
            for t in captured {
                self.truncate_table(&here, &t.database, &t.table, version, true).await?;
            }
        }
        // A renamed table: its rows leave the old name (as on a drop) and are
        // read again under the new one, whose changes so far were written
        // under the old name. A renamed column: the table is read again, so
        // its values appear under the new name.
        let mut reread = Vec::new();
        if kind == Some("ALTER")
            && schema_change::renames_column(statement)
            && let Some(t) = first
        {
            reread.push((t.database.clone(), t.table.clone()));
        }
        for (old, new) in schema_change::renames(statement, database) {
            self.incremental.discard(&old.database, &old.table);
            if config.capture.captures(&old.database, &old.table) {
                self.truncate_table(&here, &old.database, &old.table, version, true).await?;
            }
            reread.retain(|(d, t)| (d, t) != (&old.database, &old.table));
            if config.capture.captures(&new.database, &new.table) {
                reread.push((new.database, new.table));
            }
        }
        if !reread.is_empty() {
            self.reread_tables(&reread).await?;
        }
        Ok(())
    }

    /// Records each table put in quarantine since the last call on the
    /// schema-change topic (`ddl` is a SQL comment saying which table and why),
    /// ordered at `at`, the position of the rows event just read (no DDL shares it).
    async fn announce_quarantines(&mut self, at: &BinlogPosition) -> Result<()> {
        for (i, q) in self.emitter.unannounced().into_iter().enumerate() {
            let config = self.config;
            let source = SourceInfo::streamed(config, &q.database, &q.table, at, now_ms(), 0, &None);
            let note = format!("-- cdc-source: `{}`.`{}` put in quarantine: {}", q.database, q.table, q.reason);
            let (key, value) = schema_change::event(&source, &q.database, &note, None, now_ms());
            let version = RowVersion::of(&at.file, at.pos, i as u32).map_err(anyhow::Error::msg)?;
            self.publish_schema_change(&key, &value, version, format!("{at}:{i}")).await?;
        }
        Ok(())
    }

    /// Sends a schema-change event (`key`, `value`) on `<topic_prefix>` at `version` / `position`.
    async fn publish_schema_change(&mut self, key: &apache_avro::types::Value, value: &apache_avro::types::Value, version: RowVersion, position: String) -> Result<()> {
        let encoded = self.codecs.schema_change(key, value).await?;
        let record = Record {
            topic: &self.config.capture.topic_prefix,
            key: encoded.key.as_deref(),
            value: Some(&encoded.value),
            partition: None,
            order: RecordOrder::change(version.0),
            position,
            extra_headers: &[],
        };
        self.emitter.emit(record, false).await
    }

    /// A truncate event for `database.table` (marked dropped or not), with
    /// the `source` block of `here`, the statement that caused it.
    async fn truncate_table(&mut self, here: &SourceInfo, database: &str, table: &str, version: RowVersion, dropped: bool) -> Result<()> {
        let source = SourceInfo {
            db: database.to_string(),
            table: table.to_string(),
            ..here.clone()
        };
        let codec = self.codec_of_named(database, table).await?;
        self.emitter.truncate(&codec, &source, version, dropped).await
    }

    /// The tables the capture lists take in now but `before` did not.
    async fn newly_captured(&self, before: &crate::config::CaptureFilter) -> Result<Vec<(String, String)>> {
        let mysql = self.mysql;
        let connect = || async move { mysql.connect().await.map_err(ServerError::Connect) };
        let mut conn = self.retry.run("connecting to list the tables", connect, ServerError::is_transient).await.map_err(Gave::into_inner)?;
        let tables: Vec<(String, String)> = conn
            .query("SELECT TABLE_SCHEMA, TABLE_NAME FROM information_schema.TABLES WHERE TABLE_TYPE = 'BASE TABLE' ORDER BY 1, 2")
            .await?;
        Ok(tables.into_iter().filter(|(d, t)| self.config.capture.captures(d, t) && !before.captures(d, t)).collect())
    }

    /// Rows of the signal table: Debezium's signals (inserted rows, see
    /// [`Signal`]) and the watermarks of incremental snapshot windows (the
    /// low one inserted, the high one its deletion; the chunks are sent
    /// there, placed from `at`, the rows event's position, below `bound`).
    async fn signal(&mut self, table: &crate::table::TableSchema, rows: Vec<crate::binlog::rows::RowImages>, at: &BinlogPosition, bound: u64) -> Result<()> {
        let column = |name: &str| table.columns.iter().position(|c| c.name.eq_ignore_ascii_case(name));
        let (Some(id_at), Some(kind_at), Some(data_at)) = (column("id"), column("type"), column("data")) else {
            tracing::warn!(table = %table.table, "the signal table needs columns `id`, `type` and `data`; signal ignored");
            return Ok(());
        };
        let text = |row: &crate::binlog::rows::RowImage, i: usize| match row.get(i) {
            Some(mysql_common::binlog::value::BinlogValue::Value(mysql_async::Value::Bytes(b))) => String::from_utf8_lossy(b).into_owned(),
            _ => String::new(),
        };
        for (before, after) in rows {
            let after = match (before, after) {
                (None, Some(after)) => after,
                (Some(before), None) => {
                    if let Some(chunks) = self.incremental.closed(&text(&before, id_at)) {
                        self.send_chunks(chunks, at, Some(bound)).await?;
                    }
                    continue;
                }
                _ => continue,
            };
            let (id, kind) = (text(&after, id_at), text(&after, kind_at));
            let signal = Signal::parse(&id, &kind, &text(&after, data_at));
            self.act(&id, signal).await?;
        }
        Ok(())
    }

    /// Acts on signal `id` (from the signal table or the signal topic).
    async fn act(&mut self, id: &str, signal: Result<Signal, String>) -> Result<()> {
        let signal = match signal {
            Ok(signal) => signal,
            Err(e) => {
                tracing::error!(%id, "signal ignored: {e}");
                return Ok(());
            }
        };
        match signal {
            Signal::WindowOpen(id) => self.incremental.opened(&id),
            Signal::ExecuteSnapshot { tables, blocking, filters } => {
                let (tables, ignored): (Vec<_>, Vec<_>) = tables.into_iter().partition(|(d, t)| self.config.capture.captures(d, t));
                if !ignored.is_empty() {
                    tracing::warn!(tables = ?ignored, "execute-snapshot names tables the capture lists leave out; they are not read");
                }
                if tables.is_empty() {
                    return Ok(());
                }
                if blocking {
                    if !filters.is_empty() {
                        tracing::warn!("execute-snapshot: additional-conditions apply to incremental snapshots; the whole tables are read");
                    }
                    tracing::info!(?tables, "signal execute-snapshot (blocking): re-reading");
                    self.reread_tables(&tables).await?;
                } else {
                    tracing::info!(?tables, "signal execute-snapshot: incremental snapshot");
                    self.incremental.start(tables, &filters);
                }
            }
            Signal::StopSnapshot { tables } => self.incremental.stop(&tables),
            Signal::PauseSnapshot => self.incremental.pause(true),
            Signal::ResumeSnapshot => self.incremental.pause(false),
            Signal::Other(other) => tracing::info!(signal = %other, "signal received (no action)"),
        }
        Ok(())
    }

    /// An incremental snapshot window's chunks, as `op = r` events placed at
    /// `at` row by row below `bound`: the high-watermark row's event and the
    /// next event's position, or (GTID watermarks) the start of the first
    /// transaction after the window, whose first events (GTID, BEGIN) span
    /// at least [`GTID_EVENT_PLACES`] bytes.
    async fn send_chunks(&mut self, chunks: Vec<crate::incremental::Chunk>, at: &BinlogPosition, bound: Option<u64>) -> Result<()> {
        let bound = bound.unwrap_or(at.pos + GTID_EVENT_PLACES);
        let mut index = 0u64;
        for chunk in chunks {
            let mut source = SourceInfo {
                snapshot: SnapshotMarker::Incremental,
                ..SourceInfo::streamed(self.config, &chunk.database, &chunk.table, at, now_ms(), 0, &None)
            };
            for row in chunk.rows.into_iter().flatten() {
                let (place, i) = place(at, bound, index).with_context(|| format!("{at}: the window's chunks have more rows than its high watermark has places for; lower snapshot.incremental_chunk_rows"))?;
                let version = RowVersion::of(&place.file, place.pos, i).map_err(anyhow::Error::msg)?;
                source.pos = place.pos;
                source.row = i;
                self.emitter.snapshot_row(&chunk.codec, row, &source, version).await?;
                index += 1;
            }
        }
        Ok(())
    }

    /// Re-reads `tables` now (see [`crate::snapshot::resync`]) and skips their
    /// changes up to the point read. A read cut by a lost connection (the
    /// server restarting) is taken again from the start, a few times.
    async fn reread_tables(&mut self, tables: &[(String, String)]) -> Result<()> {
        let mysql = self.mysql;
        let mut attempt = 0;
        let (point, read) = loop {
            let connect = || async move { mysql.connect().await.map_err(ServerError::Connect) };
            let mut conn = self
                .retry
                .run("connecting to re-read renamed tables", connect, ServerError::is_transient)
                .await
                .map_err(Gave::into_inner)?;
            match crate::snapshot::resync(&mut conn, self.flavor, self.config, tables, self.codecs, self.emitter).await {
                Ok(done) => break done,
                Err(e) if attempt < 5 && read_again(&e) => {
                    attempt += 1;
                    tracing::warn!(error = %e, attempt, "re-reading tables failed (connection lost or a table changed meanwhile); reading them again");
                    tokio::time::sleep(Duration::from_secs(attempt)).await;
                }
                Err(e) => return Err(e.context(format!("re-reading {tables:?}"))),
            }
        };
        let version = RowVersion::of(&point.file, point.pos, 0).map_err(anyhow::Error::msg)?;
        for table in read {
            self.reread.insert(table, version);
        }
        Ok(())
    }

    /// A codec for events of `database.table` that carry no row (truncates):
    /// the one last used for it, else one for its shape in the catalog (no
    /// columns if it is gone).
    async fn codec_of_named(&mut self, database: &str, table: &str) -> Result<std::rc::Rc<crate::codec::TableCodec>> {
        if let Some(codec) = self.codecs.latest(database, table) {
            return Ok(codec);
        }
        let mysql = self.mysql;
        let connect = || async move { mysql.connect().await.map_err(ServerError::Connect) };
        let mut catalog = self
            .retry
            .run(&format!("connecting to read the catalog of `{database}`.`{table}`"), connect, ServerError::is_transient)
            .await
            .map_err(Gave::into_inner)?;
        let shape = crate::snapshot::catalog_shape(&mut catalog, database, table).await?;
        self.codecs.for_table(&shape).await
    }
}

/// Whether a re-read that failed with `e` is worth taking again: the
/// connection was lost, or a table read changed its definition after the
/// read's point (MySQL's ER_TABLE_DEF_CHANGED).
fn read_again(e: &anyhow::Error) -> bool {
    // 1412: a table's definition changed under the read (ER_TABLE_DEF_CHANGED).
    e.chain().any(|cause| {
        cause
            .downcast_ref::<mysql_async::Error>()
            .is_some_and(|e| matches!(e, mysql_async::Error::Server(s) if s.code == 1412) || shared::mysql::connection_lost(e))
    })
}

impl SourceInfo {
    /// The `source` block of a streamed event of `db`.`table` at `at`.
    fn streamed(config: &SourceConfig, db: &str, table: &str, at: &BinlogPosition, ts_ms: i64, server_id: u32, gtid: &Option<String>) -> Self {
        SourceInfo {
            name: config.capture.topic_prefix.clone(),
            ts_ms,
            snapshot: SnapshotMarker::No,
            db: db.to_string(),
            table: table.to_string(),
            server_id,
            gtid: gtid.clone(),
            file: at.file.clone(),
            pos: at.pos,
            row: 0,
            thread: None,
        }
    }
}

impl Stream<'_> {
    /// Stores the publisher's acknowledged offsets if they changed since the
    /// last store (the position, or snapshot progress and signals at the same position).
    async fn store_acknowledged(&mut self) -> Result<()> {
        if let Some(acknowledged) = self.emitter.publisher.acknowledged()
            && self.stored.as_ref() != Some(acknowledged)
        {
            self.offsets.store(acknowledged).await?;
            self.stored = Some(acknowledged.clone());
        }
        Ok(())
    }
}
