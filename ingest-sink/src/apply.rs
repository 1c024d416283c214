//! Applying one batch of one partition to ClickHouse, exactly once.
//!
//! A batch is decoded first ([`BatchApplier::decode`]: schemas resolved,
//! values read; no effect anywhere), so a partition's worker decodes its next
//! batch while this one is inserted. Order of effects for each range the plan
//! inserts: convert every decoded record (bad ones to the dead-letter queue,
//! acknowledged), store `BEFORE`,
//! insert with `insert_deduplication_token = topic:partition:min:max`, store
//! `AFTER`. The caller commits the Kafka offset afterwards. A crash between
//! any two steps is repaired on restart by [`crate::exactly_once::plan`]; the
//! named fault points (`after_read`, `after_before`, `mid_insert`,
//! `after_insert`, `after_after`) let tests crash exactly there.
//!
//! With `delivery = at_least_once` the state and the token are left out: the
//! batch is inserted as it is, and a crash before the offset commit stores it
//! again. It exists to measure what exactly-once costs.
//!
//! One applier serves every partition's worker at once (`&self`): a topic's
//! table is made ready for a batch's schemas and its rows encoded under that
//! table's write lock, the insert runs under its read lock — so partitions of
//! one table insert side by side, a column change waits for the inserts in
//! flight and no insert sees a half-changed table — and at most
//! `apply.max_concurrent_inserts` inserts run at a time.

use crate::batch::{Batch, Record};
use crate::clickhouse::changelog;
use crate::clickhouse::table::{Layout, RecordMeta, Table, TableError, TableSettings};
use crate::clickhouse::truncate;
use crate::config::{Delivery, ErrorsTolerance, TableDropPolicy};
use crate::decode::RecordDecoder;
use crate::dlq::{DeadKind, DeadLetterQueue};
use crate::exactly_once::{Classification, InvalidBatch, OffsetRange, PartitionState, Phase, Step, plan};
use crate::faults;
use crate::metrics::SinkMetrics;
use shared::retry::{Gave, RetryPolicy};
use crate::state::{Fence, PartitionKey, StateError, StateStore};
use clickhouse::Client;
use shared::glue::{DecodeError, Decoded};
use std::collections::HashMap;
use std::sync::Arc;

/// Why a batch was not applied.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// Another consumer owns the partition now; drop the batch.
    #[error(transparent)]
    Fenced(StateError),
    /// The partition cannot continue; it is paused until an operator acts.
    #[error("partition {key} stopped at offsets {range}: {reason}")]
    Stop {
        key: PartitionKey,
        range: OffsetRange,
        reason: String,
    },
    /// Shutdown was requested while waiting on a dependency; nothing was marked done.
    #[error("shutdown requested while applying {0}")]
    Shutdown(PartitionKey),
}

pub struct BatchApplier {
    pub store: Arc<dyn StateStore>,
    pub decoder: RecordDecoder,
    pub delivery: Delivery,
    pub client: Client,
    pub database: String,
    /// The table of a topic, given the source `(database, table)` its change events name.
    pub table_for: Box<dyn Fn(&str, Option<(&str, &str)>) -> String + Send + Sync>,
    pub on_table_drop: TableDropPolicy,
    pub table_settings: TableSettings,
    pub tolerance: ErrorsTolerance,
    pub dlq: Option<DeadLetterQueue>,
    pub retry: RetryPolicy,
    pub metrics: Arc<SinkMetrics>,
    pub tables: Tables,
    /// Permits for inserts running at once, across tables.
    pub inserts: tokio::sync::Semaphore,
}

/// The open tables, one slot per topic, shared by the partition workers.
#[derive(Default)]
pub struct Tables {
    slots: std::sync::Mutex<HashMap<String, Arc<tokio::sync::RwLock<Option<Table>>>>>,
}

impl Tables {
    fn slot(&self, topic: &str) -> Arc<tokio::sync::RwLock<Option<Table>>> {
        self.slots.lock().expect("tables lock").entry(topic.to_string()).or_default().clone()
    }
}

/// A batch with every record decoded, ready for [`BatchApplier::apply`].
pub struct DecodedBatch {
    pub batch: Batch,
    /// One per record of `batch`, taken by the insert that applies it.
    converted: Vec<Option<Converted>>,
}

/// One record's fate within an insert.
enum Converted {
    Row(Decoded),
    Dead(DeadKind, String),
    /// A tombstone (no value): nothing to append.
    Empty,
    /// A truncate event (`op = t`): the table's older rows go.
    Truncate(Truncate),
}

