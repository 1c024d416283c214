//! The sink service: a Kafka consumer group member (cooperative rebalancing,
//! manual offsets) that batches each assigned partition and hands the
//! batches to that partition's worker ([`crate::workers`]), which applies
//! them through [`crate::apply::BatchApplier`]; the loop itself only polls,
//! batches, commits what the workers applied and pauses a partition whose
//! worker is behind.
//!
//! Guarantees: on every assignment the partition takes a new fence and the
//! consumer seeks to where the state store says — the start of an unfinished
//! insert (`BEFORE`: re-formed with the same range) or just after the last
//! applied batch (`AFTER`) — not merely to Kafka's committed offset. Kafka
//! offsets are committed only after `AFTER` is stored. A partition that
//! cannot continue (`errors_tolerance = none`, an unusable table) is paused
//! alone, loudly; the others keep flowing. SIGTERM finishes the batch in hand
//! (or abandons it at a safe point) and leaves.

use crate::apply::BatchApplier;
use crate::metrics::SinkMetrics;
use crate::batch::{Batch, BatchLimits, PartitionBatcher, Record};
use crate::workers::{Dispatch, Finished, Outcome, Workers};
use crate::clickhouse::table::TableSettings;
use crate::config::{Delivery, OffsetReset, SinkConfig, StateStoreKind};
use crate::decode::RecordDecoder;
use crate::dlq::DeadLetterQueue;
use crate::exactly_once::{OffsetRange, Phase};
use shared::retry::RetryPolicy;
use crate::state::keepermap::KeeperMapStateStore;
use crate::state::memory::MemoryStateStore;
use crate::state::redis::RedisStateStore;
use crate::state::{Fence, PartitionKey, StateError, StateStore};
use anyhow::{Context, Result};
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, StreamConsumer};
use rdkafka::error::KafkaResult;
use crate::clickhouse::changelog;
use rdkafka::message::{Headers, Message};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use rdkafka::types::RDKafkaRespErr;
use rdkafka::{ClientContext, client::OAuthToken, config::RDKafkaLogLevel, error::KafkaError};
use shared::kafka::{ClientRole, KafkaContext};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A partition assignment change, produced in the rebalance callback and
/// consumed by the main loop.
#[derive(Debug)]
enum Ownership {
    Assigned {
        key: PartitionKey,
        fence: Fence,
        reform: Option<OffsetRange>,
        /// Where the consumer was sent (None: committed offset / auto.offset.reset).
        start: Option<i64>,
    },
    Revoked(PartitionKey),
    /// Assigned, but its fence or state could not be taken: the partition is
    /// stopped (paused, reported) instead of being silently skipped.
    Unowned { key: PartitionKey, reason: String },
}

/// What the loop knows about the offsets it receives for one partition, to
/// catch a broker that delivers records twice or skips some.
struct Tracking {
    /// The offset the next record should have, when known.
    next: Option<i64>,
}

/// librdkafka context of the sink: the shared Kafka context plus the
/// state-driven seek on assignment.
pub struct SinkContext {
    kafka: KafkaContext,
    store: Arc<dyn StateStore>,
    delivery: Delivery,
    retry: RetryPolicy,
    runtime: tokio::runtime::Handle,
    events: Mutex<Vec<Ownership>>,
    metrics: Arc<SinkMetrics>,
}

impl ClientContext for SinkContext {
    const ENABLE_REFRESH_OAUTH_TOKEN: bool = true;

    fn log(&self, level: RDKafkaLogLevel, fac: &str, message: &str) {
        self.kafka.log(level, fac, message);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        self.kafka.error(error, reason);
    }

    fn stats(&self, statistics: rdkafka::Statistics) {
        for (topic, t) in &statistics.topics {
            for (partition, p) in &t.partitions {
                if *partition >= 0 && p.consumer_lag >= 0 {
                    self.metrics.lag.with_label_values(&[topic.as_str(), &partition.to_string()]).set(p.consumer_lag);
                }
            }
        }
    }

    fn generate_oauth_token(&self, config: Option<&str>) -> Result<OAuthToken, Box<dyn std::error::Error>> {
        self.kafka.generate_oauth_token(config)
    }
}

impl SinkContext {
    /// Runs `future` to completion from librdkafka's (synchronous) callback.
    fn block_on<F: std::future::Future>(&self, future: F) -> F::Output {
        match tokio::runtime::Handle::try_current() {
            Ok(_) => tokio::task::block_in_place(|| self.runtime.block_on(future)),
            Err(_) => self.runtime.block_on(future),
        }
    }

