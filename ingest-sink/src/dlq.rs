//! The dead-letter queue: a record that cannot be decoded or converted is
//! written, with its original key and value bytes, to the DLQ topic, with
//! headers saying why and where it came from. The send is awaited (acknowledged
//! by the broker) before the batch is marked done, so nothing is dropped
//! silently; after a crash a dead letter may be written twice (at-least-once).
//!
//! Headers: `ingest.error.kind` (`decode`, `convert`, `unrecoverable-batch`),
//! `ingest.error.reason` (at most [`MAX_REASON_BYTES`]), `ingest.source.topic`,
//! `ingest.source.partition`, `ingest.source.offset`, `ingest.source.timestamp` (ms).
//!
//! A send is retried only for a retriable broker error ([`is_transient`]); any
//! other error stops the partition (the caller's), so a DLQ that cannot be
//! written never loops and never lets a record go.

use crate::batch::Record;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use shared::kafka::{ClientRole, KafkaConfig, KafkaContext};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// The longest reason header: a reason quoting a huge value is cut here, marked.
pub const MAX_REASON_BYTES: usize = 1024;

/// `reason` cut to [`MAX_REASON_BYTES`] (on a character boundary), marked when cut.
pub fn bounded_reason(reason: &str) -> std::borrow::Cow<'_, str> {
    if reason.len() <= MAX_REASON_BYTES {
        return reason.into();
    }
    let mut end = MAX_REASON_BYTES;
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… (cut: {} bytes in all)", &reason[..end], reason.len()).into()
}

/// Whether a failed dead-letter send is worth retrying: the broker or the
/// network is briefly unable, not refusing this record or topic for good.
pub fn is_transient(e: &rdkafka::error::KafkaError) -> bool {
    use rdkafka::types::RDKafkaErrorCode::*;
    match e.rdkafka_error_code() {
        Some(
            QueueFull | MessageTimedOut | RequestTimedOut | NetworkException | NotEnoughReplicas | NotEnoughReplicasAfterAppend
            | LeaderNotAvailable | NotLeaderForPartition | BrokerTransportFailure | AllBrokersDown | OperationTimedOut
            | BrokerNotAvailable | NotCoordinator | KafkaStorageError | ReplicaNotAvailable,
        ) => true,
        Some(_) => false,
        // Not a broker answer (the client shut down, …): try again.
        None => true,
    }
}

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

    /// Creates the DLQ topic unless it exists: `partitions`, and `replication`
    /// or, unset, as many replicas as the cluster has brokers, up to 3 (so an
    /// `acks=all` send meets MSK's `min.insync.replicas = 2`).
    pub async fn ensure_topic(&self, kafka: &KafkaConfig, context: KafkaContext, partitions: i32, replication: Option<i32>) -> anyhow::Result<()> {
        use rdkafka::producer::Producer;
        let replication = match replication {
            Some(r) => r,
            None => {
                let producer = self.producer.clone();
                let brokers = tokio::task::spawn_blocking(move || producer.client().fetch_metadata(None, Duration::from_secs(30)))
                    .await??
                    .brokers()
                    .len();
                (brokers as i32).clamp(1, 3)
            }
        };
        shared::kafka::ensure_topic(kafka, context, &self.topic, partitions, replication).await?;
        Ok(())
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
        let reason = bounded_reason(reason);
        let headers = [
            ("ingest.error.kind", kind.as_str()),
            ("ingest.error.reason", reason.as_ref()),
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

#[cfg(test)]
mod tests {
    use super::*;
    use rdkafka::error::KafkaError;
    use rdkafka::types::RDKafkaErrorCode;

    #[test]
    fn reasons_are_bounded_and_only_passing_failures_retried() {
        assert_eq!(bounded_reason("short"), "short");
        let long = "é".repeat(2_000);
        let cut = bounded_reason(&long);
        assert!(cut.len() < MAX_REASON_BYTES + 64 && cut.ends_with("(cut: 4000 bytes in all)"), "{cut}");
        assert!(is_transient(&KafkaError::MessageProduction(RDKafkaErrorCode::NotEnoughReplicas)));
        assert!(is_transient(&KafkaError::MessageProduction(RDKafkaErrorCode::MessageTimedOut)));
        assert!(!is_transient(&KafkaError::MessageProduction(RDKafkaErrorCode::MessageSizeTooLarge)));
        assert!(!is_transient(&KafkaError::MessageProduction(RDKafkaErrorCode::TopicAuthorizationFailed)));
    }
}