/// A truncate event: its version, and the source table it names.
struct Truncate {
    version: u64,
    source: Option<(String, String)>,
}

/// Where the effects of one applied range stand.
struct Effects {
    before_stored: bool,
    fence: Fence,
    range: OffsetRange,
}

impl BatchApplier {
    /// Decodes every record of `batch` (registry lookups retried; a record
    /// that cannot be decoded becomes a dead letter when applied). Has no
    /// effect on ClickHouse, the state store or the dead-letter queue.
    pub async fn decode(&self, batch: Batch) -> Result<DecodedBatch, ApplyError> {
        let mut converted = Vec::with_capacity(batch.records.len());
        for record in &batch.records {
            converted.push(Some(self.convert(&batch.key, record).await?));
        }
        Ok(DecodedBatch { batch, converted })
    }

    pub async fn apply(&self, decoded: &mut DecodedBatch, fence: Fence) -> Result<(), ApplyError> {
        let DecodedBatch { batch, converted } = decoded;
        let batch = &*batch;
        let key = &batch.key;
        faults::point("after_read");
        if self.delivery == Delivery::AtLeastOnce {
            return self.insert(batch, converted, batch.range, fence).await;
        }
        let state = self
            .retry
            .run(&format!("loading state of {key}"), || self.store.load(key), StateError::is_transient)
            .await
            .map_err(|e| self.state_failure(key, batch.range, e))?;
        let steps = plan(state, batch.range).map_err(|e: InvalidBatch| ApplyError::Stop {
            key: key.clone(),
            range: batch.range,
            reason: e.to_string(),
        })?;
        for step in steps {
            match step {
                Step::Skip { range, why } => {
                    tracing::debug!(%key, %range, ?why, "already applied: skipped");
                    self.metrics.outcomes.with_label_values(&[outcome(why)]).inc();
                }
                Step::DeadLetter { range, reason } => {
                    self.metrics.outcomes.with_label_values(&["dead_letter"]).inc();
                    for record in records_in(batch, range) {
                        self.dead_letter(key, range, record, DeadKind::UnrecoverableBatch, &reason).await?;
                    }
                }
                Step::Insert { range, why } => {
                    self.metrics.outcomes.with_label_values(&[outcome(why)]).inc();
                    self.insert(batch, converted, range, fence).await?
                }
            }
        }
        Ok(())
    }

    /// Applies `range` of `batch`: its rows in one insert, or — when the range
    /// holds truncate events — the rows before each truncate, the truncate,
    /// and so on, each part with its own deduplication token (the parts are
    /// the same on a replay of the range, so their tokens are too). `BEFORE`
    /// is stored before the first effect, `AFTER` after the last.
    async fn insert(&self, batch: &Batch, converted: &mut [Option<Converted>], range: OffsetRange, fence: Fence) -> Result<(), ApplyError> {
        let key = &batch.key;
        let decoded = batch
            .records
            .iter()
            .zip(converted.iter_mut())
            .filter(|(record, _)| range.contains(record.offset))
            .map(|(record, converted)| (record, converted.take().expect("the plan's ranges are disjoint: a record is inserted once")));
        let mut effects = Effects { before_stored: false, fence, range };
        let mut part_start = range.min;
        let mut part = Vec::new();
        for (record, converted) in decoded {
            match converted {
                Converted::Truncate(truncate) => {
                    let rows = std::mem::take(&mut part);
                    self.insert_part(key, OffsetRange::new(part_start, record.offset - 1), rows, &mut effects).await?;
                    self.store_before(key, &mut effects).await?;
                    self.truncate(key, range, record, truncate).await?;
                    part_start = record.offset + 1;
                }
                other => part.push((record, other)),
            }
        }
        self.insert_part(key, OffsetRange::new(part_start, range.max), part, &mut effects).await?;
        if self.delivery == Delivery::ExactlyOnce {
            self.set_state(key, range, fence, Phase::After).await?;
            faults::point("after_after");
        }
        Ok(())
    }

    /// Stores `BEFORE` for the range unless it is stored already (or delivery is at-least-once).
    async fn store_before(&self, key: &PartitionKey, effects: &mut Effects) -> Result<(), ApplyError> {
        if self.delivery == Delivery::ExactlyOnce && !effects.before_stored {
            self.set_state(key, effects.range, effects.fence, Phase::Before).await?;
            effects.before_stored = true;
            faults::point("after_before");
        }
        Ok(())
    }

