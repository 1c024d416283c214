//! Producing change records, in binlog order, and knowing how far the broker
//! has acknowledged them.
//!
//! Guarantees: records go out through one idempotent producer, so each
//! partition receives a gap-free prefix of what was sent to it, in order;
//! every record carries its source position in the `cdc.position` header
//! (`file:pos:row`, `:t` for a tombstone, `:k` for the new key of a key change) and its row version in
//! `cdc.version`; [`Publisher::acknowledged`] only moves past a commit mark
//! once every record before the mark is acknowledged, so an offset stored
//! from it never skips an unacknowledged event. A failed delivery stops the
//! source (it restarts from the stored offset and skips what Kafka already has).

use crate::offsets::SourceOffsets;
use anyhow::{Context, Result, bail};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ThreadedProducer};
use rdkafka::types::RDKafkaErrorCode;
use shared::kafka::{ClientRole, DeliveryListener, KafkaConfig, KafkaContext};
use std::collections::{BTreeSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Header names on every record.
pub const POSITION_HEADER: &str = "cdc.position";
pub const VERSION_HEADER: &str = shared::row_version::HEADER;

/// Records waiting for acknowledgement before the source blocks.
const MAX_IN_FLIGHT: usize = 100_000;

/// Where a record came from: its header value and its place in the total order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RecordOrder {
    pub version: u64,
    pub step: Step,
}

/// The records one row change can make, in the order they are sent. A change
/// of primary key makes three (Debezium's delete of the old key, its
/// tombstone, the create of the new key), all at the row's position.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Step {
    /// The change (for a key change: the delete of the old key). Position suffix: none.
    Change,
    /// The tombstone after a delete. Position suffix `:t`.
    Tombstone,
    /// The create of the new key after a key change. Position suffix `:k`.
    NewKey,
}

impl Step {
    fn suffix(self) -> &'static str {
        match self {
            Step::Change => "",
            Step::Tombstone => ":t",
            Step::NewKey => ":k",
        }
    }
}

impl RecordOrder {
    /// A change at `version` (`Step::Change`).
    pub fn change(version: u64) -> Self {
        Self { version, step: Step::Change }
    }

    /// The `cdc.position` header of this record of the row at `file:pos:row`.
    pub fn position(self, row_position: &str) -> String {
        format!("{row_position}{}", self.step.suffix())
    }
}

pub struct OutgoingRecord<'a> {
    pub topic: &'a str,
    pub partition: i32,
    pub key: Option<&'a [u8]>,
    pub value: Option<&'a [u8]>,
    pub position: &'a str,
    pub version: i64,
    /// More headers (Debezium's `__debezium.oldkey` / `__debezium.newkey`).
    pub extra_headers: &'a [(&'a str, &'a str)],
}

/// Delivery reports, by record sequence number (the record's opaque).
#[derive(Default)]
pub struct Acknowledgements {
    in_flight: Mutex<BTreeSet<u64>>,
    failure: Mutex<Option<String>>,
    progress: tokio::sync::Notify,
}

impl DeliveryListener for Acknowledgements {
    fn on_delivery(&self, result: &DeliveryResult<'_>, opaque: usize) {
        if let Err((e, _)) = result {
            self.failure.lock().expect("lock").get_or_insert_with(|| e.to_string());
        }
        self.in_flight.lock().expect("lock").remove(&(opaque as u64));
        self.progress.notify_one();
    }
}

impl Acknowledgements {
    /// Everything sent before sequence number `before` is acknowledged.
    fn covers(&self, before: u64) -> bool {
        self.in_flight.lock().expect("lock").first().is_none_or(|&oldest| oldest >= before)
    }
}

pub struct Publisher {
    producer: ThreadedProducer<KafkaContext>,
    acks: Arc<Acknowledgements>,
    /// (records sent before the mark, resume position, GTID)
    marks: VecDeque<(u64, SourceOffsets)>,
    acknowledged: Option<SourceOffsets>,
    sent: u64,
}

impl Publisher {
    /// An idempotent (`acks=all`) producer of change records up to
    /// `max_record_bytes` each (the broker's limit).
    pub fn create(kafka: &KafkaConfig, context: KafkaContext, max_record_bytes: usize) -> Result<Self> {
        let acks = Arc::new(Acknowledgements::default());
        let mut config = kafka.client_config(ClientRole::Producer)?;
        config.set("enable.idempotence", "true").set("acks", "all");
        if config.get("message.max.bytes").is_none() {
            config.set("message.max.bytes", max_record_bytes.to_string());
        }
        let producer = config
            .create_with_context(context.with_delivery_listener(acks.clone()))
            .context("creating the Kafka producer")?;
        Ok(Self {
            producer,
            acks,
            marks: VecDeque::new(),
            acknowledged: None,
            sent: 0,
        })
    }

    pub async fn send(&mut self, record: OutgoingRecord<'_>) -> Result<()> {
        let version = record.version.to_string();
        let mut headers = OwnedHeaders::new_with_capacity(2 + record.extra_headers.len())
            .insert(Header {
                key: POSITION_HEADER,
                value: Some(record.position),
            })
            .insert(Header {
                key: VERSION_HEADER,
                value: Some(&version),
            });
        for (key, value) in record.extra_headers {
            headers = headers.insert(Header { key, value: Some(*value) });
        }
        let sequence = self.sent;
        let mut base: BaseRecord<'_, [u8], [u8], usize> = BaseRecord::with_opaque_to(record.topic, sequence as usize)
            .partition(record.partition)
            .headers(headers);
        if let Some(key) = record.key {
            base = base.key(key);
        }
        if let Some(value) = record.value {
            base = base.payload(value);
        }
        self.acks.in_flight.lock().expect("lock").insert(sequence);
        loop {
            match self.producer.send(base) {
                Ok(()) => break,
                Err((e, returned)) if e.rdkafka_error_code() == Some(RDKafkaErrorCode::QueueFull) => {
                    base = returned;
                    self.wait_for_progress().await?;
                }
                Err((e, _)) => {
                    self.acks.in_flight.lock().expect("lock").remove(&sequence);
                    bail!("cannot queue a record for {}: {e}", record.topic);
                }
            }
        }
        self.sent += 1;
        while self.acks.in_flight.lock().expect("lock").len() >= MAX_IN_FLIGHT {
            self.wait_for_progress().await?;
        }
        Ok(())
    }

