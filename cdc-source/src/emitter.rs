//! Sending change records: one row change becomes its records (a key change
//! three, a delete two with its tombstone), each sent unless its partition
//! already holds it.
//!
//! A change whose record would be larger than the broker takes puts its
//! table in quarantine (or stops the source, per
//! `capture.oversized_records`): the table's changes are skipped from then
//! on, and it is re-read when the source starts next.
//!
//! Guarantee: a record whose order ([`RecordOrder`]) is at or below its
//! partition's mark — what the read-back ([`crate::recovery`]) found there, or
//! what this run already sent — is skipped, so replaying the binlog after a
//! crash adds nothing twice; everything above the mark is sent, in order.

use crate::codec::{Encoded, Row, TableCodec};
use crate::config::{OversizedRecords, SourceConfig};
use crate::envelope::{Op, SourceInfo, now_ms};
use crate::metrics::SourceMetrics;
use crate::offsets::Quarantined;
use crate::position::{BinlogPosition, RowVersion};
use crate::publisher::{OutgoingRecord, Publisher, RecordOrder, Step, partition_for};
use crate::recovery::Marks;
use anyhow::{Result, bail};
use rdkafka::producer::{FutureProducer, Producer};
use shared::kafka::{KafkaContext, ensure_topic};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// Debezium's headers on the two halves of a primary-key change: the other half's key (as JSON).
pub const NEW_KEY_HEADER: &str = "__debezium.newkey";
pub const OLD_KEY_HEADER: &str = "__debezium.oldkey";
pub use shared::row_version::DROPPED_HEADER;

/// One record to send: where, what, its place in the order and its position header.
pub(crate) struct Record<'a> {
    pub topic: &'a str,
    pub key: Option<&'a [u8]>,
    pub value: Option<&'a [u8]>,
    /// The partition, when not the key's (a truncate goes to every partition).
    pub partition: Option<i32>,
    pub order: RecordOrder,
    pub position: String,
    pub extra_headers: &'a [(&'a str, &'a str)],
}

/// Sends change records, skipping what the partition already holds.
pub struct Emitter {
    pub(crate) publisher: Publisher,
    marks: Marks,
    partitions: HashMap<String, i32>,
    config: SourceConfig,
    context: KafkaContext,
    producer: FutureProducer<KafkaContext>,
    pub metrics: Arc<SourceMetrics>,
    pub skipped: u64,
    /// The largest record sent (key + value + headers), from the broker's limit.
    max_record_bytes: usize,
    /// Tables in quarantine.
    pub quarantined: Vec<Quarantined>,
    /// How many of them were recorded on the schema-change topic.
    announced: usize,
}

/// Room left in each record for its headers and Kafka's record framing.
const RECORD_OVERHEAD: usize = 512;

impl Emitter {
    /// An emitter that skips what `marks` (the read-back) says each partition holds.
    pub fn new(
        config: &SourceConfig,
        context: KafkaContext,
        producer: FutureProducer<KafkaContext>,
        marks: Marks,
        metrics: Arc<SourceMetrics>,
        max_record_bytes: usize,
    ) -> Result<Self> {
        Ok(Self {
            publisher: Publisher::create(&config.kafka, context.clone(), max_record_bytes)?,
            max_record_bytes,
            quarantined: Default::default(),
            announced: 0,
            marks,
            partitions: HashMap::new(),
            config: config.clone(),
            context,
            producer,
            metrics,
            skipped: 0,
        })
    }

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

