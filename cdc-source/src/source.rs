//! The service: checks, snapshot, then the binlog stream published to Kafka,
//! with offsets stored as the broker acknowledges.
//!
//! Guarantees (see `publisher`, `recovery`, `offsets`): every change between
//! the snapshot point and the present reaches its topic once, in binlog order
//! per partition, whatever moment the process is killed at: on start the
//! source resumes from the stored offset (never past an unacknowledged event)
//! and skips each record whose position is at or below the last one already
//! in its partition. A lost server connection is retried with backoff from the
//! last transaction boundary; the same skip rule drops what was already sent.

use crate::binlog::{BinlogEvent, BinlogReader, ReadError, TableFilter};
use crate::checks::check_server;
use crate::codec::{Codecs, Row, TableCodec};
use crate::config::{OffsetStoreKind, OutputFormat, SnapshotMode, SourceConfig};
use crate::envelope::{Op, SnapshotMarker, SourceInfo};
use crate::metrics::SourceMetrics;
use crate::offsets::{KafkaOffsets, OffsetStore, SourceOffsets};
use crate::position::{BinlogPosition, RowVersion};
use crate::publisher::{OutgoingRecord, Publisher, RecordOrder, Step, partition_for};

/// Debezium's headers on the two halves of a primary-key change: the other half's key (as JSON).
pub const NEW_KEY_HEADER: &str = "__debezium.newkey";
pub const OLD_KEY_HEADER: &str = "__debezium.oldkey";
use crate::recovery::{self, Marks};
use crate::schema_change;
use crate::values::Origin;
use anyhow::{Context, Result, bail};
use mysql_async::Conn;
use rdkafka::producer::{FutureProducer, Producer};
use shared::glue::{GlueRegistry, GlueSchemaCache};
use shared::mysql::MysqlConnector;
use shared::kafka::{ClientRole, KafkaContext, ensure_topic, ensure_topic_with};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

impl TableFilter for crate::config::CaptureConfig {
    fn captures(&self, database: &str, table: &str) -> bool {
        crate::config::CaptureConfig::captures(self, database, table)
    }
}

/// Sends change records, skipping what the partition already holds.
pub struct Emitter {
    publisher: Publisher,
    marks: Marks,
    partitions: HashMap<String, i32>,
    config: SourceConfig,
    context: KafkaContext,
    producer: FutureProducer<KafkaContext>,
    pub metrics: Arc<SourceMetrics>,
    pub skipped: u64,
}

impl Emitter {
    async fn partitions_of(&mut self, topic: &str) -> Result<i32> {
        if let Some(n) = self.partitions.get(topic) {
            return Ok(*n);
        }
        let capture = &self.config.capture;
        ensure_topic(&self.config.kafka, self.context.clone(), topic, capture.topic_partitions, capture.topic_replication_factor).await?;
        let producer = self.producer.clone();
        let name = topic.to_string();
        let count = tokio::task::spawn_blocking(move || {
            producer
                .client()
                .fetch_metadata(Some(&name), Duration::from_secs(30))
                .map(|m| m.topics().first().map_or(0, |t| t.partitions().len() as i32))
        })
        .await??;
        if count == 0 {
            bail!("topic {topic} has no partitions");
        }
        self.partitions.insert(topic.to_string(), count);
        Ok(count)
    }

    /// Sends one record unless its partition already has it. Snapshot rows
    /// all share the snapshot point's order, so they are not compared (a cut
    /// snapshot is redone whole) but still raise the mark.
    async fn emit(&mut self, topic: &str, key: Option<&[u8]>, value: Option<&[u8]>, order: RecordOrder, position: &str, snapshot: bool, extra_headers: &[(&str, &str)]) -> Result<()> {
        let partitions = self.partitions_of(topic).await?;
        let partition = key.map_or(0, |k| partition_for(k, partitions));
        let mark = (topic.to_string(), partition);
        if !snapshot && self.marks.get(&mark).is_some_and(|m| *m >= order) {
            self.skipped += 1;
            self.metrics.skipped.inc();
            return Ok(());
        }
        self.publisher
            .send(OutgoingRecord {
                topic,
                partition,
                key,
                value,
                position,
                version: order.version as i64,
                extra_headers,
            })
            .await?;
        self.marks.insert(mark, order);
        Ok(())
    }