    /// Takes a fence for each newly assigned partition and sets its start offset from the state.
    fn prepare_assignment(&self, tpl: &mut TopicPartitionList) {
        let mut events = Vec::new();
        for element in tpl.elements() {
            let key = PartitionKey::new(element.topic(), element.partition());
            if self.delivery == Delivery::AtLeastOnce {
                // No state: resume from the committed offset.
                events.push((key, 0, None, None));
                continue;
            }
            let taken = self.block_on(async {
                let fence = self
                    .retry
                    .run(&format!("taking a fence for {key}"), || self.store.acquire(&key), StateError::is_transient)
                    .await?;
                let state = self
                    .retry
                    .run(&format!("loading state of {key}"), || self.store.load(&key), StateError::is_transient)
                    .await?;
                Ok::<_, shared::retry::Gave<StateError>>((fence, state))
            });
            match taken {
                Ok((fence, state)) => {
                    let (offset, reform) = match state {
                        Some(s) if s.phase == Phase::Before => (Some(s.range.min), Some(s.range)),
                        Some(s) => (Some(s.range.max + 1), None),
                        None => (None, None),
                    };
                    tracing::info!(%key, fence, ?state, ?offset, "partition assigned");
                    events.push((key, fence, reform, offset));
                }
                Err(e) => self.events.lock().expect("lock").push(Ownership::Unowned { key, reason: format!("{e:?}") }),
            }
        }
        for (key, fence, reform, start) in events {
            if let Some(offset) = start {
                let _ = tpl.set_partition_offset(&key.topic, key.partition, Offset::Offset(offset));
            }
            self.events.lock().expect("lock").push(Ownership::Assigned { key, fence, reform, start });
        }
    }
}

impl ConsumerContext for SinkContext {
    fn rebalance(&self, base_consumer: &BaseConsumer<Self>, err: RDKafkaRespErr, tpl: &mut TopicPartitionList) {
        let cooperative = matches!(base_consumer.rebalance_protocol(), rdkafka::consumer::RebalanceProtocol::Cooperative);
        match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => {
                self.prepare_assignment(tpl);
                let result = if cooperative {
                    base_consumer.incremental_assign(tpl)
                } else {
                    base_consumer.assign(tpl)
                };
                if let Err(e) = result {
                    tracing::error!("assigning partitions failed: {e}");
                }
            }
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => {
                for element in tpl.elements() {
                    let key = PartitionKey::new(element.topic(), element.partition());
                    tracing::info!(%key, "partition revoked");
                    self.events.lock().expect("lock").push(Ownership::Revoked(key));
                }
                let result = if cooperative {
                    base_consumer.incremental_unassign(tpl)
                } else {
                    base_consumer.unassign()
                };
                if let Err(e) = result {
                    tracing::error!("unassigning partitions failed: {e}");
                }
            }
            other => tracing::error!("rebalance error: {other:?}"),
        }
    }

    fn commit_callback(&self, result: KafkaResult<()>, _offsets: &TopicPartitionList) {
        if let Err(e) = result {
            // Not fatal: the state store, not the committed offset, says where to resume.
            tracing::warn!("offset commit failed: {e}");
        }
    }
}

/// Opens the configured state store.
pub async fn open_store(config: &SinkConfig, retry: &RetryPolicy) -> Result<Arc<dyn StateStore>> {
    let group = &config.consumer.group_id;
    Ok(match config.state.store {
        StateStoreKind::Redis => {
            let redis = config.state.redis.as_ref().expect("validated: redis store has a url");
            let store = retry
                .run("connecting to Redis", || RedisStateStore::connect(redis, group), StateError::is_transient)
                .await
                .map_err(|e| anyhow::anyhow!("{e:?}"))?;
            Arc::new(store)
        }
        StateStoreKind::Keepermap => {
            let client = config.clickhouse.client()?;
            let table = &config.state.keepermap_table;
            let store = retry
                .run(
                    "opening the KeeperMap state table",
                    || KeeperMapStateStore::open(client.clone(), table, group),
                    StateError::is_transient,
                )
                .await
                .map_err(|e| anyhow::anyhow!("{e:?}"))?;
            Arc::new(store)
        }
        StateStoreKind::Memory => Arc::new(MemoryStateStore::new()),
    })
}