    /// Sends one record unless its partition already has it. Rows of a
    /// consistent snapshot (`snapshot`) all share the snapshot point's order,
    /// so they are not compared (a cut snapshot is redone whole) but still
    /// raise the mark.
    pub(crate) async fn emit(&mut self, record: Record<'_>, snapshot: bool) -> Result<()> {
        let Record { topic, key, value, partition, order, position, extra_headers } = record;
        let partitions = self.partitions_of(topic).await?;
        let partition = partition.unwrap_or_else(|| key.map_or(0, |k| partition_for(k, partitions)));
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
                position: &position,
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
    pub(crate) async fn change(&mut self, codec: &TableCodec, op: Op, before: Option<Row>, after: Option<Row>, source: &SourceInfo, version: RowVersion) -> Result<()> {
        if self.config.capture.skips(op) || self.in_quarantine(codec) {
            return Ok(());
        }
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
        let size = encoded.value.len() + encoded.key.as_ref().map_or(0, Vec::len) + RECORD_OVERHEAD;
        if size > self.max_record_bytes {
            return self.oversized(codec, size);
        }
        let record = |value, order: RecordOrder| Record {
            topic: &codec.topic,
            key: encoded.key.as_deref(),
            value,
            partition: None,
            order,
            position: order.position(row_position),
            extra_headers: headers,
        };
        self.emit(record(Some(&encoded.value), order), source.snapshot.shares_version()).await?;
        if op == Op::Delete && self.config.capture.tombstones_on_delete && encoded.key.is_some() {
            self.emit(record(None, RecordOrder { step: Step::Tombstone, ..order }), false).await?;
        }
        Ok(())
    }

    /// Debezium's truncate event (`op = t`, no key, no images) for a table
    /// emptied by `TRUNCATE`, or with [`DROPPED_HEADER`] for one that was
    /// dropped. It goes to every partition of the table's topic, so a consumer
    /// of each partition sees it after that partition's earlier changes.
    pub(crate) async fn truncate(&mut self, codec: &TableCodec, source: &SourceInfo, version: RowVersion, dropped: bool) -> Result<()> {
        if self.config.capture.skips(Op::Truncate) || self.in_quarantine(codec) {
            return Ok(());
        }
        let encoded = codec.encode(Op::Truncate, None, None, source, now_ms())?;
        let partitions = self.partitions_of(&codec.topic).await?;
        let headers: &[(&str, &str)] = if dropped { &[(DROPPED_HEADER, "true")] } else { &[] };
        let order = RecordOrder::change(version.0);
        for partition in 0..partitions {
            let record = Record {
                topic: &codec.topic,
                key: None,
                value: Some(&encoded.value),
                partition: Some(partition),
                order,
                position: order.position(&format!("{}:{}:{}", source.file, source.pos, source.row)),
                extra_headers: headers,
            };
            self.emit(record, false).await?;
        }
        self.metrics.rows.with_label_values(&[Op::Truncate.code()]).inc();
        Ok(())
    }

    /// Whether `codec`'s table is in quarantine (its changes skipped).
    fn in_quarantine(&self, codec: &TableCodec) -> bool {
        self.is_quarantined(&codec.table.database, &codec.table.table)
    }

    /// A change of `codec`'s table encodes to `size` bytes, more than the broker takes.
    fn oversized(&mut self, codec: &TableCodec, size: usize) -> Result<()> {
        let table = format!("{}.{}", codec.table.database, codec.table.table);
        let why = format!(
            "a change encodes to {size} bytes, above the {} bytes the broker takes (its message.max.bytes, or capture.max_record_bytes)",
            self.max_record_bytes
        );
        if self.config.capture.oversized_records == OversizedRecords::Fail {
            bail!(
                "`{table}`: {why}. Raise the broker's message.max.bytes (and the topic's max.message.bytes), leave the large column out \
                 (capture.exclude_columns), or set capture.oversized_records = \"quarantine\" to skip only this table"
            );
        }
        let fix = "Raise the broker's message.max.bytes (and the topic's max.message.bytes) or leave the large column out \
                   (capture.exclude_columns), then restart the source: it re-reads the table";
        self.quarantine(&codec.table.database, &codec.table.table, format!("{why}. {fix}"));
        Ok(())
    }

    /// Puts `database.table` in quarantine: its changes are skipped from
    /// here on (the other tables go on), and it is re-read on the next start.
    pub fn quarantine(&mut self, database: &str, table: &str, reason: String) {
        tracing::error!(%database, %table, "table put in quarantine: {reason}. Its changes are skipped from here on; the other tables go on");
        self.metrics.quarantined.with_label_values(&[&format!("{database}.{table}")]).set(1);
        self.quarantined.push(Quarantined {
            database: database.to_string(),
            table: table.to_string(),
            reason,
        });
    }

    /// The tables put in quarantine since the last call (to be recorded on the schema-change topic).
    pub fn unannounced(&mut self) -> Vec<Quarantined> {
        let new = self.quarantined[self.announced..].to_vec();
        self.announced = self.quarantined.len();
        new
    }

    /// Whether `database.table` is in quarantine.
    pub fn is_quarantined(&self, database: &str, table: &str) -> bool {
        self.quarantined.iter().any(|q| q.database == database && q.table == table)
    }

    /// A heartbeat record: not deduplicated (it carries no change), tagged with the current position.
    pub(crate) async fn heartbeat(&mut self, topic: &str, encoded: &Encoded, at: &BinlogPosition) -> Result<()> {
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
        self.metrics.turned();
        let label = format!("{database}.{table}");
        self.metrics.snapshot_rows.with_label_values(&[&label]).set(done as i64);
        if let Some(estimate) = estimate {
            self.metrics.snapshot_estimate.with_label_values(&[&label]).set(estimate as i64);
        }
    }
}