    /// One change of a table (and its tombstone after a delete). An update
    /// that changes the primary key is sent as Debezium sends it: a delete of
    /// the old key (with `__debezium.newkey`), its tombstone, and a create of
    /// the new key (with `__debezium.oldkey`), so a keyed consumer (and the
    /// sink's ReplacingMergeTree) drops the old row.
    async fn change(&mut self, codec: &TableCodec, op: Op, before: Option<Row>, after: Option<Row>, source: &SourceInfo, version: RowVersion) -> Result<()> {
        let row_position = format!("{}:{}:{}", source.file, source.pos, source.row);
        if op == Op::Update
            && let (Some(old), Some(new)) = (&before, &after)
            && codec.key_changed(old, new)
        {
            let (old_key, new_key) = (codec.key_json(old), codec.key_json(new));
            self.record(codec, Op::Delete, before, None, source, RecordOrder::change(version.0), &row_position, &[(NEW_KEY_HEADER, &new_key)])
                .await?;
            let create = RecordOrder { step: Step::NewKey, ..RecordOrder::change(version.0) };
            self.record(codec, Op::Create, None, after, source, create, &row_position, &[(OLD_KEY_HEADER, &old_key)]).await?;
        } else {
            self.record(codec, op, before, after, source, RecordOrder::change(version.0), &row_position, &[]).await?;
        }
        self.metrics.rows.with_label_values(&[op.code()]).inc();
        Ok(())
    }

    /// One change record (and the tombstone after a delete).
    #[allow(clippy::too_many_arguments)]
    async fn record(
        &mut self,
        codec: &TableCodec,
        op: Op,
        before: Option<Row>,
        after: Option<Row>,
        source: &SourceInfo,
        order: RecordOrder,
        row_position: &str,
        headers: &[(&str, &str)],
    ) -> Result<()> {
        let encoded = codec.encode(op, before, after, source, now_ms())?;
        let snapshot = op == Op::Read;
        self.emit(&codec.topic, encoded.key.as_deref(), Some(&encoded.value), order, &order.position(row_position), snapshot, headers)
            .await?;
        if op == Op::Delete && self.config.capture.tombstones_on_delete && encoded.key.is_some() {
            let order = RecordOrder { step: Step::Tombstone, ..order };
            self.emit(&codec.topic, encoded.key.as_deref(), None, order, &order.position(row_position), false, headers).await?;
        }
        Ok(())
    }

    /// A heartbeat record: not deduplicated (it carries no change), tagged with the current position.
    async fn heartbeat(&mut self, topic: &str, encoded: &crate::codec::Encoded, at: &BinlogPosition) -> Result<()> {
        self.partitions_of(topic).await?;
        self.publisher
            .send(OutgoingRecord {
                topic,
                partition: 0,
                key: encoded.key.as_deref(),
                value: Some(&encoded.value),
                position: &format!("{at}:0"),
                version: RowVersion::of(&at.file, at.pos, 0).map(|v| v.as_i64()).unwrap_or(0),
                extra_headers: &[],
            })
            .await
    }

    pub async fn snapshot_row(&mut self, codec: &TableCodec, row: Row, source: &SourceInfo, version: RowVersion) -> Result<()> {
        self.change(codec, Op::Read, None, Some(row), source, version).await
    }