    /// Inserts the rows of `part` (a sub-range of the applied range without
    /// truncates): every record's table made ready for its schema first
    /// (RowBinary rows must all carry the table's final column list), then
    /// encoded, then inserted in one INSERT.
    async fn insert_part(&self, key: &PartitionKey, part: OffsetRange, records: Vec<(&Record, Converted)>, effects: &mut Effects) -> Result<(), ApplyError> {
        let range = effects.range;
        let slot = self.tables.slot(&key.topic);
        let mut table = slot.write().await;
        let mut ready = Vec::with_capacity(records.len());
        for (record, converted) in records {
            match converted {
                Converted::Row(value) => match self.ready(&mut table, key, range, record, &value).await? {
                    None => ready.push((record, value)),
                    Some((kind, reason)) => self.dead_letter(key, range, record, kind, &reason).await?,
                },
                Converted::Dead(kind, reason) => self.dead_letter(key, range, record, kind, &reason).await?,
                Converted::Empty | Converted::Truncate(_) => {}
            }
        }
        let mut rows = Vec::with_capacity(ready.len() * 64);
        let mut row_count = 0u64;
        for (record, value) in ready {
            let meta = RecordMeta {
                topic: &key.topic,
                partition: key.partition,
                offset: record.offset,
                timestamp_ms: record.timestamp_ms,
                version: record.version,
            };
            let open = table.as_ref().expect("a converted row opened its table");
            match open.encode_row(value.schema.version_id, &value.value, meta, &mut rows) {
                Ok(()) => row_count += 1,
                Err(e) => self.dead_letter(key, range, record, DeadKind::Convert, &e.to_string()).await?,
            }
        }
        if row_count == 0 {
            return Ok(());
        }
        self.store_before(key, effects).await?;
        let exactly_once = self.delivery == Delivery::ExactlyOnce;
        let token = exactly_once.then(|| format!("{}:{}:{}:{}", key.topic, key.partition, part.min, part.max));
        let rows = bytes::Bytes::from(rows);
        // Other partitions of the table may insert meanwhile; a column change waits.
        let table = table.downgrade();
        let table = table.as_ref().expect("a converted row opened its table");
        let _permit = self.inserts.acquire().await.expect("the insert semaphore is never closed");
        let started = std::time::Instant::now();
        self.retry
            .run(
                &format!("inserting {key} {part} into {}", table.name()),
                || table.insert(rows.clone(), token.as_deref()),
                TableError::is_transient,
            )
            .await
            .map_err(|e| self.table_failure(key, range, e))?;
        self.metrics.insert_seconds.observe(started.elapsed().as_secs_f64());
        tracing::debug!(%key, %part, rows = row_count, ?token, "inserted");
        self.metrics.batches_inserted.with_label_values(&[key.topic.as_str()]).inc();
        self.metrics.rows_inserted.with_label_values(&[key.topic.as_str()]).inc_by(row_count);
        faults::point("after_insert");
        Ok(())
    }

    /// Applies a truncate event (or a drop, per `on_table_drop`) to the
    /// topic's table: rows of older versions are marked deleted. Idempotent:
    /// repeating it after later rows arrived leaves those rows alone.
    async fn truncate(&self, key: &PartitionKey, range: OffsetRange, record: &Record, truncate: Truncate) -> Result<(), ApplyError> {
        if record.dropped && self.on_table_drop == TableDropPolicy::Keep {
            return Ok(());
        }
        let slot = self.tables.slot(&key.topic);
        let name = match slot.read().await.as_ref() {
            Some(table) => table.table().to_string(),
            None => (self.table_for)(&key.topic, truncate.source.as_ref().map(|(d, t)| (d.as_str(), t.as_str()))),
        };
        let (client, database) = (&self.client, &self.database);
        self.retry
            .run(
                &format!("applying the {} at {key}@{} to {name}", if record.dropped { "drop" } else { "truncate" }, record.offset),
                || truncate::apply(client, database, &name, truncate.version, key.partition),
                TableError::is_transient,
            )
            .await
            .map_err(|e| self.table_failure(key, range, e))?;
        tracing::info!(%key, offset = record.offset, table = %name, dropped = record.dropped, "applied a truncate event: older rows marked deleted");
        Ok(())
    }

    /// Decodes `record`; decoding errors that retrying cannot fix become dead letters.
    async fn convert(&self, key: &PartitionKey, record: &Record) -> Result<Converted, ApplyError> {
        let Some(payload) = record.payload.as_deref() else {
            return Ok(Converted::Empty);
        };
        let decoded = self
            .retry
            .run(&format!("decoding {key}@{}", record.offset), || self.decoder.decode(payload), DecodeError::is_transient)
            .await;
        let decoded = match decoded {
            Ok(decoded) => decoded,
            Err(Gave::Up(e)) => return Ok(Converted::Dead(DeadKind::Decode, e.to_string())),
            Err(Gave::Shutdown(_)) => return Err(ApplyError::Shutdown(key.clone())),
        };
        if changelog::is_envelope(&decoded.schema.schema) && changelog::op(&decoded.value) == Some("t") {
            return Ok(match changelog::version(&decoded.value, record.version) {
                Ok(version) => Converted::Truncate(Truncate {
                    version,
                    source: changelog::source_table(&decoded.value),
                }),
                Err(reason) => Converted::Dead(DeadKind::Convert, reason),
            });
        }
        Ok(Converted::Row(decoded))
    }

