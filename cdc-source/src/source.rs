//! The service's start: server checks, the Kafka and registry clients, the
//! stored offsets and the read-back of what the topics hold, the initial
//! snapshot if one is due — then [`crate::stream`] from the resume position.
//!
//! Guarantee: the stream starts at a position no later than the first change
//! not yet acknowledged by the broker (the stored offset, or the snapshot's
//! point), with the emitter primed to skip what the topics already hold.

use crate::checks::check_server;
use crate::codec::Codecs;
use crate::config::{OffsetStoreKind, OutputFormat, SnapshotMethod, SnapshotMode, SourceConfig};
use crate::emitter::Emitter;
use crate::metrics::SourceMetrics;
use crate::offsets::{KafkaOffsets, OffsetStore, SourceOffsets};
use crate::recovery;
use crate::server_sql::ServerError;
use crate::stream::Stream;
use anyhow::{Context, Result};
use rdkafka::producer::{FutureProducer, Producer};
use shared::glue::{GlueRegistry, GlueSchemaCache};
use shared::kafka::{ClientRole, KafkaContext, ensure_topic_with};
use shared::mysql::MysqlConnector;
use shared::retry::{Gave, RetryPolicy};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

impl crate::binlog::TableFilter for crate::config::CaptureConfig {
    fn captures(&self, database: &str, table: &str) -> bool {
        crate::config::CaptureConfig::captures(self, database, table) || self.is_signal_table(database, table)
    }
}

/// Runs the source until `shutdown` is set (or, with `snapshot.mode = initial_only`, until the snapshot is done).
pub async fn run(config: &SourceConfig, shutdown: Arc<AtomicBool>, metrics: Arc<SourceMetrics>) -> Result<()> {
    let mysql = MysqlConnector::new(&config.mysql)?;
    let retry = RetryPolicy {
        retries: metrics.retries.clone(),
        shutdown: shutdown.clone(),
    };
    // A server that is down (or restarting) is waited for; one that refuses us is an error now.
    let connect = || async {
        retry
            .run(&format!("connecting to MySQL at {}", mysql.endpoint()), || mysql.connect(), |e| e.is_transient())
            .await
            .map_err(Gave::into_inner)
    };
    let facts = check_server(&mut connect().await?, config.capture.server_id).await?;
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
    let mut codecs = Codecs::new(config.capture.clone(), registry, retry.clone());

    // The broker's topics: to find an offsets topic of the old default name,
    // and what the source's topics already hold.
    let metadata = {
        let producer = producer.clone();
        tokio::task::spawn_blocking(move || producer.client().fetch_metadata(None, Duration::from_secs(30))).await??
    };
    let all_topics: Vec<String> = metadata.topics().iter().map(|t| t.name().to_string()).collect();
    let max_record_bytes = match config.capture.max_record_bytes {
        Some(bytes) => bytes,
        None => {
            let broker = metadata.brokers().first().map_or(0, |b| b.id());
            let asked = shared::kafka::broker_max_message_bytes(&config.kafka, context.clone(), broker).await;
            tracing::info!(broker_says = ?asked, "largest record the source sends: the broker's message.max.bytes");
            asked.unwrap_or(shared::kafka::DEFAULT_MAX_MESSAGE_BYTES)
        }
    };
    let (offsets, offsets_topic) = offset_store(config, &context, &producer, &all_topics).await?;
    let stored = offsets.load().await?;
    // Not the whole record: an incremental snapshot's keys are row values.
    tracing::info!(
        store = %offsets.describe(),
        position = ?stored.as_ref().map(|s| s.position.to_string()),
        gtid_set = ?stored.as_ref().and_then(|s| s.gtid_set.as_deref()),
        snapshot_done = ?stored.as_ref().map(|s| s.snapshot_done),
        "offsets loaded"
    );

    // What the source's topics already hold.
    let prefix = format!("{}.", config.capture.topic_prefix);
    let topics: Vec<String> = all_topics
        .into_iter()
        .filter(|t| (t.starts_with(&prefix) || *t == config.capture.topic_prefix) && *t != offsets_topic)
        .collect();
    let marks = recovery::last_written(&config.kafka, context.clone(), topics, config.offsets.readback_until).await?;
    tracing::info!(partitions = marks.len(), "read back the last record of each partition");
    let mut emitter = Emitter::new(config, context.clone(), producer.clone(), marks, metrics.clone(), max_record_bytes)?;

    // A fresh connection (retried): the first one may have been idle through a long read-back.
    let purged = match &stored {
        Some(o) if o.snapshot_done => retry
            .run(
                "checking the server's purged GTIDs",
                || async {
                    let mut conn = mysql.connect().await.map_err(ServerError::Connect)?;
                    purged_past(&mut conn, o).await.map_err(ServerError::Query)
                },
                ServerError::is_transient,
            )
            .await
            .map_err(Gave::into_inner)?,
        _ => false,
    };
    let start = match (&stored, config.snapshot.mode) {
        (Some(o), _) if o.snapshot_done && !purged => o.clone(),
        (Some(o), mode) if o.snapshot_done && mode != SnapshotMode::WhenNeeded => {
            return Err(crate::binlog::ReadError::Purged(o.position.clone()).into());
        }
        (None, SnapshotMode::NoData) => SourceOffsets::streaming_from(crate::server_sql::binlog_status(&mut connect().await?).await?, config),
        _ if config.snapshot.method == SnapshotMethod::Incremental => crate::snapshot::incremental_start(&mut connect().await?, config).await?,
        _ => {
            let taken = crate::snapshot::take(&mut connect().await?, facts.flavor, config, &mut codecs, &mut emitter, &offsets).await?;
            if config.snapshot.mode == SnapshotMode::InitialOnly {
                return Ok(());
            }
            taken
        }
    };
    let signals = match &config.capture.signal_topic {
        Some(topic) => Some(crate::signal::KafkaSignals::open(config, context.clone(), topic, start.signal_offset).await?),
        None => None,
    };
    Stream {
        config,
        mysql: &mysql,
        flavor: facts.flavor,
        codecs: &mut codecs,
        emitter: &mut emitter,
        offsets: &offsets,
        metrics: &metrics,
        retry: &retry,
        reread: Default::default(),
        incremental: crate::incremental::Incremental::new(config, metrics.clone()),
        signals,
        stored: None,
    }
    .run(start, stored, &shutdown)
    .await
}