    pub fn snapshot_progress(&self, database: &str, table: &str, done: u64, estimate: Option<u64>) {
        let label = format!("{database}.{table}");
        self.metrics.snapshot_rows.with_label_values(&[&label]).set(done as i64);
        if let Some(estimate) = estimate {
            self.metrics.snapshot_estimate.with_label_values(&[&label]).set(estimate as i64);
        }
    }
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

/// Stores the publisher's acknowledged position if it moved since `stored`.
async fn store_acknowledged(publisher: &Publisher, offsets: &OffsetStore, stored: &mut Option<BinlogPosition>) -> Result<()> {
    if let Some((position, gtid)) = publisher.acknowledged().cloned()
        && stored.as_ref() != Some(&position)
    {
        offsets
            .store(&SourceOffsets {
                position: position.clone(),
                gtid,
                snapshot_done: true,
            })
            .await?;
        *stored = Some(position);
    }
    Ok(())
}

/// Takes the snapshot, waits for the broker to acknowledge it, stores the position to stream from.
async fn snapshot(
    conn: &mut Conn,
    flavor: crate::checks::Flavor,
    config: &SourceConfig,
    codecs: &mut Codecs,
    emitter: &mut Emitter,
    offsets: &OffsetStore,
) -> Result<BinlogPosition> {
    let position = crate::snapshot::run(conn, flavor, &config.capture, &config.snapshot, codecs, emitter).await?;
    emitter.publisher.flush(Duration::from_secs(300)).await?;
    offsets
        .store(&SourceOffsets {
            position: position.clone(),
            gtid: None,
            snapshot_done: true,
        })
        .await?;
    tracing::info!(%position, "snapshot complete");
    Ok(position)
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_millis() as i64
}

/// Runs the source until `shutdown` is set (or, with `snapshot.mode = initial_only`, until the snapshot is done).
pub async fn run(config: &SourceConfig, shutdown: Arc<AtomicBool>, metrics: Arc<SourceMetrics>) -> Result<()> {
    let mysql = MysqlConnector::new(&config.mysql)?;
    let mut conn = mysql.connect().await?;
    let facts = check_server(&mut conn, config.capture.server_id).await?;
    tracing::info!(server = %facts.version, "server checks passed");

    let context = KafkaContext::for_config(&config.kafka).await?;
    // For offsets and metadata; change records go through the publisher's own producer.
    let mut producer_config = config.kafka.client_config(ClientRole::Producer)?;
    producer_config.set("enable.idempotence", "true").set("acks", "all");
    let producer: FutureProducer<KafkaContext> = producer_config.create_with_context(context.clone()).context("creating the Kafka producer")?;
    let registry = match config.capture.format {
        OutputFormat::Avro => Some(Arc::new(GlueSchemaCache::new(GlueRegistry::connect(&config.glue).await))),
        OutputFormat::Json => None,
    };
    if let Some(registry) = &registry {
        registry.registry().ensure_registry().await.context("creating or finding the Glue registry")?;
    }
    let mut codecs = Codecs::new(config.capture.clone(), registry);

    let offsets = match config.offsets.store {
        OffsetStoreKind::File => OffsetStore::File(config.offsets.file.clone()),
        OffsetStoreKind::Kafka => {
            let topic = config.offsets.topic_name(&config.capture);
            // Only the latest record per key matters: compacted.
            let replication = config.capture.topic_replication_factor;
            ensure_topic_with(&config.kafka, context.clone(), &topic, 1, replication, &[("cleanup.policy", "compact")]).await?;
            OffsetStore::Kafka(Box::new(KafkaOffsets {
                config: config.kafka.clone(),
                context: context.clone(),
                producer: producer.clone(),
                topic,
                key: config.capture.topic_prefix.clone(),
            }))
        }
    };
    let stored = offsets.load().await?;
    tracing::info!(store = %offsets.describe(), ?stored, "offsets loaded");

    // What the source's topics already hold.
    let prefix = format!("{}.", config.capture.topic_prefix);
    let offsets_topic = config.offsets.topic_name(&config.capture);
    let topics: Vec<String> = {
        let producer = producer.clone();
        tokio::task::spawn_blocking(move || producer.client().fetch_metadata(None, Duration::from_secs(30)))
            .await??
            .topics()
            .iter()
            .map(|t| t.name().to_string())
            .filter(|t| (t.starts_with(&prefix) || *t == config.capture.topic_prefix) && *t != offsets_topic)
            .collect()
    };
    let marks = recovery::last_written(&config.kafka, context.clone(), topics).await?;
    tracing::info!(partitions = marks.len(), "read back the last record of each partition");
    let mut emitter = Emitter {
        publisher: Publisher::create(&config.kafka, context.clone())?,
        marks,
        partitions: HashMap::new(),
        config: config.clone(),
        context: context.clone(),
        producer: producer.clone(),
        metrics: metrics.clone(),
        skipped: 0,
    };

    let mut gtid = None;
    let mut from = match (&stored, config.snapshot.mode) {
        (Some(o), _) if o.snapshot_done => o.position.clone(),
        (_, SnapshotMode::NoData) => crate::snapshot::master_status(&mut conn).await?,
        _ => {
            let position = snapshot(&mut conn, facts.flavor, config, &mut codecs, &mut emitter, &offsets).await?;
            if config.snapshot.mode == SnapshotMode::InitialOnly {
                return Ok(());
            }
            position
        }
    };
    drop(conn);

    let flush_every = Duration::from_millis(config.offsets.flush_interval_ms);
    let mut last_flush = Instant::now();
    let heartbeat_every = Duration::from_millis(config.capture.heartbeat_interval_ms);
    let mut last_heartbeat = Instant::now();
    let mut stored_position: Option<BinlogPosition> = stored.map(|s| s.position);
    let mut backoff = Duration::from_millis(200);
    let filter: Arc<dyn TableFilter> = Arc::new(config.capture.clone());
    'connect: while !shutdown.load(Ordering::Relaxed) {
        let heartbeat = Duration::from_millis(config.capture.heartbeat_interval_ms);
        let started = match mysql.connect().await {
            Ok(conn) => BinlogReader::start(conn, config.capture.server_id, &from, heartbeat, filter.clone()).await,
            Err(e) => Err(ReadError::Connection(e.to_string())),
        };
        // Streams until the reader fails (or shutdown); every failure is handled below, in one place.
        let failure = match started {
            Err(e) => e,
            Ok(mut reader) => {
                tracing::info!(%from, "streaming the binlog");
                metrics.position(&from);
                loop {
                    if shutdown.load(Ordering::Relaxed) {
                        break 'connect;
                    }
                    let event = tokio::select! {
                        event = reader.next() => event,
                        _ = tokio::time::sleep(flush_every) => Ok(Some(BinlogEvent::Heartbeat { at: from.clone() })),
                    };
                    let event = match event {
                        Ok(Some(event)) => event,
                        Ok(None) => break ReadError::Connection("the server ended the binlog stream".into()),
                        Err(e) => break e,
                    };
                    backoff = Duration::from_millis(200);
                    match event {
                        BinlogEvent::Begin { gtid: g, .. } => gtid = g,
                        BinlogEvent::Rows { at, first_row, ts_ms, server_id, table, rows } => {
                            let codec = codecs.for_table(&table).await?;
                            metrics.lag_ms.set((now_ms() - ts_ms).max(0));
                            let mut source = SourceInfo::streamed(config, &table.database, &table.table, &at, ts_ms, server_id, &gtid);
                            for (i, change) in rows.into_iter().enumerate() {
                                let i = first_row + i as u32;
                                let version = RowVersion::of(&at.file, at.pos, i).map_err(anyhow::Error::msg)?;
                                let image = |row: Option<crate::binlog::rows::RowImage>| {
                                    row.map(|r| codec.row(&r, Origin::Binlog))
                                        .transpose()
                                        .map_err(|e| anyhow::anyhow!("`{}`.`{}` at {at} row {i}: {e}", table.database, table.table))
                                };
                                let before = image(change.before)?;
                                let after = image(change.after)?;
                                source.row = i;
                                emitter.change(&codec, change.op, before, after, &source, version).await?;
                            }
                        }
                        BinlogEvent::Ddl { at, next, ts_ms, server_id, database, statement } => {
                            metrics.ddl.inc();
                            let target = schema_change::ddl_target(&statement, &database);
                            let captured = match &target {
                                Some(t) => config.capture.captures(&t.database, &t.table),
                                None => !database.is_empty() && config.capture.captures(&database, ""),
                            };
                            if captured {
                                tracing::info!(%at, %database, %statement, "DDL: publishing a schema change; later rows carry the new shape");
                                let table = match &target {
                                    Some(t) => {
                                        let mut catalog = mysql.connect().await.context("connecting to read information_schema")?;
                                        let described = schema_change::describe(&mut catalog, &t.database, &t.table).await?;
                                        drop(catalog);
                                        Some((t, described))
                                    }
                                    None => None,
                                };
                                let table_name = target.as_ref().map(|t| t.table.clone()).unwrap_or_default();
                                let source = SourceInfo::streamed(config, &database, &table_name, &at, ts_ms, server_id, &gtid);
                                let (key, value) = schema_change::event(&source, &database, &statement, table, now_ms());
                                let encoded = codecs.schema_change(&key, &value).await?;
                                let version = RowVersion::of(&at.file, at.pos, 0).map_err(anyhow::Error::msg)?;
                                let order = RecordOrder::change(version.0);
                                let topic = config.capture.topic_prefix.clone();
                                emitter.emit(&topic, encoded.key.as_deref(), Some(&encoded.value), order, &format!("{at}:0"), false, &[]).await?;
                            }
                            emitter.publisher.mark(next.clone(), gtid.clone());
                            from = next;
                        }
                        BinlogEvent::Commit { next } => {
                            emitter.publisher.mark(next.clone(), gtid.clone());
                            metrics.position(&next);
                            from = next;
                        }
                        BinlogEvent::Heartbeat { .. } => {}
                    }
                    if let Some(topic) = &config.capture.heartbeat_topic
                        && last_heartbeat.elapsed() >= heartbeat_every
                    {
                        last_heartbeat = Instant::now();
                        let encoded = codecs.heartbeat(topic, now_ms()).await?;
                        emitter.heartbeat(topic, &encoded, &from).await?;
                    }
                    if last_flush.elapsed() >= flush_every {
                        last_flush = Instant::now();
                        emitter.publisher.settle()?;
                        store_acknowledged(&emitter.publisher, &offsets, &mut stored_position).await?;
                        metrics.turned();
                    }
                }
            }
        };
        match failure {
            e if e.is_transient() => {
                tracing::warn!("{e}; reconnecting from {from} in {backoff:?}");
                metrics.reconnects.inc();
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(30));
            }
            ReadError::Purged(at) if config.snapshot.mode == SnapshotMode::WhenNeeded => {
                tracing::warn!(%at, "the stored position is gone from the server; snapshot.mode = when_needed: taking a new snapshot");
                let mut conn = mysql.connect().await?;
                from = snapshot(&mut conn, facts.flavor, config, &mut codecs, &mut emitter, &offsets).await?;
            }
            e => return Err(e.into()),
        }
    }
    tracing::info!("shutting down: waiting for the broker to acknowledge what was sent");
    emitter.publisher.flush(Duration::from_secs(60)).await?;
    store_acknowledged(&emitter.publisher, &offsets, &mut stored_position).await?;
    tracing::info!(sent = emitter.publisher.sent(), skipped = emitter.skipped, "stopped");
    Ok(())
}