/// Runs the sink until `shutdown` is set.
pub async fn run(config: &SinkConfig, shutdown: Arc<AtomicBool>, metrics: Arc<SinkMetrics>) -> Result<()> {
    let retry = RetryPolicy {
        shutdown: shutdown.clone(),
        retries: metrics.retries.clone(),
    };
    let store = open_store(config, &retry).await?;
    let kafka_context = KafkaContext::for_config(&config.kafka).await?;
    let dlq = match &config.consumer.dlq_topic {
        Some(topic) => {
            let dlq = DeadLetterQueue::new(&config.kafka, kafka_context.clone(), topic)?;
            let consumer = &config.consumer;
            dlq.ensure_topic(&config.kafka, kafka_context.clone(), consumer.dlq_topic_partitions, consumer.dlq_topic_replication_factor)
                .await?;
            Some(dlq)
        }
        None => None,
    };
    let decoder = RecordDecoder::for_format(config.consumer.format, &config.glue).await;
    let apply_config = config.apply.clone();
    let applier = BatchApplier {
        store: store.clone(),
        decoder,
        delivery: config.consumer.delivery,
        client: config.clickhouse.client()?,
        database: config.clickhouse.database.clone(),
        table_for: Box::new(move |topic, source| apply_config.table_for(topic, source)),
        on_table_drop: config.apply.on_table_drop,
        table_settings: TableSettings {
            metadata_columns: config.apply.metadata_columns,
            create: config.apply.create_tables,
            dedup_window: config.apply.dedup_window,
        },
        tolerance: config.consumer.errors_tolerance,
        dlq,
        retry: retry.clone(),
        metrics: metrics.clone(),
        tables: Default::default(),
        inserts: tokio::sync::Semaphore::new(config.apply.max_concurrent_inserts),
    };

    let context = SinkContext {
        kafka: kafka_context,
        store,
        delivery: config.consumer.delivery,
        retry,
        runtime: tokio::runtime::Handle::current(),
        events: Mutex::new(Vec::new()),
        metrics: metrics.clone(),
    };
    let group = &config.consumer.group_id;
    let mut client_config = config.kafka.client_config(ClientRole::Consumer { group_id: group })?;
    // Cooperative rebalancing by default: a joining or leaving member moves
    // only the partitions that change owner. `[kafka.properties]` may choose another.
    if client_config.get("partition.assignment.strategy").is_none() {
        client_config.set("partition.assignment.strategy", "cooperative-sticky");
    }
    // A subscribed topic that does not exist yet (the source creates a table's
    // topic with its first change) is noticed within 10 s, not librdkafka's 5 min.
    if client_config.get("topic.metadata.refresh.interval.ms").is_none() {
        client_config.set("topic.metadata.refresh.interval.ms", "10000");
    }
    client_config
        .set("enable.auto.commit", "false")
        .set("statistics.interval.ms", "5000")
        .set("enable.auto.offset.store", "false")
        .set(
            "auto.offset.reset",
            match config.consumer.auto_offset_reset {
                OffsetReset::Earliest => "earliest",
                OffsetReset::Latest => "latest",
            },
        );
    let consumer: StreamConsumer<SinkContext> = client_config.create_with_context(context).context("creating the Kafka consumer")?;
    let topics: Vec<&str> = config.consumer.topics.iter().map(String::as_str).collect();
    consumer.subscribe(&topics).context("subscribing")?;
    tracing::info!(?topics, group, store = applier.store.kind(), "ingest-sink consuming");

    let mut batcher = PartitionBatcher::new(BatchLimits {
        max_rows: config.consumer.batch_max_rows,
        max_bytes: config.consumer.batch_max_bytes,
        max_wait: Duration::from_millis(config.consumer.batch_max_wait_ms),
    });
    let mut owned = Owned {
        fences: HashMap::new(),
        halted: HashSet::new(),
        tracks: HashMap::new(),
        committed: HashMap::new(),
        backpressured: HashSet::new(),
        workers: Workers::new(Arc::new(applier)),
    };

    while !shutdown.load(Ordering::Relaxed) {
        metrics.turned();
        let wait = batcher.next_due(Instant::now()).unwrap_or(Duration::from_millis(200)).min(Duration::from_millis(200));
        // A worker's outcome first (it may free a paused partition), else the next record.
        let received = tokio::select! {
            biased;
            Some(finished) = owned.workers.finished.recv() => {
                if owned.finished(&consumer, &metrics, &mut batcher, finished) {
                    break;
                }
                None
            }
            received = tokio::time::timeout(wait, consumer.recv()) => Some(received),
        };
        owned.apply_ownership(&consumer, &metrics, &mut batcher);
        let mut ready: Vec<Batch> = Vec::new();
        match received {
            Some(Ok(Ok(message))) => {
                let key = PartitionKey::new(message.topic(), message.partition());
                if owned.fences.contains_key(&key)
                    && !owned.halted.contains(&key)
                    && let Some(track) = owned.tracks.get_mut(&key)
                    && accept_offset(&key, track, message.offset(), &metrics)
                {
                    ready.extend(batcher.push(&key, record_of(&message), Instant::now()));
                }
            }
            Some(Ok(Err(e))) => tracing::warn!("Kafka consumer error (librdkafka retries by itself): {e}"),
            _ => {}
        }
        ready.extend(batcher.due(Instant::now()));
        for batch in ready {
            let key = batch.key.clone();
            if owned.workers.dispatch(batch) == Dispatch::Full && owned.backpressured.insert(key.clone()) {
                // Its worker is behind: no more records until it catches up.
                pause(&consumer, &key);
            }
        }
        metrics.backlog.set(owned.workers.backlog() as i64);
    }
    owned.workers.shutdown().await;
    tracing::info!("ingest-sink stopped");
    Ok(())
}

