//! The dead-letter queue: a record that cannot be decoded or converted is
//! written, with its original key and value bytes, to the DLQ topic, with
//! headers saying why and where it came from. The send is awaited (acknowledged
//! by the broker) before the batch is marked done, so nothing is dropped
//! silently; after a crash a dead letter may be written twice (at-least-once).
//!
//! Headers: `ingest.error.kind` (`decode`, `convert`, `unrecoverable-batch`),
//! `ingest.error.reason`, `ingest.source.topic`, `ingest.source.partition`,
//! `ingest.source.offset`, `ingest.source.timestamp` (ms).

use crate::batch::Record;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use shared::kafka::{ClientRole, KafkaConfig, KafkaContext};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

pub struct DeadLetterQueue {
    producer: FutureProducer<KafkaContext>,
    topic: String,
    sent: AtomicU64,
}

/// Why a record is dead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeadKind {
    Decode,
    Convert,
    UnrecoverableBatch,
}

impl DeadKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DeadKind::Decode => "decode",
            DeadKind::Convert => "convert",
            DeadKind::UnrecoverableBatch => "unrecoverable-batch",
        }
    }
}

impl DeadLetterQueue {
    pub fn new(kafka: &KafkaConfig, context: KafkaContext, topic: &str) -> anyhow::Result<Self> {
        let producer = kafka.client_config(ClientRole::Producer)?.create_with_context(context)?;
        Ok(Self {
            producer,
            topic: topic.to_string(),
            sent: AtomicU64::new(0),
        })
    }

    pub fn topic(&self) -> &str {
        &self.topic
    }

    pub fn sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }

    /// Writes one dead letter and waits for the broker's acknowledgement.
    pub async fn send(
        &self,
        source_topic: &str,
        partition: i32,
        record: &Record,
        kind: DeadKind,
        reason: &str,
    ) -> Result<(), rdkafka::error::KafkaError> {
        let partition_text = partition.to_string();
        let offset_text = record.offset.to_string();
        let timestamp_text = record.timestamp_ms.to_string();
        let headers = [
            ("ingest.error.kind", kind.as_str()),
            ("ingest.error.reason", reason),
            ("ingest.source.topic", source_topic),
            ("ingest.source.partition", &partition_text),
            ("ingest.source.offset", &offset_text),
            ("ingest.source.timestamp", &timestamp_text),
        ]
        .into_iter()
        .fold(OwnedHeaders::new(), |h, (key, value)| h.insert(Header { key, value: Some(value) }));
        let mut out = FutureRecord::to(&self.topic).headers(headers);
        if let Some(key) = &record.key {
            out = out.key(key);
        }
        if let Some(payload) = &record.payload {
            out = out.payload(payload);
        }
        self.producer
            .send(out, Duration::from_secs(30))
            .await
            .map_err(|(e, _)| e)?;
        self.sent.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(topic = source_topic, partition, offset = record.offset, kind = kind.as_str(), "record sent to the dead-letter queue: {reason}");
        Ok(())
    }
}