    /// Makes the topic's table ready for `decoded`'s schema version (opened,
    /// columns added); `Some` is why the record cannot be applied (a dead letter).
    async fn ready(
        &self,
        slot: &mut Option<Table>,
        key: &PartitionKey,
        range: OffsetRange,
        record: &Record,
        decoded: &Decoded,
    ) -> Result<Option<(DeadKind, String)>, ApplyError> {
        let schema = &decoded.schema;
        let new_version = !slot.as_ref().is_some_and(|t| t.knows(schema.version_id));
        // Avro keys name their schema version, so each new key version is
        // checked against the table's sorting key; Connect JSON keys do not,
        // so they are checked with each new value version.
        let key_id = record.key.as_deref().and_then(|k| self.decoder.schema_id(k));
        let key_unchecked = match (slot.as_ref(), key_id) {
            (None, _) => true,
            (Some(table), _) if !matches!(table.layout(), Layout::Changelog { .. }) => false,
            (Some(table), Some(id)) => !table.knows_key(id),
            (Some(_), None) => new_version,
        };
        // Some(None): a change event of a keyless table.
        let key_columns = match (key_unchecked, changelog::is_envelope(&schema.schema)) {
            (true, true) => match self.key_columns(key, record).await? {
                Ok(columns) => Some(columns),
                Err(dead) => return Ok(Some(dead)),
            },
            _ => None,
        };
        if slot.is_none() {
            let layout = match &key_columns {
                Some(Some(columns)) => Layout::Changelog { key: columns.clone() },
                Some(None) => Layout::Changes,
                None => Layout::Append,
            };
            let source = changelog::source_table(&decoded.value);
            let table_name = (self.table_for)(&key.topic, source.as_ref().map(|(d, t)| (d.as_str(), t.as_str())));
            let (client, database, settings) = (&self.client, &self.database, &self.table_settings);
            let table = self
                .retry
                .run(
                    &format!("opening table {table_name}"),
                    || Table::open(client.clone(), database, &table_name, layout.clone(), schema, settings),
                    TableError::is_transient,
                )
                .await
                .map_err(|e| self.table_failure(key, range, e))?;
            *slot = Some(table);
        }
        let table = slot.as_mut().expect("opened above");
        let stop = |reason: String| ApplyError::Stop {
            key: key.clone(),
            range,
            reason,
        };
        match (table.layout(), &key_columns) {
            (Layout::Changelog { key: table_key }, Some(Some(columns))) => {
                if columns != table_key {
                    return Err(stop(format!(
                        "the source's primary key changed from ({}) to ({}) at offset {}; table {} {}",
                        table_key.join(", "),
                        columns.join(", "),
                        record.offset,
                        table.name(),
                        changelog::REKEY
                    )));
                }
                if let Some(id) = key_id {
                    table.adopt_key(id);
                }
            }
            (Layout::Changelog { key: table_key }, Some(None)) => {
                return Err(stop(format!(
                    "the source table lost its primary key ({}) at offset {}; table {} {}",
                    table_key.join(", "),
                    record.offset,
                    table.name(),
                    changelog::REKEY
                )));
            }
            (Layout::Changes, Some(Some(columns))) => {
                return Err(stop(format!(
                    "the source table got a primary key ({}) at offset {}, but table {} keeps it as a change table \
                     (it had none). The records wait in Kafka: drop that table (or map the topic to a new one) and \
                     restart the sink; re-snapshot the source table if its earlier rows must be there too",
                    columns.join(", "),
                    record.offset,
                    table.name()
                )));
            }
            _ => {}
        }
        if new_version {
            let added = self
                .retry
                .run(
                    &format!("adding columns of schema {}", schema.version_id),
                    || table.prepare_schema(schema),
                    TableError::is_transient,
                )
                .await
                .map_err(|e| self.table_failure(key, range, e))?;
            table.adopt_schema(schema, added);
        }
        Ok(None)
    }

