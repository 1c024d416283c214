//! Where the source resumes: the binlog position before which every event is
//! acknowledged by the broker, plus snapshot progress.
//!
//! Guarantee: a stored offset never points past an unacknowledged event (it
//! is written from [`crate::publisher::Publisher::acknowledged`]), so resuming
//! from it loses nothing; what it re-reads is skipped by [`crate::recovery`].
//! Two stores: `kafka` (a compacted topic, the default — it lives with the
//! data) and `file` (local runs; written atomically: temp file, fsync, rename).

use crate::position::BinlogPosition;
use anyhow::{Context, Result};
use rdkafka::producer::{FutureProducer, FutureRecord};
use serde::{Deserialize, Serialize};
use shared::kafka::{KafkaConfig, KafkaContext};
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceOffsets {
    /// Resume the binlog here (the start of a transaction).
    pub position: BinlogPosition,
    /// GTID of the last transaction covered, for operators.
    #[serde(default)]
    pub gtid: Option<String>,
    /// Every GTID before `position` (MySQL: the executed set `uuid:1-N,…`;
    /// MariaDB: the GTID position), checked against the server's purged set at start.
    #[serde(default)]
    pub gtid_set: Option<String>,
    /// The initial snapshot is complete (else it is redone on start).
    pub snapshot_done: bool,
    /// Which tables were captured: a start whose `capture` lists take in
    /// more tables reads those first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capture_filter: Option<crate::config::CaptureFilter>,
    /// Tables in quarantine: their changes were skipped, so they are re-read on start.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub quarantined: Vec<Quarantined>,
    /// The incremental snapshot's progress: a restart resumes at its next chunk.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incremental: Option<std::sync::Arc<crate::incremental::SnapshotProgress>>,
    /// The next record of the signal topic (`capture.signal_topic`) to act on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal_offset: Option<i64>,
}

/// A table whose changes are skipped, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quarantined {
    pub database: String,
    pub table: String,
    pub reason: String,
}

impl SourceOffsets {
    /// Offsets that stream from `at` (a snapshot point or the server's
    /// current position) with the capture lists of `config`.
    pub fn streaming_from(at: crate::server_sql::BinlogStatus, config: &crate::config::SourceConfig) -> Self {
        SourceOffsets {
            position: at.position,
            gtid: None,
            gtid_set: at.gtid_set,
            snapshot_done: true,
            quarantined: Default::default(),
            capture_filter: Some(config.capture.filter()),
            incremental: None,
            signal_offset: None,
        }
    }

    /// The stored GTID set (empty when none was stored).
    pub fn gtids(&self) -> Result<crate::gtid::GtidSet, String> {
        self.gtid_set.as_deref().map_or(Ok(Default::default()), crate::gtid::GtidSet::parse).map_err(|e| format!("stored offsets: {e}"))
    }
}

pub enum OffsetStore {
    File(PathBuf),
    Kafka(Box<KafkaOffsets>),
}

/// The `kafka` store: records keyed by the source (its topic prefix) on
/// partition 0; sources with different prefixes can share one topic.
pub struct KafkaOffsets {
    pub config: KafkaConfig,
    pub context: KafkaContext,
    pub producer: FutureProducer<KafkaContext>,
    pub topic: String,
    pub key: String,
    pub readback_until: crate::config::ReadbackUntil,
}

impl OffsetStore {
    pub async fn load(&self) -> Result<Option<SourceOffsets>> {
        let bytes = match self {
            OffsetStore::File(path) => match std::fs::read(path) {
                Ok(bytes) => Some(bytes),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
                Err(e) => return Err(e).with_context(|| format!("reading offsets from {}", path.display())),
            },
            OffsetStore::Kafka(k) => crate::recovery::last_value(&k.config, k.context.clone(), k.topic.clone(), k.key.clone(), k.readback_until).await?,
        };
        bytes
            .map(|b| serde_json::from_slice(&b).context("stored offsets are not valid JSON; inspect or delete them to start over"))
            .transpose()
    }

    pub async fn store(&self, offsets: &SourceOffsets) -> Result<()> {
        let json = serde_json::to_vec(offsets)?;
        match self {
            OffsetStore::File(path) => {
                let temp = path.with_extension("tmp");
                {
                    use std::io::Write;
                    let mut file = std::fs::File::create(&temp).with_context(|| format!("writing {}", temp.display()))?;
                    file.write_all(&json)?;
                    file.sync_all()?;
                }
                std::fs::rename(&temp, path).with_context(|| format!("replacing {}", path.display()))?;
            }
            OffsetStore::Kafka(k) => {
                k.producer
                    .send(FutureRecord::to(&k.topic).partition(0).key(k.key.as_str()).payload(&json), Duration::from_secs(30))
                    .await
                    .map_err(|(e, _)| anyhow::anyhow!("storing offsets in {}: {e}", k.topic))?;
            }
        }
        Ok(())
    }

    pub fn describe(&self) -> String {
        match self {
            OffsetStore::File(path) => format!("file {}", path.display()),
            OffsetStore::Kafka(k) => format!("topic {}", k.topic),
        }
    }
}