/// The partitions this member owns, and what it knows of each.
struct Owned {
    fences: HashMap<PartitionKey, Fence>,
    /// Stopped partitions (paused, reported), until revoked or re-assigned.
    halted: HashSet<PartitionKey>,
    tracks: HashMap<PartitionKey, Tracking>,
    /// The highest offset committed per partition (never moved back).
    committed: HashMap<PartitionKey, i64>,
    /// Paused because their worker is behind, until its backlog drains.
    backpressured: HashSet<PartitionKey>,
    workers: Workers,
}

impl Owned {
    /// Takes in the assignment changes the rebalance callback recorded.
    fn apply_ownership(&mut self, consumer: &StreamConsumer<SinkContext>, metrics: &SinkMetrics, batcher: &mut PartitionBatcher) {
        let events = std::mem::take(&mut *consumer.context().events.lock().expect("lock"));
        for event in events {
            match event {
                Ownership::Assigned { key, fence, reform, start } => {
                    batcher.assign(&key, reform);
                    if self.halted.remove(&key) | self.backpressured.remove(&key) {
                        resume(consumer, &key);
                    }
                    clear_stopped(metrics, &key);
                    self.tracks.insert(key.clone(), Tracking { next: start });
                    self.workers.start(key.clone(), fence);
                    self.fences.insert(key, fence);
                }
                Ownership::Revoked(key) => {
                    batcher.revoke(&key);
                    self.forget(consumer, &key);
                    // Not ours any more: its health is its new owner's to report.
                    clear_stopped(metrics, &key);
                }
                Ownership::Unowned { key, reason } => {
                    tracing::error!(
                        %key,
                        "cannot take over the partition ({reason}); it is stopped here, its records wait in Kafka: fix the state store, \
                         then restart this sink (or let a rebalance move the partition)"
                    );
                    self.forget(consumer, &key);
                    self.halt(consumer, metrics, batcher, &key);
                }
            }
        }
    }

    /// A worker's outcome; `true` when the sink is shutting down.
    fn finished(&mut self, consumer: &StreamConsumer<SinkContext>, metrics: &SinkMetrics, batcher: &mut PartitionBatcher, finished: Finished) -> bool {
        if !self.workers.is_current(&finished) {
            // A worker of an earlier assignment, finishing the batch it had in hand.
            match &finished.outcome {
                Outcome::Fenced(reason) => tracing::warn!("{reason}; the partition has moved on: the batch is dropped"),
                Outcome::Stopped(reason) => tracing::warn!("{reason} (the partition is no longer assigned here)"),
                Outcome::Applied(_) | Outcome::Shutdown => {}
            }
            return false;
        }
        let key = finished.key;
        match finished.outcome {
            Outcome::Applied(range) => {
                let done = self.committed.entry(key.clone()).or_insert(-1);
                if range.max > *done {
                    *done = range.max;
                    commit(consumer, &key, range.max);
                }
                if self.workers.refill(&key) && self.backpressured.remove(&key) && !self.halted.contains(&key) {
                    resume(consumer, &key);
                }
            }
            Outcome::Fenced(reason) => {
                tracing::warn!("{reason}; dropping the partition's batches, the new owner applies them");
                batcher.revoke(&key);
                self.forget(consumer, &key);
            }
            Outcome::Stopped(reason) => {
                tracing::error!("{reason}");
                self.halt(consumer, metrics, batcher, &key);
            }
            Outcome::Shutdown => {
                tracing::info!(%key, "shutdown: batch abandoned at a safe point; it is re-applied on restart");
                return true;
            }
        }
        false
    }