    async fn wait_for_progress(&self) -> Result<()> {
        self.check()?;
        let _ = tokio::time::timeout(Duration::from_millis(50), self.acks.progress.notified()).await;
        self.check()
    }

    fn check(&self) -> Result<()> {
        if let Some(e) = self.acks.failure.lock().expect("lock").as_ref() {
            bail!("the broker refused a change record: {e}; the source stops and will resume from its last stored offset");
        }
        Ok(())
    }

    /// A transaction ended: once all records so far are acknowledged, `offsets` (its end) are safe to resume from.
    pub fn mark(&mut self, offsets: SourceOffsets) {
        self.marks.push_back((self.sent, offsets));
    }

    /// Moves the acknowledged position past every mark whose records are all acknowledged.
    pub fn settle(&mut self) -> Result<()> {
        self.check()?;
        while let Some((before, _)) = self.marks.front() {
            if !self.acks.covers(*before) {
                break;
            }
            let (_, offsets) = self.marks.pop_front().expect("front exists");
            self.acknowledged = Some(offsets);
        }
        Ok(())
    }

    /// Waits until everything sent is acknowledged (or `timeout`).
    pub async fn flush(&mut self, timeout: Duration) -> Result<()> {
        let deadline = tokio::time::Instant::now() + timeout;
        while !self.acks.covers(self.sent) {
            if tokio::time::Instant::now() > deadline {
                bail!("{} records still unacknowledged after {timeout:?}", self.in_flight());
            }
            self.wait_for_progress().await?;
        }
        let _ = self.producer.flush(Duration::from_secs(1));
        self.settle()
    }

    /// The latest position before which every record is acknowledged.
    pub fn acknowledged(&self) -> Option<&SourceOffsets> {
        self.acknowledged.as_ref()
    }

    pub fn in_flight(&self) -> usize {
        self.acks.in_flight.lock().expect("lock").len()
    }

    pub fn sent(&self) -> u64 {
        self.sent
    }
}

/// Kafka's default partitioner for keyed records (Java client's `murmur2`), so
/// the source knows which partition each key lands in.
pub fn partition_for(key: &[u8], partitions: i32) -> i32 {
    ((murmur2(key) & 0x7fff_ffff) % partitions as u32) as i32
}

fn murmur2(data: &[u8]) -> u32 {
    const SEED: u32 = 0x9747_b28c;
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;
    let mut h = SEED ^ data.len() as u32;
    let chunks = data.chunks_exact(4);
    let tail = chunks.remainder();
    for chunk in chunks {
        let mut k = u32::from_le_bytes(chunk.try_into().expect("4 bytes"));
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    match tail.len() {
        3 => {
            h ^= u32::from(tail[2]) << 16;
            h ^= u32::from(tail[1]) << 8;
            h ^= u32::from(tail[0]);
            h = h.wrapping_mul(M);
        }
        2 => {
            h ^= u32::from(tail[1]) << 8;
            h ^= u32::from(tail[0]);
            h = h.wrapping_mul(M);
        }
        1 => {
            h ^= u32::from(tail[0]);
            h = h.wrapping_mul(M);
        }
        _ => {}
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h
}

/// `cdc.position` header text → its order (`None`: not ours).
pub fn parse_position(text: &str) -> Option<RecordOrder> {
    let (text, step) = match (text.strip_suffix(":t"), text.strip_suffix(":k")) {
        (Some(t), _) => (t, Step::Tombstone),
        (_, Some(t)) => (t, Step::NewKey),
        _ => (text, Step::Change),
    };
    let (rest, row) = text.rsplit_once(':')?;
    let (file, pos) = rest.rsplit_once(':')?;
    let version = crate::position::RowVersion::of(file, pos.parse().ok()?, row.parse().ok()?).ok()?;
    Some(RecordOrder { version: version.0, step })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn murmur2_matches_kafkas_java_client() {
        // Vectors from Kafka's UtilsTest.
        assert_eq!(murmur2(b"21") as i32, -973_932_308);
        assert_eq!(murmur2(b"foobar") as i32, -790_332_482);
        assert_eq!(murmur2(b"a-little-bit-long-string") as i32, -985_981_536);
        assert_eq!(murmur2(b"a-little-bit-longer-string") as i32, -1_486_304_829);
        assert_eq!(murmur2(b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8") as i32, -58_897_971);
        assert_eq!(murmur2(b"abc") as i32, 479_470_107);
    }

    #[test]
    fn positions_parse_in_order() {
        let a = parse_position("bin.000001:400:0").unwrap();
        let b = parse_position("bin.000001:400:0:t").unwrap();
        let k = parse_position("bin.000001:400:0:k").unwrap();
        let c = parse_position("bin.000001:400:1").unwrap();
        assert!(a < b && b < k && k < c);
        assert_eq!(k.position("bin.000001:400:0"), "bin.000001:400:0:k");
        assert_eq!(parse_position("nonsense"), None);
    }
}