    /// The primary-key columns of a change event, from its key's schema
    /// (`None`: it has no key, a keyless table's change); a record whose key
    /// is undecodable is a dead letter.
    async fn key_columns(&self, key: &PartitionKey, record: &Record) -> Result<Result<Option<Vec<String>>, (DeadKind, String)>, ApplyError> {
        let Some(bytes) = record.key.as_deref() else {
            return Ok(Ok(None));
        };
        let decoded = self
            .retry
            .run(&format!("decoding the key of {key}@{}", record.offset), || self.decoder.decode(bytes), DecodeError::is_transient)
            .await;
        match decoded {
            Ok(decoded) => match &decoded.schema.schema {
                apache_avro::Schema::Record(r) => Ok(Ok(Some(
                    changelog::key_names(&decoded.schema.definition)
                        .filter(|names| names.len() == r.fields.len())
                        .unwrap_or_else(|| r.fields.iter().map(|f| f.name.clone()).collect()),
                ))),
                _ => Ok(Err((DeadKind::Decode, "the change event's key is not a record".into()))),
            },
            Err(Gave::Up(e)) => Ok(Err((DeadKind::Decode, format!("key: {e}")))),
            Err(Gave::Shutdown(_)) => Err(ApplyError::Shutdown(key.clone())),
        }
    }

    async fn dead_letter(
        &self,
        key: &PartitionKey,
        range: OffsetRange,
        record: &Record,
        kind: DeadKind,
        reason: &str,
    ) -> Result<(), ApplyError> {
        let stop = |reason: String| ApplyError::Stop {
            key: key.clone(),
            range,
            reason,
        };
        let dlq = match (&self.dlq, self.tolerance) {
            (Some(dlq), ErrorsTolerance::All) => dlq,
            _ => {
                return Err(stop(format!(
                    "record at offset {} cannot be applied ({}: {reason}); errors_tolerance = none, so the partition stops here. \
                     Fix the data or the table, or set errors_tolerance = \"all\" with a dlq_topic to divert such records",
                    record.offset,
                    kind.as_str()
                )));
            }
        };
        self.retry
            .run(
                &format!("writing {key}@{} to the dead-letter queue {}", record.offset, dlq.topic()),
                || dlq.send(&key.topic, key.partition, record, kind, reason),
                crate::dlq::is_transient,
            )
            .await
            .map_err(|gave| match gave {
                Gave::Up(e) => ApplyError::Stop {
                    key: key.clone(),
                    range,
                    reason: format!(
                        "record at offset {} cannot be applied ({}) and the dead-letter queue {} refuses it: {e}. \
                         Fix the DLQ topic (its existence, size limit, ACLs) and restart",
                        record.offset,
                        kind.as_str(),
                        dlq.topic()
                    ),
                },
                Gave::Shutdown(_) => ApplyError::Shutdown(key.clone()),
            })?;
        self.metrics.dead_letters.with_label_values(&[key.topic.as_str(), kind.as_str()]).inc();
        Ok(())
    }

    async fn set_state(&self, key: &PartitionKey, range: OffsetRange, fence: Fence, phase: Phase) -> Result<(), ApplyError> {
        let state = PartitionState { range, phase };
        self.retry
            .run(&format!("storing state {phase:?} {range} of {key}"), || self.store.store(key, fence, state), StateError::is_transient)
            .await
            .map_err(|e| self.state_failure(key, range, e))
    }

    fn state_failure(&self, key: &PartitionKey, range: OffsetRange, gave: Gave<StateError>) -> ApplyError {
        match gave {
            Gave::Up(e @ StateError::Fenced { .. }) => ApplyError::Fenced(e),
            Gave::Up(e) => ApplyError::Stop {
                key: key.clone(),
                range,
                reason: e.to_string(),
            },
            Gave::Shutdown(_) => ApplyError::Shutdown(key.clone()),
        }
    }

    fn table_failure(&self, key: &PartitionKey, range: OffsetRange, gave: Gave<TableError>) -> ApplyError {
        match gave {
            Gave::Up(e) => ApplyError::Stop {
                key: key.clone(),
                range,
                reason: e.to_string(),
            },
            Gave::Shutdown(_) => ApplyError::Shutdown(key.clone()),
        }
    }
}

fn outcome(why: Classification) -> &'static str {
    match why {
        Classification::Fresh => "fresh",
        Classification::New => "new",
        Classification::Same => "same",
        Classification::Contains => "contains",
        Classification::Overlap => "overlap",
        Classification::Previous => "previous",
    }
}

fn records_in(batch: &Batch, range: OffsetRange) -> impl Iterator<Item = &Record> {
    batch.records.iter().filter(move |r| range.contains(r.offset))
}