/// MySQL: whether the server has purged transactions the stored GTID set does
/// not cover — the stored position would stream past a gap (the server was
/// restored from a backup, or another server answers at this address).
async fn purged_past(conn: &mut mysql_async::Conn, stored: &SourceOffsets) -> Result<bool, mysql_async::Error> {
    use mysql_async::prelude::Queryable;
    let Some(set) = stored.gtid_set.as_deref().filter(|_| stored.gtids().is_ok_and(|g| g.is_mysql())) else {
        return Ok(false);
    };
    let covered: Option<i64> = conn.exec_first("SELECT GTID_SUBSET(@@GLOBAL.gtid_purged, ?)", (set,)).await?;
    if covered == Some(0) {
        let purged: Option<String> = conn.query_first("SELECT @@GLOBAL.gtid_purged").await?;
        tracing::error!(
            stored = set,
            server_purged = purged.as_deref().unwrap_or(""),
            "the server has purged transactions the source has not read (its gtid_purged is not within the stored GTID set)"
        );
        return Ok(true);
    }
    Ok(false)
}

/// The configured offset store (creating the offsets topic if needed) and the topic's name.
async fn offset_store(config: &SourceConfig, context: &KafkaContext, producer: &FutureProducer<KafkaContext>, all_topics: &[String]) -> Result<(OffsetStore, String)> {
    let offsets_topic = config.offsets.topic_name(&config.capture, |t| all_topics.iter().any(|a| a == t));
    let offsets = match config.offsets.store {
        OffsetStoreKind::File => OffsetStore::File(config.offsets.file.clone()),
        OffsetStoreKind::Kafka => {
            let topic = offsets_topic.clone();
            // Only the latest record per key matters: compacted.
            let replication = config.capture.topic_replication_factor;
            ensure_topic_with(&config.kafka, context.clone(), &topic, 1, replication, &[("cleanup.policy", "compact")]).await?;
            OffsetStore::Kafka(Box::new(KafkaOffsets {
                config: config.kafka.clone(),
                context: context.clone(),
                producer: producer.clone(),
                topic,
                key: config.capture.topic_prefix.clone(),
                readback_until: config.offsets.readback_until,
            }))
        }
    };
    Ok((offsets, offsets_topic))
}

/// The offsets the source stored last (`cdc-source snapshot status`).
pub async fn stored_offsets(config: &SourceConfig) -> Result<Option<SourceOffsets>> {
    let context = KafkaContext::for_config(&config.kafka).await?;
    let producer: FutureProducer<KafkaContext> = config.kafka.client_config(ClientRole::Producer)?.create_with_context(context.clone()).context("creating the Kafka producer")?;
    let all_topics: Vec<String> = {
        let producer = producer.clone();
        let metadata = tokio::task::spawn_blocking(move || producer.client().fetch_metadata(None, Duration::from_secs(30))).await??;
        metadata.topics().iter().map(|t| t.name().to_string()).collect()
    };
    let (offsets, _) = offset_store(config, &context, &producer, &all_topics).await?;
    offsets.load().await
}