    /// Drops everything about a partition no longer consumed here. A pause
    /// is undone: librdkafka keeps it across a revoke and a later re-assignment.
    fn forget(&mut self, consumer: &StreamConsumer<SinkContext>, key: &PartitionKey) {
        self.workers.stop(key);
        self.fences.remove(key);
        self.tracks.remove(key);
        if self.halted.remove(key) | self.backpressured.remove(key) {
            resume(consumer, key);
        }
    }

    /// Stops consuming `key` until it is revoked or the sink restarts:
    /// paused, `ingest_sink_partition_stopped` = 1 (so `/healthz` answers
    /// 503); its records stay in Kafka.
    fn halt(&mut self, consumer: &StreamConsumer<SinkContext>, metrics: &SinkMetrics, batcher: &mut PartitionBatcher, key: &PartitionKey) {
        self.workers.stop(key);
        pause(consumer, key);
        metrics.stopped.with_label_values(&[key.topic.as_str(), &key.partition.to_string()]).set(1);
        self.halted.insert(key.clone());
        batcher.revoke(key);
    }
}

/// The owned form of a received record.
fn record_of(message: &rdkafka::message::BorrowedMessage<'_>) -> Record {
    Record {
        offset: message.offset(),
        key: message.key().map(<[u8]>::to_vec),
        payload: message.payload().map(<[u8]>::to_vec),
        timestamp_ms: message.timestamp().to_millis().unwrap_or(0),
        version: message.headers().and_then(|headers| {
            headers
                .iter()
                .find(|h| h.key == shared::row_version::HEADER)
                .and_then(|h| h.value)
                .and_then(changelog::header_version)
        }),
        dropped: message.headers().is_some_and(|headers| {
            headers.iter().any(|h| h.key == shared::row_version::DROPPED_HEADER && h.value == Some(b"true".as_slice()))
        }),
    }
}

/// Checks a record's offset against the expected one: false for a record
/// delivered before (dropped). A jump is reported — compaction, transaction markers, or records
/// that expired before they were applied.
fn accept_offset(key: &PartitionKey, track: &mut Tracking, offset: i64, metrics: &SinkMetrics) -> bool {
    match track.next {
        Some(next) if offset < next => {
            metrics.redelivered.inc();
            tracing::debug!(%key, offset, next, "record delivered again: dropped");
            return false;
        }
        Some(next) if offset > next => {
            metrics.offset_gaps.inc();
            tracing::warn!(
                %key,
                "offsets {next}..{} were not delivered: compaction, transaction markers, or records that expired \
                 (retention) before they were applied — in that last case they are lost upstream of this sink",
                offset - 1
            );
        }
        _ => {}
    }
    track.next = Some(offset + 1);
    true
}

fn commit(consumer: &StreamConsumer<SinkContext>, key: &PartitionKey, last: i64) {
    let mut tpl = TopicPartitionList::new();
    let _ = tpl.add_partition_offset(&key.topic, key.partition, Offset::Offset(last + 1));
    if let Err(e) = consumer.commit(&tpl, CommitMode::Async) {
        tracing::warn!(%key, "offset commit failed (state is authoritative): {e}");
    }
}

fn resume(consumer: &StreamConsumer<SinkContext>, key: &PartitionKey) {
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition(&key.topic, key.partition);
    if let Err(e) = consumer.resume(&tpl) {
        tracing::error!(%key, "resuming the partition failed: {e}");
    }
}

fn clear_stopped(metrics: &SinkMetrics, key: &PartitionKey) {
    let _ = metrics.stopped.remove_label_values(&[key.topic.as_str(), &key.partition.to_string()]);
}

fn pause(consumer: &StreamConsumer<SinkContext>, key: &PartitionKey) {
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition(&key.topic, key.partition);
    if let Err(e) = consumer.pause(&tpl) {
        tracing::error!(%key, "pausing the partition failed: {e}");
    }
}
